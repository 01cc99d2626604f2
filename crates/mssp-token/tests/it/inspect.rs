//! `mssp-token inspect`: local decoding and checks.

use crate::support::{bin, run};
use base64::Engine;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

fn jwt(claims: Value) -> String {
    let e = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        e(&json!({"alg":"RS256","typ":"JWT","kid":"k1"})),
        e(&claims)
    )
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

const TID: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";

fn good() -> String {
    let n = now();
    jwt(json!({
        "aud": "https://api.securitycenter.microsoft.com",
        "tid": TID,
        "roles": ["Alert.Read.All", "Incident.Read.All"],
        "iat": n - 60, "nbf": n - 60, "exp": n + 42 * 60 + 30,
    }))
}

fn inspect(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("inspect").args(args).stdin(Stdio::null());
    c
}

#[test]
fn decodes_header_claims_and_times() {
    let out = run(&mut inspect(&[&good()]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("---- HEADER ----"));
    assert!(out.stdout.contains("\"kid\": \"k1\""));
    assert!(out.stdout.contains("Alert.Read.All"));
    assert!(out.stdout.contains("in 42 min"), "{}", out.stdout);
    assert!(out.stdout.contains('Z'));
}

#[test]
fn checks_pass_and_json_output() {
    let out = run(&mut inspect(&[
        &good(),
        "-o",
        "json",
        "--require-role",
        "Alert.Read.All",
        "--expect-tenant",
        TID,
        "--expect-audience",
        "https://api.securitycenter.microsoft.com/",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["checks"]["ok"], true);
    assert_eq!(v["claims"]["tid"], TID);
    assert_eq!(v["expired"], false);
    assert!(v["times"]["exp"]["utc"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn every_failed_check_is_named_with_exit_5() {
    let n = now();
    let t = jwt(
        json!({"aud":"https://graph.windows.net","tid":"other","roles":["Alert.Read.All"],"exp": n - 120}),
    );
    let out = run(&mut inspect(&[
        &t,
        "--require-role",
        "Incident.Read.All",
        "--expect-tenant",
        TID,
        "--expect-audience",
        "https://api.securitycenter.microsoft.com",
    ]));
    assert_eq!(out.code, 5, "{}", out.stderr);
    for needle in [
        "expired",
        "missing role(s) Incident.Read.All (has: Alert.Read.All)",
        "tenant is other",
        "audience is https://graph.windows.net",
    ] {
        assert!(out.stderr.contains(needle), "{needle} in {}", out.stderr);
    }
}

#[test]
fn reads_stdin_and_saved_files() {
    let mut child = inspect(&["-", "-o", "json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(child.stdin.take().unwrap(), "Bearer {}", good()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("t.json");
    std::fs::write(&f, json!({"access_token": good()}).to_string()).unwrap();
    let out = run(inspect(&["--require-role", "Alert.Read.All"])
        .arg("--from")
        .arg(&f));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn malformed_tokens_get_clear_errors() {
    let b = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
    let cases = [
        ("abc", "three parts"),
        ("a.b", "three parts"),
        ("!!!.e30.x", "header is not valid base64url"),
        (
            &format!("{}.{}.x", b("{}"), b("not json")) as &str,
            "payload is not JSON",
        ),
        (
            &format!("{}.{}.x", b("{}"), b("[1]")) as &str,
            "payload is not a JSON object",
        ),
    ];
    for (token, needle) in cases {
        let out = run(&mut inspect(&[token]));
        assert_eq!(out.code, 2, "{token}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{token}: {}", out.stderr);
    }
    let out = run(inspect(&[]).arg("--from").arg("/nonexistent/file"));
    assert_eq!(out.code, 7, "{}", out.stderr);
}
