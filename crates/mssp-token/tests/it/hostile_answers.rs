//! A hostile or broken token endpoint (issue 9 items 2, 7, 10 and 13): the sandbox's tamper specs
//! make its next answers carry shell code, escape bytes, absurd numbers, redirects and Entra's
//! real error shapes. Nothing hostile reaches stdout or a shell, nothing panics, and every
//! refusal names the field and the contract's exit code.

use crate::support::{app_cmd, bin, browser_log, run, Output, Sandbox};
use base64::Engine;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Stdio};

/// `mssp-token token` for the main tenant (by GUID: no discovery), no cache, and `args`.
fn token(sb: &Sandbox, cache: &Path, args: &[&str]) -> Command {
    let mut c = app_cmd(sb, "token", cache);
    c.args([
        "--tenant",
        sb.tenant(true)["id"].as_str().unwrap(),
        "--no-cache",
    ])
    .args(args);
    c
}

/// `mssp-token token ... -o env` under `eval "$(...)"` in sh, in `dir`: what the shell printed.
fn eval_env(sb: &Sandbox, cache: &Path, dir: &Path, then: &str) -> std::process::Output {
    let cmd = token(sb, cache, &["-o", "env"]);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!(r#"eval "$("$@")"; {then}"#))
        .arg("sh")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.output().unwrap()
}

fn refused(out: &Output, needles: &[&str]) {
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "stdout: {:?}", out.stdout);
    assert!(
        out.stderr.contains("not a token response"),
        "{}",
        out.stderr
    );
    for n in needles {
        assert!(out.stderr.contains(n), "{n:?} missing:\n{}", out.stderr);
    }
}

const SHELL: &str = "x';touch PWNED;'";
const ESCAPE: &str = "x\u{1b}[31mred\u{1b}]0;title\u{7}";
const NEWLINE: &str = "x\ntouch PWNED";

/// Every hostile string, in every field that is printed, saved or put in a hint.
fn hostile_specs() -> Vec<(String, Value)> {
    let mut v = Vec::new();
    for (name, bad) in [("shell", SHELL), ("escape", ESCAPE), ("newline", NEWLINE)] {
        for field in [
            "access_token",
            "refresh_token",
            "id_token",
            "token_type",
            "resource",
            "scope",
        ] {
            let value = match field {
                // Hostile, but shaped like what the field normally holds.
                "access_token" | "id_token" => format!("eyJhbGciOiJub25lIn0.{bad}.sig"),
                "refresh_token" => format!("0.AXEA{bad}"),
                _ => bad.to_string(),
            };
            v.push((
                format!("{field} ({name})"),
                json!({"fields": {field: value}}),
            ));
        }
        v.push((format!("tid ({name})"), json!({"claims": {"tid": bad}})));
    }
    v
}

