//! App-only credentials against the sandbox (secret, certificate PEM and PFX, federated token)
//! and the `api` command: paging, roles, throttling.

use crate::support::{self, app_cmd, claims, run, Sandbox};
use serde_json::Value;
use std::process::Command;

fn json(out: &support::Output) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

/// `app_cmd` with no client secret anywhere.
fn without_secret(sb: &Sandbox, cmd: &str, cache: &std::path::Path) -> Command {
    let mut c = app_cmd(sb, cmd, cache);
    c.env_remove("AZURE_CLIENT_SECRET");
    c
}

#[test]
fn certificate_pem_and_pfx_are_accepted_by_the_sandbox() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let app = sb.app();
    let pem = app["certificate_file"].as_str().unwrap();
    let out = run(without_secret(&sb, "token", cache.path()).args([
        "--tenant",
        "contoso.onmicrosoft.com",
        "--no-cache",
        "-o",
        "json",
        "--certificate",
        pem,
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let c = claims(json(&out)["access_token"].as_str().unwrap());
    assert_eq!(
        c["appidacr"].as_str().or(c["azpacr"].as_str()),
        Some("2"),
        "{c}"
    );

    let out = run(without_secret(&sb, "token", cache.path())
        .args([
            "--tenant",
            "fabrikam.onmicrosoft.com",
            "--no-cache",
            "--certificate",
        ])
        .arg(app["pfx_file"].as_str().unwrap())
        .env(
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            app["pfx_password"].as_str().unwrap(),
        ));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_certificate_the_app_does_not_know_is_refused_with_700027() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let pem = support::self_signed_cert(dir.path(), "stranger");
    let out = run(without_secret(&sb, "token", dir.path())
        .args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--no-cache",
            "--certificate",
        ])
        .arg(&pem));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS700027"), "{}", out.stderr);
}

#[test]
fn federated_tokens_work_and_a_wrong_subject_gets_70021() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let app = sb.app();
    let out = run(without_secret(&sb, "token", cache.path())
        .args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--no-cache",
            "--require-role",
            "Alert.Read.All",
        ])
        .env(
            "AZURE_FEDERATED_TOKEN_FILE",
            app["federated_token_file"].as_str().unwrap(),
        ));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // A token for another repository's workflow.
    let minted = Command::new("curl")
        .args([
            "-sS",
            "-X",
            "POST",
            "--data-urlencode",
            "subject=repo:someone/else:ref:refs/heads/main",
        ])
        .arg(sb.info["federated_token_endpoint"].as_str().unwrap())
        .output()
        .unwrap();
    let f = cache.path().join("other.jwt");
    std::fs::write(&f, &minted.stdout).unwrap();
    let out = run(without_secret(&sb, "token", cache.path())
        .args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--no-cache",
            "--federated-token-file",
        ])
        .arg(&f));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS70021"), "{}", out.stderr);
    assert!(
        out.stderr.contains("federated credential"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_expired_secret_app_gets_7000222() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let legacy = sb.expired_app();
    let out = run(Command::new(support::bin())
        .args([
            "token",
            "--no-cache",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--authority",
            &sb.authority(),
        ])
        .args(["--client-id", legacy["client_id"].as_str().unwrap()])
        .env(
            "AZURE_CLIENT_SECRET",
            legacy["client_secret"].as_str().unwrap(),
        )
        .env("MSSP_TOKEN_CACHE_DIR", cache.path())
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_AUTHORITY_HOST"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS7000222"), "{}", out.stderr);
    assert!(
        out.stderr.contains("create a new client secret"),
        "{}",
        out.stderr
    );
}

fn api(sb: &Sandbox, cache: &std::path::Path, args: &[&str]) -> support::Output {
    run(app_cmd(sb, "api", cache)
        .args(["--base-url", &sb.authority()])
        .args(args))
}

