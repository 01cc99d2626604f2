//! `mssp-token refresh`: redeem a saved refresh token, rotate the file, explain a dead token.

use crate::support::{bin, browser_log, claims, run, Sandbox};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

fn login_saved(sb: &Sandbox, dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let file = dir.join("contoso.json");
    let out = run(sb
        .login(&dir.join("browser.log"), extra)
        .arg("--save")
        .arg(&file)
        .args(["-o", "raw"]));
    assert_eq!(
        out.code,
        0,
        "{}\n{:?}",
        out.stderr,
        browser_log(&dir.join("browser.log"))
    );
    file
}

fn refresh(sb: &Sandbox, file: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("refresh")
        .arg("--from")
        .arg(file)
        .arg("--authority")
        .arg(sb.authority())
        .args(extra)
        .env(
            "AZURE_CLIENT_SECRET",
            sb.app()["client_secret"].as_str().unwrap(),
        )
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::null());
    c
}

fn read(file: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

#[test]
fn refresh_rotates_the_saved_file_and_the_old_token_dies() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let before = read(&file);
    let old_copy = dir.path().join("old.json");
    std::fs::copy(&file, &old_copy).unwrap();

    let out = run(&mut refresh(&sb, &file, &["-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = read(&file);
    let printed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(printed["refresh_token"], after["refresh_token"]);
    assert_ne!(before["refresh_token"], after["refresh_token"], "rotated");
    assert_eq!(after["tenant_id"], before["tenant_id"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // The rotated-out refresh token no longer works: exit 3 and the login command to run.
    let out = run(&mut refresh(&sb, &old_copy, &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS70008"), "{}", out.stderr);
    assert!(
        out.stderr.contains("mssp-token login --tenant"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(old_copy.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_v1_refresh_token_is_redeemed_for_another_resource() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let out = run(&mut refresh(
        &sb,
        &file,
        &[
            "--resource",
            "https://api.security.microsoft.com",
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["resource"], "https://api.security.microsoft.com");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["aud"],
        "https://api.security.microsoft.com"
    );
}

#[test]
fn a_v2_file_refreshes_on_v2() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(
        &sb,
        dir.path(),
        &[
            "--scope",
            "https://api.securitycenter.microsoft.com/Alert.Read",
        ],
    );
    let out = run(&mut refresh(&sb, &file, &["-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["endpoint"], "v2");
    assert!(v["refresh_token"].is_string());
}

#[test]
fn revoked_sessions_say_sign_in_again() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let tenant = read(&file)["tenant_id"].as_str().unwrap().to_string();
    let status = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("{}/sandbox/revoke-sessions", sb.authority()))
        .arg("--data-urlencode")
        .arg(format!("tenant={tenant}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
    let out = run(&mut refresh(&sb, &file, &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS50173"), "{}", out.stderr);
    assert!(out.stderr.contains("sign in again"), "{}", out.stderr);
}

#[test]
fn bad_token_files_are_named() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, i32, &str); 4] = [
        ("garbage.json", "not json at all", 2, "not valid JSON"),
        (
            "no-rt.json",
            r#"{"token_type":"Bearer","access_token":"a","expires_in":1,"expires_on":1,"expires_at":"x","tenant_id":"9ed38d36-d1a6-4200-9985-86bb0271d957","client_id":"b64a329e-a098-404b-99fd-26066cccda7e","resource":"https://x","endpoint":"v1"}"#,
            2,
            "holds no refresh_token",
        ),
        (
            "missing.json",
            r#"{"token_type":"Bearer"}"#,
            2,
            "missing field",
        ),
        ("empty.json", "", 2, "not valid JSON"),
    ];
    for (name, content, code, needle) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        let out = run(&mut refresh(&sb, &f, &[]));
        assert_eq!(out.code, code, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
    }
    let out = run(&mut refresh(&sb, &dir.path().join("absent.json"), &[]));
    assert_eq!(out.code, 7, "{}", out.stderr);
}
