//! The API table and the clouds: a token is asked for the audience of the API in the cloud the
//! user named (a GCC High customer's Defender token must never be for the commercial API), and
//! `--api mde|xdr|graph` (with `--xdr` as an alias) picks the host and audience.

use crate::support::{app_cmd, claims, run, Sandbox};
use serde_json::Value;

fn token_aud(out: &crate::support::Output) -> String {
    let v: Value =
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout));
    claims(v["access_token"].as_str().unwrap())["aud"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn token_asks_for_the_defender_audience_of_the_cloud() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    for (cloud, aud) in [
        ("public", "https://api.securitycenter.microsoft.com"),
        ("gcc", "https://api-gcc.securitycenter.microsoft.us"),
        ("usgov", "https://api-gov.securitycenter.microsoft.us"),
        ("dod", "https://api-gov.securitycenter.microsoft.us"),
    ] {
        let out = run(app_cmd(&sb, "token", cache.path()).args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--cloud",
            cloud,
            "-o",
            "json",
        ]));
        assert_eq!(out.code, 0, "--cloud {cloud}: {}", out.stderr);
        assert_eq!(token_aud(&out), aud, "--cloud {cloud}");
    }
}

#[test]
fn china_has_no_defender_api_and_says_so() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        "contoso.onmicrosoft.com",
        "--cloud",
        "china",
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("Defender for Endpoint API is not offered in the china cloud"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn api_asks_for_the_audience_of_the_api_in_the_cloud() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    for (flags, scope) in [
        (
            vec!["--cloud", "usgov"],
            "https://api-gov.securitycenter.microsoft.us/.default",
        ),
        (
            vec!["--api", "xdr", "--cloud", "gcc"],
            "https://api-gcc.security.microsoft.us/.default",
        ),
        (vec!["--xdr"], "https://api.security.microsoft.com/.default"),
        (
            vec!["--api", "graph", "--cloud", "dod"],
            "https://dod-graph.microsoft.us/.default",
        ),
    ] {
        let out = run(app_cmd(&sb, "api", cache.path())
            .arg("-v")
            .arg("/api/alerts?$top=1")
            .args(["--tenant", "contoso.onmicrosoft.com", "--no-cache"])
            .args(["--base-url", &sb.authority()])
            .args(&flags));
        assert!(
            out.stderr.contains(&format!("(scope {scope})")),
            "{flags:?}: expected a token for {scope}:\n{}",
            out.stderr
        );
    }
}

#[test]
fn the_api_refuses_a_token_for_another_clouds_audience_and_names_the_role() {
    // The sandbox serves the commercial Defender API: a GCC High token is refused there, and
    // the explanation names what the path needs.
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out = run(app_cmd(&sb, "api", cache.path())
        .arg("/api/alerts?$top=1")
        .args(["--tenant", "contoso.onmicrosoft.com", "--cloud", "usgov"])
        .args(["--base-url", &sb.authority()]));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stderr.contains("Alert.Read.All"), "{}", out.stderr);
}

#[test]
fn xdr_and_api_flags_conflict() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out = run(app_cmd(&sb, "api", cache.path())
        .arg("/api/incidents")
        .args([
            "--tenant",
            "contoso.onmicrosoft.com",
            "--xdr",
            "--api",
            "graph",
        ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("cannot be used with"), "{}", out.stderr);
}

#[test]
fn graph_security_roles_are_named_on_403_for_api_and_collect() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    // Fabrikam granted the app Alert.Read.All only: Graph alerts yes, Graph incidents no.
    let fabrikam = sb.tenant_named("Fabrikam")["id"]
        .as_str()
        .unwrap()
        .to_string();
    let out = run(app_cmd(&sb, "api", dir.path())
        .args([
            "--api",
            "graph",
            "--base-url",
            &sb.authority(),
            "--tenant",
            &fabrikam,
        ])
        .arg("/v1.0/security/incidents"));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("SecurityIncident.Read.All")
            && out.stderr.contains("The token has SecurityAlert.Read.All"),
        "{}",
        out.stderr
    );
    let ok = run(app_cmd(&sb, "api", dir.path())
        .args([
            "--api",
            "graph",
            "--base-url",
            &sb.authority(),
            "--tenant",
            &fabrikam,
        ])
        .arg("/v1.0/security/alerts_v2?$top=1"));
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    // collect: the incidents source fails with the same explanation, the alerts source runs.
    let tenants = dir.path().join("t.txt");
    std::fs::write(&tenants, format!("{fabrikam}\n")).unwrap();
    let out = run(app_cmd(&sb, "collect", dir.path())
        .args(["--base-url", &sb.authority(), "--since", "60d"])
        .arg("--tenants")
        .arg(&tenants)
        .arg("--state")
        .arg(dir.path().join("state"))
        .args(["--source", "graph-alerts", "--source", "graph-incidents"]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("graph-incidents 0 (failed: the API refused the token: HTTP 403"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("needs SecurityIncident.Read.All"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.is_empty(), "the alerts were collected");
}