#[test]
fn hostile_strings_are_refused_and_eval_of_env_output_runs_nothing() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let mut failures = Vec::new();
    for (name, spec) in hostile_specs() {
        let field = name.split(' ').next().unwrap().to_string();
        let mut spec = spec;
        spec["count"] = json!(2);
        sb.tamper(spec);
        // The exit code and message, by running it directly...
        let out = run(&mut token(&sb, cache.path(), &["-o", "env"]));
        let needle = if field == "tid" {
            "the access token's tid is not a tenant ID".to_string()
        } else {
            format!("{field} ")
        };
        if out.code != 6
            || !out.stdout.is_empty()
            || !out.stderr.contains("not a token response")
            || !out.stderr.contains(&needle)
            || out.stderr.contains("PWNED")
            || out.stderr.contains('\u{1b}')
        {
            failures.push(format!("[{name}] exit {}: {}", out.code, out.stderr));
        }
        // ...and what a shell does with it: eval "$(mssp-token ... -o env)".
        let dir = tempfile::tempdir().unwrap();
        let sh = eval_env(&sb, cache.path(), dir.path(), "echo \"evaluated:$?\"");
        let listing: Vec<_> = std::fs::read_dir(dir.path()).unwrap().flatten().collect();
        if !listing.is_empty() || String::from_utf8_lossy(&sh.stdout).trim() != "evaluated:0" {
            failures.push(format!(
                "[{name}] under eval: files {listing:?}, stdout {:?}",
                String::from_utf8_lossy(&sh.stdout)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn env_output_of_a_genuine_answer_evaluates_to_the_token() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let raw = run(&mut token(&sb, cache.path(), &["-o", "raw"]));
    assert_eq!(raw.code, 0, "{}", raw.stderr);
    let sh = eval_env(
        &sb,
        cache.path(),
        dir.path(),
        r#"printf '%s|%s|%s' "$MSSP_ACCESS_TOKEN" "$MSSP_TENANT_ID" "$MSSP_TOKEN_EXPIRES_ON""#,
    );
    let printed = String::from_utf8_lossy(&sh.stdout).to_string();
    let parts: Vec<&str> = printed.split('|').collect();
    assert_eq!(parts.len(), 3, "{printed:?}");
    assert_eq!(
        crate::support::claims(parts[0])["tid"],
        sb.tenant(true)["id"]
    );
    assert_eq!(parts[1], sb.tenant(true)["id"].as_str().unwrap());
    assert!(parts[2].parse::<u64>().is_ok(), "{printed:?}");
}

#[test]
fn text_and_raw_output_never_copy_escape_bytes() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    for format in ["text", "raw", "json"] {
        sb.tamper(json!({"fields": {"refresh_token": format!("0.A{ESCAPE}")}}));
        let out = run(&mut token(&sb, cache.path(), &["-o", format]));
        refused(
            &out,
            &[
                "refresh_token is not a refresh token",
                "control character (0x1B)",
            ],
        );
        assert!(!out.stderr.contains('\u{1b}'), "{format}: {:?}", out.stderr);
    }
}

#[test]
fn absurd_numbers_are_refused_with_the_number_never_a_panic() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let v1 = ["--resource", "https://api.securitycenter.microsoft.com"];
    let rows: Vec<(Value, &[&str], &str)> = vec![
        (
            json!({"fields": {"expires_in": 1_000_000_000_000u64}}),
            &[],
            "expires_in 1000000000000 is not a plausible lifetime",
        ),
        (
            json!({"fields": {"expires_in": u64::MAX}}),
            &[],
            "expires_in 18446744073709551615 is not a plausible lifetime",
        ),
        (
            json!({"fields": {"expires_in": "18446744073709551615"}}),
            &v1,
            "expires_in 18446744073709551615 is not a plausible lifetime",
        ),
        (
            json!({"fields": {"expires_in": "99999999999999999999999"}}),
            &v1,
            "expires_in 99999999999999999999999 is not a plausible lifetime",
        ),
        (
            json!({"fields": {"expires_in": -5}}),
            &[],
            "expires_in -5 is not a plausible lifetime",
        ),
        (
            json!({"fields": {"expires_in": 3599.5}}),
            &[],
            "expires_in 3599.5 is not a plausible lifetime",
        ),
        (
            json!({"fields": {"expires_in": "';touch PWNED;'"}}),
            &v1,
            "expires_in is not a number",
        ),
        (
            json!({"fields": {"expires_on": "1000000000000"}}),
            &v1,
            "expires_on 1000000000000 is not a plausible expiry time",
        ),
        (
            json!({"claims": {"exp": 1_000_000_000_000u64}}),
            &[],
            "the access token's exp 1000000000000 is not a plausible expiry time",
        ),
        (
            json!({"claims": {"exp": 1e12}}),
            &[],
            "the access token's exp 1000000000000 is not a plausible expiry time",
        ),
        (
            json!({"claims": {"exp": -1}}),
            &[],
            "the access token's exp -1 is not a plausible expiry time",
        ),
        (
            json!({"claims": {"iat": u64::MAX}}),
            &[],
            "the access token's iat 18446744073709551615 is not a plausible issue time",
        ),
        (
            json!({"claims": {"nbf": 0}}),
            &[],
            "the access token's nbf 0 is not a plausible issue time",
        ),
    ];
    let mut failures = Vec::new();
    for (spec, args, needle) in rows {
        sb.tamper(spec.clone());
        let out = run(&mut token(&sb, cache.path(), args));
        if out.code != 6
            || !out.stdout.is_empty()
            || !out.stderr.contains(needle)
            || out.stderr.contains("PWNED")
        {
            failures.push(format!("[{spec}] exit {}: {}", out.code, out.stderr));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

fn b64(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

#[test]
fn inspect_shows_absurd_times_without_panicking() {
    let claims = r#"{"tid":"4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b","exp":1000000000000,"iat":18446744073709551615,"nbf":1e300}"#;
    let jwt = format!("{}.{}.c2ln", b64(r#"{"alg":"RS256"}"#), b64(claims));
    for format in ["text", "json"] {
        let out = run(Command::new(bin())
            .args(["inspect", &jwt, "-o", format])
            .stdin(Stdio::null()));
        assert_eq!(out.code, 0, "{format}: {}", out.stderr);
        assert!(
            out.stdout
                .contains("not a date: epoch 1000000000000 is after the year 9999"),
            "{format}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains("epoch 18446744073709551615"),
            "{format}: {}",
            out.stdout
        );
    }
    // As a check: an absurd exp is no panic either way.
    let out = run(Command::new(bin())
        .args([
            "inspect",
            &jwt,
            "--expect-tenant",
            "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b",
        ])
        .stdin(Stdio::null()));
    assert!(out.code == 0 || out.code == 5, "{}", out.stderr);
}

#[test]
fn a_redirecting_token_endpoint_says_where_it_went() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    for (status, location, shown) in [
        (
            302,
            "https://user:pw@captive.example/login?code=SECRET-Q#frag",
            "redirected (HTTP 302) to https://captive.example/login ",
        ),
        (
            307,
            "/elsewhere/token?x=SECRET-Q",
            "redirected (HTTP 307) to http://127.0.0.1:",
        ),
        (301, "", "redirected (HTTP 301) to "),
    ] {
        let mut headers = serde_json::Map::new();
        if !location.is_empty() {
            headers.insert("Location".into(), json!(location));
        }
        sb.tamper(json!({"status": status, "headers": headers, "body": "<html><title>Moved</title></html>"}));
        let out = run(&mut token(&sb, cache.path(), &[]));
        assert_eq!(out.code, 6, "{}", out.stderr);
        assert!(out.stderr.contains(shown), "{shown:?}: {}", out.stderr);
        for leaked in ["SECRET-Q", "pw@", "frag", "missing field"] {
            assert!(!out.stderr.contains(leaked), "{leaked}: {}", out.stderr);
        }
        assert!(out.stdout.is_empty());
    }
}

// ---- Entra's real error shapes (item 10) ----

#[test]
fn every_error_code_is_read_and_the_specific_one_explained() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    sb.tamper(json!({"status": 400, "body": json!({
        "error": "invalid_grant",
        "error_description": "AADSTS70002: Error validating credentials. AADSTS70008: The provided authorization code or refresh token has expired due to inactivity.\r\nTrace ID: t-70008\r\nCorrelation ID: c-70008\r\nTimestamp: 2026-11-22 10:00:00Z",
        "error_codes": [70002, 70008],
        "trace_id": "t-70008",
        "correlation_id": "c-70008"
    }).to_string()}));
    let out = run(&mut token(&sb, cache.path(), &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    for needle in [
        "AADSTS70008 (invalid_grant) (error_codes 70002, 70008)",
        "has expired or was revoked",
        "trace ID t-70008",
        "correlation ID c-70008",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

#[test]
fn a_body_without_error_keeps_the_code_and_the_ids() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    for status in [400, 200] {
        sb.tamper(json!({"status": status, "body": json!({
            "error_description": "AADSTS7000222: The provided client secret keys are expired.\r\nTrace ID: t-222\r\nCorrelation ID: c-222\r\nTimestamp: 2026-11-22 10:00:00Z",
            "error_codes": [7000222]
        }).to_string()}));
        let out = run(&mut token(&sb, cache.path(), &[]));
        assert_eq!(out.code, 3, "{status}: {}", out.stderr);
        for needle in [
            "AADSTS7000222",
            "the client secret has expired",
            "trace ID t-222",
            "correlation ID c-222",
        ] {
            assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
        }
        assert!(!out.stderr.contains("missing field"), "{}", out.stderr);
    }
    // Only the description holds the code: still found.
    sb.tamper(json!({"status": 400, "body": json!({
        "error_description": "AADSTS90002: Tenant 'x' not found.\r\nTrace ID: t-90002\r\nCorrelation ID: c-90002"
    }).to_string()}));
    let out = run(&mut token(&sb, cache.path(), &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS90002"), "{}", out.stderr);
    assert!(out.stderr.contains("trace ID t-90002"), "{}", out.stderr);
    // An empty JSON object is no Entra error: said so, exit 6.
    sb.tamper(json!({"status": 400, "body": "{}"}));
    let out = run(&mut token(&sb, cache.path(), &[]));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("neither a token response nor an Entra ID error"),
        "{}",
        out.stderr
    );
}

#[test]
fn invalid_tenant_is_explained_as_tenant_not_found() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    for body in [
        json!({"error": "invalid_tenant", "error_description": "AADSTS90002: Tenant '4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b' not found.", "error_codes": [90002]}),
        json!({"error": "invalid_tenant"}),
    ] {
        sb.tamper(json!({"status": 400, "body": body.to_string()}));
        let out = run(&mut token(&sb, cache.path(), &[]));
        assert_eq!(out.code, 3, "{}", out.stderr);
        assert!(
            out.stderr.contains("the tenant was not found"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("--cloud"), "{}", out.stderr);
    }
}

fn login_saved(sb: &Sandbox, dir: &Path) -> std::path::PathBuf {
    let file = dir.join("contoso.json");
    let out = run(sb
        .login(&dir.join("browser.log"), &[])
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

#[test]
fn needs_login_answers_print_the_sign_in_command() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path());
    let dead: Vec<Value> = vec![
        json!({"error": "invalid_grant", "error_codes": [70002, 70008]}),
        json!({"error": "invalid_grant", "error_codes": [700082]}),
        json!({"error": "invalid_grant", "error_codes": [70043]}),
        json!({"error": "invalid_grant", "error_codes": [50173]}),
        json!({"error": "interaction_required", "error_codes": [50076]}),
        json!({"error": "interaction_required", "error_codes": [50079]}),
        json!({"error": "invalid_grant", "error_codes": [53003]}),
        json!({"error": "invalid_grant", "error_codes": [530034]}),
        json!({"error": "interaction_required", "suberror": "basic_action", "error_codes": [50158]}),
        json!({"error": "invalid_grant", "suberror": "bad_token", "error_codes": [9002341]}),
        json!({"error": "invalid_grant", "suberror": "token_expired", "error_codes": [9002342]}),
        json!({"error_codes": [70008], "error_description": "AADSTS70008: expired"}),
    ];
    let mut failures = Vec::new();
    for body in dead {
        sb.tamper(json!({"status": 400, "body": body.to_string()}));
        let out = run(Command::new(bin())
            .arg("refresh")
            .arg("--from")
            .arg(&file)
            .arg("--authority")
            .arg(sb.authority())
            .env(
                "AZURE_CLIENT_SECRET",
                sb.app()["client_secret"].as_str().unwrap(),
            )
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_AUTHORITY_HOST")
            .stdin(Stdio::null()));
        if out.code != 3
            || !out
                .stderr
                .contains("sign in again:\n  mssp-token login --tenant ")
        {
            failures.push(format!("[{body}] exit {}: {}", out.code, out.stderr));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ---- Retry-After (item 10) ----

/// The waits `-v` reports ("retrying in N ms").
fn waits(stderr: &str) -> Vec<u64> {
    stderr
        .lines()
        .filter_map(|l| l.split("retrying in ").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse().ok())
        .collect()
}

fn http_date(epoch: u64) -> String {
    let out = Command::new("date")
        .args([
            "-u",
            "-d",
            &format!("@{epoch}"),
            "+%a, %d %b %Y %H:%M:%S GMT",
        ])
        .env("LC_ALL", "C")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[test]
fn a_plain_text_429_and_retry_after_as_an_http_date_are_honoured() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    // Plain text, Retry-After in seconds.
    sb.tamper(json!({"status": 429, "headers": {"Retry-After": "1", "Content-Type": "text/plain"}, "body": "Too Many Requests"}));
    let out = run(&mut token(&sb, cache.path(), &["-v", "-o", "raw"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(waits(&out.stderr), vec![1000], "{}", out.stderr);

    // An HTTP-date a few seconds ahead: the wait is counted to it (not a backoff of ~0.5 s).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    sb.tamper(json!({"status": 429, "headers": {"Retry-After": http_date(now + 4)}, "body": "Too Many Requests"}));
    let out = run(&mut token(&sb, cache.path(), &["-v", "-o", "raw"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let w = waits(&out.stderr);
    assert!(
        w.len() == 1 && w[0] >= 1000 && w[0] <= 4000,
        "{w:?}: {}",
        out.stderr
    );

    // A date in the past: try again at once.
    sb.tamper(json!({"status": 503, "headers": {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, "body": "busy"}));
    let out = run(&mut token(&sb, cache.path(), &["-v", "-o", "raw"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(waits(&out.stderr), vec![0], "{}", out.stderr);

    // A date beyond the retry budget: no blind retry, and the message says what was asked.
    sb.tamper(json!({"status": 429, "headers": {"Retry-After": "Fri, 01 Jan 2100 00:00:00 GMT"}, "body": "Too Many Requests"}));
    let out = run(&mut token(&sb, cache.path(), &["-o", "raw"]));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("throttled: HTTP 429 after 1 attempt(s)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("(Retry-After), beyond the retry budget"),
        "{}",
        out.stderr
    );
}

#[test]
fn discovery_errors_keep_their_code_and_other_json_is_not_an_entra_error() {
    let sb = Sandbox::start();
    let by_domain = |cache: &Path| {
        let mut c = app_cmd(&sb, "token", cache);
        c.args(["--tenant", "contoso.onmicrosoft.com", "--no-cache"]);
        c
    };
    let cache = tempfile::tempdir().unwrap();
    sb.tamper(json!({"on": "discovery", "status": 400, "body": json!({
        "error_description": "AADSTS90002: Tenant 'contoso.onmicrosoft.com' not found.\r\nTrace ID: t-d\r\nCorrelation ID: c-d",
        "error_codes": [90002]
    }).to_string()}));
    let out = run(&mut by_domain(cache.path()));
    assert_eq!(out.code, 3, "{}", out.stderr);
    for needle in ["AADSTS90002", "the tenant was not found", "trace ID t-d"] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    let cache = tempfile::tempdir().unwrap();
    sb.tamper(json!({"on": "discovery", "status": 404, "body": "{\"message\":\"not here\"}"}));
    let out = run(&mut by_domain(cache.path()));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("instead of the discovery document"),
        "{}",
        out.stderr
    );
}
