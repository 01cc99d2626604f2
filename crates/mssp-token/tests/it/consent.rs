//! `mssp-token consent`: the admin-consent links, and the --listen round trip that onboards a
//! new customer (consent, then a token in that tenant).

use crate::support::{app_cmd, bin, browser_log, fake_browser, run, step, Sandbox};
use serde_json::Value;
use std::process::{Command, Stdio};

const CLIENT: &str = "9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f";

fn consent(args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("consent")
        .args(args)
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::null());
    c
}

#[test]
fn the_v1_link_is_the_defender_docs_link() {
    let out = run(&mut consent(&["--client-id", CLIENT, "--v1"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        out.stdout.trim(),
        format!("https://login.microsoftonline.com/common/oauth2/authorize?prompt=consent&client_id={CLIENT}&response_type=code&sso_reload=true")
    );
}

#[test]
fn the_v2_link_names_tenant_scope_redirect_and_state() {
    let out = run(&mut consent(&[
        "--client-id",
        CLIENT,
        "--tenant",
        "contoso.onmicrosoft.com",
        "--cloud",
        "usgov",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let url = v["url"].as_str().unwrap();
    assert!(
        url.starts_with(
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/v2.0/adminconsent?client_id="
        ),
        "{url}"
    );
    for p in [
        "scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default",
        "redirect_uri=http%3A%2F%2Flocalhost%2FSiemMsspConnector",
        "state=",
    ] {
        assert!(url.contains(p), "{p} in {url}");
    }
    let out = run(&mut consent(&["--client-id", CLIENT]));
    assert!(
        out.stdout.contains("/organizations/v2.0/adminconsent?"),
        "{}",
        out.stdout
    );
}

#[test]
fn listen_then_token_onboards_a_new_customer() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("browser.log");
    let northwind = sb.tenant_named("Northwind");
    let cache = tempfile::tempdir().unwrap();
    // Before consent: no token.
    let before = run(app_cmd(&sb, "token", cache.path())
        .args(["--tenant", northwind["domain"].as_str().unwrap()]));
    assert_eq!(before.code, 3, "{}", before.stderr);

    let out = run(consent(&[
        "--client-id",
        sb.app()["client_id"].as_str().unwrap(),
        "--tenant",
        northwind["domain"].as_str().unwrap(),
        "--authority",
        &sb.authority(),
        "--listen",
        "--wait",
        "20",
        "-o",
        "json",
    ])
    .env("BROWSER", fake_browser())
    .env("FAKE_BROWSER_LOG", &log)
    .env(
        "FAKE_BROWSER_ACCOUNT",
        northwind["users"][0].as_str().unwrap(),
    ));
    assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["consented"], true);
    assert_eq!(v["tenant_id"], northwind["id"]);
    let landed = step(&browser_log(&log), "landed").cloned().unwrap();
    assert!(
        landed["text"]
            .as_str()
            .unwrap()
            .contains("Admin consent was granted"),
        "{landed}"
    );

    // After consent: a token, with the roles the app asks for.
    let after = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        northwind["domain"].as_str().unwrap(),
        "--require-role",
        "Alert.Read.All",
        "-o",
        "json",
    ]));
    assert_eq!(after.code, 0, "{}", after.stderr);
}

#[test]
fn declined_consent_exits_4() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("browser.log");
    let out = run(consent(&[
        "--client-id",
        sb.app()["client_id"].as_str().unwrap(),
        "--tenant",
        "northwind.onmicrosoft.com",
        "--authority",
        &sb.authority(),
        "--listen",
        "--wait",
        "20",
    ])
    .env("BROWSER", fake_browser())
    .env("FAKE_BROWSER_LOG", &log)
    .env("FAKE_BROWSER_ACTION", "cancel"));
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS65004"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn bad_input_for_consent() {
    let cases: [(&[&str], &str); 4] = [
        (
            &["--v1", "--listen", "--client-id", CLIENT],
            "v2 admin-consent link only",
        ),
        (&[], "no client ID given"),
        (&["--client-id", "nope"], "is not a GUID"),
        (
            &[
                "--client-id",
                CLIENT,
                "--listen",
                "--redirect-uri",
                "https://mssp.example.com/x",
            ],
            "needs an http://localhost redirect URI",
        ),
    ];
    for (args, needle) in cases {
        let out = run(&mut consent(args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
}

#[test]
fn organizations_and_common_are_accepted_as_any_organization() {
    // `organizations` is the v2 link's default; `common` the v1 link's.
    for (given, v1, segment) in [
        ("organizations", false, "/organizations/v2.0/adminconsent?"),
        ("Organizations", false, "/organizations/v2.0/adminconsent?"),
        ("common", false, "/organizations/v2.0/adminconsent?"),
        ("common", true, "/common/oauth2/authorize?"),
        ("organizations", true, "/common/oauth2/authorize?"),
    ] {
        let mut args = vec!["--client-id", CLIENT, "--tenant", given];
        if v1 {
            args.push("--v1");
        }
        let out = run(&mut consent(&args));
        assert_eq!(out.code, 0, "{given}: {}", out.stderr);
        assert!(out.stdout.contains(segment), "{given}: {}", out.stdout);
    }
    let out = run(&mut consent(&[
        "--client-id",
        CLIENT,
        "--tenant",
        "consumers",
    ]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--tenant consumers: personal Microsoft accounts"),
        "{}",
        out.stderr
    );
}

#[test]
fn listen_for_organizations_reports_the_tenant_that_consented() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("browser.log");
    let northwind = sb.tenant_named("Northwind");
    let out = run(consent(&[
        "--client-id",
        sb.app()["client_id"].as_str().unwrap(),
        "--tenant",
        "organizations",
        "--authority",
        &sb.authority(),
        "--listen",
        "--wait",
        "20",
        "-o",
        "json",
    ])
    .env("BROWSER", fake_browser())
    .env("FAKE_BROWSER_LOG", &log)
    .env(
        "FAKE_BROWSER_ACCOUNT",
        northwind["users"][0].as_str().unwrap(),
    ));
    assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["tenant_id"], northwind["id"]);
}