#[test]
fn api_follows_next_links_with_all() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let one = api(
        &sb,
        cache.path(),
        &[
            "/api/alerts?$top=100",
            "--tenant",
            "contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(one.code, 0, "{}", one.stderr);
    let v = json(&one);
    assert_eq!(v["value"].as_array().unwrap().len(), 100);
    assert!(v["@odata.nextLink"].is_string());

    let all = api(
        &sb,
        cache.path(),
        &[
            "/api/alerts?$top=100",
            "--all",
            "--tenant",
            "contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(all.code, 0, "{}", all.stderr);
    let v = json(&all);
    let items = v["value"].as_array().unwrap();
    assert_eq!(items.len(), 250, "every page's items");
    assert!(v.get("@odata.nextLink").is_none());
    let mut ids: Vec<&str> = items.iter().map(|a| a["id"].as_str().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 250, "no page twice");
}

#[test]
fn api_filters_and_incidents_on_xdr_scope() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out = api(
        &sb,
        cache.path(),
        &[
            "/api/incidents?$top=10",
            "--xdr",
            "--tenant",
            "contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out)["value"].as_array().unwrap().len(), 10);
    let out = api(
        &sb,
        cache.path(),
        &[
            "/api/alerts?$filter=lastUpdateTime ge 2100-01-01T00:00:00Z",
            "--tenant",
            "contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(json(&out)["value"].as_array().unwrap().len(), 0);
    let out = api(
        &sb,
        cache.path(),
        &[
            "/api/alerts?$filter=nonsense",
            "--tenant",
            "contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 400"), "{}", out.stderr);
}

#[test]
fn api_403_names_the_missing_role() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out = api(
        &sb,
        cache.path(),
        &[
            "/api/incidents",
            "--xdr",
            "--tenant",
            "fabrikam.onmicrosoft.com",
        ],
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 403"), "{}", out.stderr);
    assert!(
        out.stderr.contains("needs Incident.Read.All"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("The token has Alert.Read.All"),
        "{}",
        out.stderr
    );
}

#[test]
fn api_with_a_saved_token_file_and_a_bad_token() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let f = cache.path().join("t.json");
    let out = run(app_cmd(&sb, "token", cache.path())
        .args(["--tenant", "contoso.onmicrosoft.com", "--save"])
        .arg(&f)
        .args(["-o", "raw"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(app_cmd(&sb, "api", cache.path())
        .args([
            "/api/alerts?$top=1",
            "--base-url",
            &sb.authority(),
            "--token-file",
        ])
        .arg(&f));
    assert_eq!(out.code, 0, "{}", out.stderr);
    std::fs::write(&f, "not-a-token").unwrap();
    let out = run(app_cmd(&sb, "api", cache.path())
        .args(["/api/alerts", "--base-url", &sb.authority(), "--token-file"])
        .arg(&f));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 401"), "{}", out.stderr);
}

#[test]
fn api_throttled_past_the_retry_budget_exits_6() {
    // The sandbox's own rate limit (2 a minute): the third call is refused with a Retry-After
    // of the rest of the minute. Whether that fits the 60 s retry budget depends on the second
    // the window started in, so this part only checks that the call ends, one way or the other,
    // and that a refusal says "throttled".
    let sb = Sandbox::start_with(&["--rate-limit", "2"]);
    let cache = tempfile::tempdir().unwrap();
    let args = ["/api/alerts?$top=1", "--tenant", "contoso.onmicrosoft.com"];
    for _ in 0..2 {
        let out = api(&sb, cache.path(), &args);
        assert_eq!(out.code, 0, "{}", out.stderr);
    }
    let started = std::time::Instant::now();
    let out = api(&sb, cache.path(), &args);
    assert!(out.code == 0 || out.code == 6, "{}", out.stderr);
    if out.code == 6 {
        assert!(out.stderr.contains("throttled"), "{}", out.stderr);
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(90));

    // Deterministic: an API that always answers 429 with a Retry-After (120 s) beyond the
    // budget is given up at once, exit 6, with the token obtained elsewhere (--token-file).
    let token_file = cache.path().join("token.json");
    let out = run(app_cmd(&sb, "token", cache.path())
        .args(["--tenant", "contoso.onmicrosoft.com", "--save"])
        .arg(&token_file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let throttled = Sandbox::start_with(&["--faults", "429=1", "--retry-after", "120"]);
    let started = std::time::Instant::now();
    let out = run(app_cmd(&throttled, "api", cache.path())
        .args([
            "--base-url",
            &throttled.authority(),
            "/api/alerts?$top=1",
            "--token-file",
        ])
        .arg(&token_file));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("throttled"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[test]
fn api_bad_input() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 4] = [
        (
            &["api/alerts", "--tenant", "contoso.onmicrosoft.com"],
            "starting with /",
        ),
        (
            &[
                "http://evil.example.com/api/alerts",
                "--tenant",
                "contoso.onmicrosoft.com",
            ],
            "must be https://",
        ),
        (
            &[
                "/api/alerts",
                "--tenant",
                "contoso.onmicrosoft.com",
                "--data",
                "{not json",
            ],
            "--data is not valid JSON",
        ),
        (
            &[
                "/api/alerts",
                "--tenant",
                "contoso.onmicrosoft.com",
                "-X",
                "G E T",
            ],
            "not an HTTP method",
        ),
    ];
    for (args, needle) in cases {
        let out = api(&sb, cache.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}
