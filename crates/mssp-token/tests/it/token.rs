//! `mssp-token token`: app-only tokens by client credentials against the sandbox.

use crate::support::{self, app_cmd, claims, run, Sandbox};
use serde_json::Value;

fn json(out: &support::Output) -> Value {
    serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| panic!("{e}: {}", out.stdout))
}

#[test]
fn v2_default_scope_with_roles_checked() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let contoso = sb.tenant_named("Contoso");
    let out = run(app_cmd(&sb, "token", cache.path())
        .args([
            "--tenant",
            contoso["domain"].as_str().unwrap(),
            "-o",
            "json",
        ])
        .args([
            "--require-role",
            "Alert.Read.All",
            "--require-role",
            "Incident.Read.All",
        ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["endpoint"], "v2");
    assert_eq!(v["tenant_id"], contoso["id"]);
    assert!(
        v.get("refresh_token").is_none(),
        "client credentials never return a refresh token"
    );
    assert_eq!(
        v["scope"],
        "https://api.securitycenter.microsoft.com/.default"
    );
    let c = claims(v["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], "https://api.securitycenter.microsoft.com");
    assert_eq!(c["tid"], contoso["id"]);
    assert!(c["roles"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r == "Alert.Read.All"));
}

#[test]
fn v1_resource_like_the_guides_powershell() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let contoso = sb.tenant_named("Contoso");
    let out = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        contoso["id"].as_str().unwrap(),
        "--resource",
        "https://api.security.microsoft.com",
        "-o",
        "json",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v = json(&out);
    assert_eq!(v["endpoint"], "v1");
    assert_eq!(v["resource"], "https://api.security.microsoft.com");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["aud"],
        "https://api.security.microsoft.com"
    );
}

#[test]
fn a_missing_role_is_named_with_what_the_token_has() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let fabrikam = sb.tenant_named("Fabrikam");
    let out = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        fabrikam["domain"].as_str().unwrap(),
        "--require-role",
        "Incident.Read.All",
    ]));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(
        out.stderr.contains("lacks the role(s) Incident.Read.All"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("only Alert.Read.All"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "nothing printed on a failed check");
}

#[test]
fn an_unconsented_tenant_gets_700016_and_the_consent_hint() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out =
        run(app_cmd(&sb, "token", cache.path()).args(["--tenant", "northwind.onmicrosoft.com"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS700016"), "{}", out.stderr);
    assert!(out.stderr.contains("mssp-token consent"), "{}", out.stderr);
}

#[test]
fn an_unknown_tenant_gets_90002() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let out = run(app_cmd(&sb, "token", cache.path()).args(["--tenant", "nobody.onmicrosoft.com"]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS90002"), "{}", out.stderr);
}

#[test]
fn the_cache_serves_a_fresh_token_without_the_network() {
    let mut sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    #[cfg(unix)]
    let mode_before = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(cache.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    let args = ["--tenant", "contoso.onmicrosoft.com", "-o", "raw"];
    let first = run(app_cmd(&sb, "token", cache.path()).args(args));
    assert_eq!(first.code, 0, "{}", first.stderr);
    let mut cmd = app_cmd(&sb, "token", cache.path());
    let mut no_cache = app_cmd(&sb, "token", cache.path());
    sb.stop();
    let second = run(cmd.args(args));
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(first.stdout, second.stdout);
    // --no-cache goes to the (now stopped) sandbox.
    let third = run(no_cache.args(args).arg("--no-cache"));
    assert_eq!(third.code, 6, "{}", third.stderr);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let dir_mode = std::fs::metadata(cache.path())
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        // An existing folder is used as it is, never chmod'ed (issue 9 item 8).
        assert_eq!(dir_mode, mode_before);
        for e in std::fs::read_dir(cache.path()).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().to_string();
            assert!(
                !name.contains("contoso"),
                "cache file names hold no identifiers: {name}"
            );
            if name.ends_with(".json") {
                let mode = e.metadata().unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{name}");
            }
        }
    }
}

#[test]
fn the_cache_is_keyed_by_tenant_and_scope() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let a = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        "contoso.onmicrosoft.com",
        "-o",
        "json",
    ]));
    let b = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        "fabrikam.onmicrosoft.com",
        "-o",
        "json",
    ]));
    let c = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        "contoso.onmicrosoft.com",
        "--scope",
        "https://api.security.microsoft.com/.default",
        "-o",
        "json",
    ]));
    for o in [&a, &b, &c] {
        assert_eq!(o.code, 0, "{}", o.stderr);
    }
    assert_ne!(json(&a)["tenant_id"], json(&b)["tenant_id"]);
    assert_ne!(json(&a)["access_token"], json(&c)["access_token"]);
}

#[test]
fn bad_input_for_token() {
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let cases: Vec<(Vec<&str>, i32, &str)> = vec![
        (
            vec![
                "--tenant",
                "contoso.onmicrosoft.com",
                "--scope",
                "https://api.securitycenter.microsoft.com/Alert.Read.All",
            ],
            2,
            "exactly one RESOURCE/.default",
        ),
        (
            vec!["--tenant", "common"],
            2,
            "name the customer's own tenant",
        ),
        (vec![], 2, "no tenant given"),
    ];
    for (args, code, needle) in cases {
        let out = run(app_cmd(&sb, "token", cache.path()).args(&args));
        assert_eq!(out.code, code, "{args:?}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{args:?}: {}", out.stderr);
    }
    let out = run(app_cmd(&sb, "token", cache.path())
        .args(["--tenant", "contoso.onmicrosoft.com"])
        .env_remove("AZURE_CLIENT_SECRET"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("no client credential"),
        "{}",
        out.stderr
    );
    let out = run(app_cmd(&sb, "token", cache.path())
        .args(["--tenant", "contoso.onmicrosoft.com", "--no-cache"])
        .env("AZURE_CLIENT_SECRET", "wrong-secret-value-xyz"));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS7000215"), "{}", out.stderr);
}
