//! `mssp-token login` end to end: the real binary against the sandbox (started in the test
//! process) over HTTP on 127.0.0.1, with a browser stand-in started through $BROWSER.

use crate::support::{self, browser_log, claims, run, step, Sandbox};
use serde_json::Value;
use std::io::Write;
use std::process::Stdio;

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[test]
fn v1_login_prints_the_seed_layout_with_a_token_for_the_tenant() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(&mut sb.login(&log, &[]));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "---- TOKEN ----");
    assert_eq!(lines[2], "---- REFRESH TOKEN ----");
    assert!(!lines[3].is_empty());
    assert_eq!(lines[4], "---- EXPIRES ----");
    let tenant = sb.tenant(true);
    let c = claims(lines[1]);
    assert_eq!(c["tid"], tenant["id"]);
    assert_eq!(c["aud"], "https://api.securitycenter.microsoft.com");
    assert_eq!(c["ver"], "1.0");
    // The URL is always printed, and the next step of the seed is named.
    assert!(out.stderr.contains("/oauth2/authorize?"), "{}", out.stderr);
    assert!(out.stderr.contains(&format!(
        "https://security.microsoft.com/?tid={}",
        tenant["id"].as_str().unwrap()
    )));
    // The browser saw our success page.
    let log = browser_log(&log);
    let landed = step(&log, "landed").expect("browser landed on the listener");
    assert_eq!(landed["status"], 200);
    assert!(landed["text"]
        .as_str()
        .unwrap()
        .contains("You can close this tab"));
    // The authorize request carried PKCE S256, a state, the resource and select_account.
    let opened = step(&log, "open").unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    for p in [
        "code_challenge_method=S256",
        "state=",
        "prompt=select_account",
        "resource=https%3A%2F%2Fapi.securitycenter.microsoft.com",
        "redirect_uri=http%3A%2F%2Flocalhost%3A",
    ] {
        assert!(opened.contains(p), "{p} missing in {opened}");
    }
}

