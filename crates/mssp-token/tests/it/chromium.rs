//! A real browser: headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core)
//! goes through the sandbox's sign-in page, presses Accept, and lands on our listener's
//! success page; and the device code page: Chromium types the code `login --device-code` printed
//! and accepts. `.ci/run` installs chromium and the npm package; without them these tests fail.

use crate::support::{run, Sandbox};
use serde_json::Value;
use std::path::Path;

#[test]
fn headless_chromium_signs_in_through_the_sandbox_page() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let script = root.join("tests/browser/signin.js");
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "run `npm ci --prefix tests/browser` first (.ci/run does)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var_os("CHROMIUM_PATH").is_some(),
        "install Chromium first (apt-get install chromium; .ci/run does)"
    );
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("chromium.json");
    let out = run(sb
        .login(
            &dir.path().join("unused.log"),
            &["-o", "json", "--wait", "60"],
        )
        .arg("--browser-command")
        .arg(format!("node {}", script.display()))
        .env("CHROMIUM_LOG", &log));
    // The browser writes what it saw as it closes, which may be just after mssp-token exits.
    let mut seen = Value::Null;
    for _ in 0..300 {
        if let Some(v) = std::fs::read_to_string(&log)
            .ok()
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
        {
            seen = v;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(out.code, 0, "stderr:\n{}\nbrowser:\n{seen}", out.stderr);
    assert!(seen["error"].is_null(), "browser error: {seen}");
    assert!(
        seen["signin_text"].as_str().unwrap().contains("Accept"),
        "{seen}"
    );
    assert_eq!(seen["final_title"], "Signed in — mssp-token");
    assert!(
        seen["final_text"]
            .as_str()
            .unwrap()
            .contains("mssp-token received the authorization code"),
        "{seen}"
    );
    let url = seen["final_url"].as_str().unwrap();
    assert!(url.contains("/SiemMsspConnector?code="), "{url}");
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["tenant_id"], sb.tenant(true)["id"]);
}

#[test]
fn headless_chromium_enters_the_device_code_and_signs_in() {
    use crate::device_code::{login, sandbox, Running, CONTOSO, CONTOSO_ID, PUBLIC_APP};
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .is_dir(),
        "run `npm ci --prefix tests/browser` first (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 120);
    let mut running = Running::start(login(
        &sb,
        dir.path(),
        CONTOSO,
        PUBLIC_APP,
        &["-o", "json", "--wait", "60"],
    ));
    let (url, code) = running.code();
    let log = dir.path().join("chromium.json");
    let browser = std::process::Command::new("node")
        .arg(root.join("tests/browser/devicecode.js"))
        .args([&url, &code])
        .env("CHROMIUM_LOG", &log)
        .status()
        .expect("run node");
    let seen: Value = std::fs::read_to_string(&log)
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
        .unwrap_or(Value::Null);
    let out = running.end();
    assert!(
        browser.success() && seen["error"].is_null(),
        "browser: {seen}"
    );
    assert_eq!(out.code, 0, "stderr:\n{}\nbrowser:\n{seen}", out.stderr);
    assert!(
        seen["code_text"].as_str().unwrap().contains("Enter code"),
        "{seen}"
    );
    assert!(
        seen["signin_text"].as_str().unwrap().contains("Accept"),
        "{seen}"
    );
    assert!(
        seen["final_text"]
            .as_str()
            .unwrap()
            .contains("You're signed in"),
        "{seen}"
    );
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["tenant_id"], CONTOSO_ID);
}