#[test]
fn v2_login_returns_json_with_a_refresh_token() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(&mut sb.login(
        &log,
        &[
            "--scope",
            "https://api.securitycenter.microsoft.com/Alert.Read",
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("one JSON object");
    assert_eq!(v["endpoint"], "v2");
    assert_eq!(v["token_type"], "Bearer");
    assert!(v["refresh_token"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(v["id_token"].as_str().is_some());
    assert!(v["expires_in"].is_u64());
    assert!(v["expires_on"].is_u64());
    assert!(v["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(v["scope"].as_str().unwrap().contains("offline_access"));
    assert_eq!(v["tenant_id"], sb.tenant(true)["id"]);
    assert_eq!(v["client_id"], sb.app()["client_id"]);
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["tid"], sb.tenant(true)["id"]);
    let opened = step(&browser_log(&log), "open").unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(opened.contains("/oauth2/v2.0/authorize?"), "{opened}");
    assert!(opened.contains("offline_access"), "{opened}");
}

#[test]
fn save_writes_the_json_object_with_mode_0600() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let file = dir.path().join("contoso.json");
    let out = run(sb.login(&log, &["-o", "raw"]).arg("--save").arg(&file));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(saved["access_token"].as_str().unwrap(), out.stdout.trim());
    assert!(saved["refresh_token"].as_str().is_some());
    assert_eq!(saved["endpoint"], "v1");
    assert_eq!(
        saved["resource"],
        "https://api.securitycenter.microsoft.com"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn paste_mode_accepts_the_address_the_browser_landed_on() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let mut child = sb
        .login(
            &log,
            &[
                "--redirect-uri",
                "https://mssp.example.com/SiemMsspConnector",
                "-o",
                "json",
            ],
        )
        .env("FAKE_BROWSER_ACTION", "no-follow")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the browser to reach the page that does not load, then paste its address.
    let mut landed = None;
    for _ in 0..200 {
        if let Some(s) = step(&browser_log(&log), "would-land") {
            landed = Some(s["url"].as_str().unwrap().to_string());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let landed = landed.expect("the browser stand-in reached the redirect");
    assert!(landed.starts_with("https://mssp.example.com/SiemMsspConnector?code="));
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "not an address at all").unwrap();
    writeln!(stdin, "{landed}").unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("paste it here"), "{stderr}");
    assert!(stderr.contains("the pasted text was refused"), "{stderr}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tenant_id"], sb.tenant(true)["id"]);
}

#[test]
fn paste_mode_refuses_another_state() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let mut child = sb
        .login(
            &log,
            &[
                "--redirect-uri",
                "https://mssp.example.com/SiemMsspConnector",
                "--wait",
                "5",
            ],
        )
        .env("FAKE_BROWSER_ACTION", "none")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    writeln!(
        stdin,
        "https://mssp.example.com/SiemMsspConnector?code=abc&state=not-ours"
    )
    .unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "stderr:\n{stderr}");
    assert!(
        stderr.contains("state= is not the one this sign-in sent"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn user_cancel_exits_4_with_the_reason() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(sb.login(&log, &[]).env("FAKE_BROWSER_ACTION", "cancel"));
    assert_eq!(out.code, 4, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("AADSTS65004"), "{}", out.stderr);
    assert!(out.stderr.contains("trace ID"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
    let landed = step(&browser_log(&log), "landed").cloned().unwrap();
    assert!(landed["text"].as_str().unwrap().contains("Sign-in failed"));
}

#[test]
fn a_redirect_with_a_forged_state_is_refused_and_the_flow_goes_on() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(sb
        .login(&log, &[])
        .env("FAKE_BROWSER_ACTION", "wrong-state-first"));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let log = browser_log(&log);
    let forged = step(&log, "forged").unwrap();
    assert_eq!(forged["status"], 400);
    assert!(forged["text"].as_str().unwrap().contains("still waiting"));
    assert_eq!(step(&log, "landed").unwrap()["status"], 200);
    assert!(out.stderr.contains("refused a redirect"), "{}", out.stderr);
}

#[test]
fn no_sign_in_within_wait_exits_4() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let started = std::time::Instant::now();
    let out = run(sb
        .login(&log, &["--wait", "2"])
        .env("FAKE_BROWSER_ACTION", "none"));
    assert_eq!(out.code, 4, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("no sign-in came back within 2 s"),
        "{}",
        out.stderr
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
}

#[test]
fn wrong_secret_is_explained() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(sb
        .login(&log, &[])
        .env("AZURE_CLIENT_SECRET", "definitely-not-the-secret"));
    assert_eq!(out.code, 3, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("AADSTS7000215 (invalid_client)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not its secret ID"), "{}", out.stderr);
    assert!(out.stderr.contains("correlation ID"), "{}", out.stderr);
    assert!(!out.stderr.contains("definitely-not-the-secret"));
    assert!(out.stdout.is_empty());
}

#[test]
fn expired_secret_is_explained() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let app = sb.expired_app();
    let out = run(sb
        .login(&log, &["--client-id", app["client_id"].as_str().unwrap()])
        .env(
            "AZURE_CLIENT_SECRET",
            app["client_secret"].as_str().unwrap(),
        ));
    assert_eq!(out.code, 3, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("AADSTS7000222"), "{}", out.stderr);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
}

#[test]
fn an_app_unknown_in_the_tenant_shows_700016_in_the_browser_and_times_out() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(&mut sb.login(
        &log,
        &[
            "--client-id",
            "0badc0de-0000-4000-8000-000000000000",
            "--wait",
            "3",
        ],
    ));
    assert_eq!(out.code, 4, "stderr:\n{}", out.stderr);
    let page = step(&browser_log(&log), "signin-page").cloned().unwrap();
    assert!(
        page["text"].as_str().unwrap().contains("AADSTS700016"),
        "{page}"
    );
}

#[test]
fn an_unregistered_redirect_uri_shows_50011_and_names_the_uri_to_register() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let out = run(&mut sb.login(
        &log,
        &[
            "--redirect-uri",
            "http://localhost/NotRegistered",
            "--wait",
            "3",
        ],
    ));
    assert_eq!(out.code, 4, "stderr:\n{}", out.stderr);
    let page = step(&browser_log(&log), "signin-page").cloned().unwrap();
    assert!(
        page["text"].as_str().unwrap().contains("AADSTS50011"),
        "{page}"
    );
    assert!(
        out.stderr
            .contains("register exactly http://localhost/NotRegistered"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_token_from_another_customer_is_refused_and_nothing_is_saved() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let file = dir.path().join("contoso.json");
    let other = sb.other_tenant();
    let account = other["users"][0].as_str().unwrap();
    let out = run(sb
        .login(&log, &[])
        .arg("--save")
        .arg(&file)
        .env("FAKE_BROWSER_ACCOUNT", account));
    assert_eq!(out.code, 5, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("wrong customer"), "{}", out.stderr);
    assert!(
        out.stderr.contains(other["id"].as_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    assert!(!file.exists());
}

#[test]
fn a_port_in_use_is_a_usage_error() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = run(&mut sb.login(&log, &["--port", &port]));
    assert_eq!(out.code, 2, "stderr:\n{}", out.stderr);
    assert!(out.stderr.contains("already in use"), "{}", out.stderr);
    assert!(browser_log(&log).is_empty(), "the browser must not open");
}

#[test]
fn a_fixed_port_is_used_for_the_redirect_uri() {
    let sb = Sandbox::start();
    let dir = tmp();
    let log = dir.path().join("browser.log");
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let out = run(&mut sb.login(&log, &["--port", &port.to_string()]));
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    let opened = step(&browser_log(&log), "open").unwrap()["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        opened.contains(&format!("localhost%3A{port}%2FSiemMsspConnector")),
        "{opened}"
    );
}

#[test]
fn login_sandbox_runs_the_whole_flow_in_process() {
    let dir = tmp();
    let mut cmd = std::process::Command::new(support::bin());
    cmd.args(["login", "--sandbox", "-o", "json"])
        .env_remove("BROWSER")
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .current_dir(dir.path())
        .stdin(Stdio::null());
    let out = run(&mut cmd);
    assert_eq!(out.code, 0, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains("simulated user signed in as"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("valid nowhere else"), "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(v["refresh_token"].is_string());
}
