//! Wrong-customer protection (issue 9 item 4): a tenant named by domain is resolved to its GUID
//! through discovery (remembered for a day in the cache folder, checked on read), and every
//! token, fresh or from the cache, of `token`, `api`, `onboard` and the tenant of
//! `consent --listen` must be that tenant's: otherwise exit 5 with nothing printed or saved.
//! The sandbox's tamper spec `{"claims": {"tid": ...}}` makes the token endpoint hand out
//! another customer's token.

use crate::support::{app_cmd, browser_log, claims, fake_browser, files_under, run, Sandbox};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};

fn domain(t: &Value) -> &str {
    t["domain"].as_str().unwrap()
}

fn id(t: &Value) -> &str {
    t["id"].as_str().unwrap()
}

/// The next `count` token answers carry `tid` in place of the real tenant.
fn hand_out_tokens_of(sb: &Sandbox, tid: &str, count: u32) {
    sb.tamper(json!({"on": "token", "count": count, "claims": {"tid": tid}}));
}

/// Token-cache entries (not the tenant-ID entries) under `cache`.
fn token_entries(cache: &Path) -> Vec<PathBuf> {
    files_under(cache)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy().to_string();
            name.ends_with(".json") && !name.starts_with("tenant-")
        })
        .collect()
}

/// Tenant-ID entries under `cache`.
fn tenant_entries(cache: &Path) -> Vec<PathBuf> {
    files_under(cache)
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tenant-")
        })
        .collect()
}

#[test]
fn token_refuses_another_customers_token_for_a_domain_or_a_guid() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let dir = tempfile::tempdir().unwrap();
    for (i, asked) in [domain(contoso), id(contoso)].into_iter().enumerate() {
        let cache = tempfile::tempdir().unwrap();
        let save = dir.path().join(format!("t{i}.json"));
        hand_out_tokens_of(&sb, id(other), 1);
        let out = run(app_cmd(&sb, "token", cache.path())
            .args(["--tenant", asked, "-o", "json", "--save"])
            .arg(&save));
        assert_eq!(out.code, 5, "{asked}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{asked}: nothing printed");
        assert!(!save.exists(), "{asked}: nothing saved");
        assert!(out.stderr.contains("wrong customer"), "{}", out.stderr);
        assert!(out.stderr.contains(id(other)), "{}", out.stderr);
        assert!(out.stderr.contains(asked), "{}", out.stderr);
        assert!(
            token_entries(cache.path()).is_empty(),
            "{asked}: nothing cached"
        );
        // The sandbox answers honestly again: the token is the customer's own.
        let again = run(app_cmd(&sb, "token", cache.path()).args(["--tenant", asked, "-o", "raw"]));
        assert_eq!(again.code, 0, "{}", again.stderr);
        assert_eq!(claims(again.stdout.trim())["tid"], contoso["id"]);
    }
}

#[test]
fn api_refuses_another_customers_token_and_calls_nothing() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let cache = tempfile::tempdir().unwrap();
    hand_out_tokens_of(&sb, id(other), 1);
    let out = run(app_cmd(&sb, "api", cache.path()).args([
        "/api/alerts?$top=1",
        "--base-url",
        &sb.authority(),
        "--tenant",
        domain(contoso),
    ]));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("wrong customer"), "{}", out.stderr);
}

#[test]
fn api_with_a_token_file_checks_it_against_the_tenant_named() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let cache = tempfile::tempdir().unwrap();
    let saved = cache.path().join("other.json");
    let got = run(app_cmd(&sb, "token", cache.path())
        .args(["--tenant", id(other), "--save"])
        .arg(&saved));
    assert_eq!(got.code, 0, "{}", got.stderr);
    let api = |tenant: &str| {
        run(app_cmd(&sb, "api", cache.path())
            .args(["/api/alerts?$top=1", "--base-url", &sb.authority()])
            .args(["--tenant", tenant, "--token-file"])
            .arg(&saved))
    };
    let out = api(domain(contoso));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(out.stderr.contains("wrong customer"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&saved.display().to_string()),
        "{}",
        out.stderr
    );
    let out = api(domain(other));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn onboard_fails_only_the_tenant_that_got_another_customers_token() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("tenants.txt");
    std::fs::write(&list, format!("{}\n{}\n", domain(contoso), domain(other))).unwrap();
    // One at a time: the first token request (contoso's) gets the other tenant's token.
    hand_out_tokens_of(&sb, id(other), 1);
    let report = dir.path().join("report.ndjson");
    let out = run(app_cmd(&sb, "onboard", dir.path()).args([
        "--tenants",
        list.to_str().unwrap(),
        "--concurrency",
        "1",
        "--report",
        report.to_str().unwrap(),
    ]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    let lines: Vec<Value> = std::fs::read_to_string(&report)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let c = lines
        .iter()
        .find(|r| r["tenant"] == contoso["domain"])
        .unwrap();
    assert_eq!(c["status"], "failed", "{c}");
    assert_eq!(c["stage"], "token", "{c}");
    assert!(
        c["error"].as_str().unwrap().contains("wrong customer"),
        "{c}"
    );
    assert_eq!(
        c["tenant_id"], contoso["id"],
        "the tenant ID asked for: {c}"
    );
    let o = lines
        .iter()
        .find(|r| r["tenant"] == other["domain"])
        .unwrap();
    assert_eq!(o["status"], "ok", "{o}");
}

#[test]
fn a_cached_token_of_another_tenant_is_refused() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let cache = tempfile::tempdir().unwrap();
    let token = |tenant: &str| {
        run(app_cmd(&sb, "token", cache.path()).args(["--tenant", tenant, "-o", "raw"]))
    };
    assert_eq!(token(domain(contoso)).code, 0);
    let contoso_entry = token_entries(cache.path());
    assert_eq!(contoso_entry.len(), 1, "{contoso_entry:?}");
    assert_eq!(token(id(other)).code, 0);
    let other_entry: Vec<PathBuf> = token_entries(cache.path())
        .into_iter()
        .filter(|p| !contoso_entry.contains(p))
        .collect();
    assert_eq!(other_entry.len(), 1, "{other_entry:?}");
    // The contoso entry now holds the other customer's (valid, unexpired) token.
    std::fs::write(&contoso_entry[0], std::fs::read(&other_entry[0]).unwrap()).unwrap();
    let out = token(domain(contoso));
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "nothing printed");
    assert!(out.stderr.contains("wrong customer"), "{}", out.stderr);
    assert!(out.stderr.contains("cache"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&contoso_entry[0].display().to_string()),
        "names the entry: {}",
        out.stderr
    );
    // --no-cache goes around it.
    let fresh = run(app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        domain(contoso),
        "-o",
        "raw",
        "--no-cache",
    ]));
    assert_eq!(fresh.code, 0, "{}", fresh.stderr);
    assert_eq!(claims(fresh.stdout.trim())["tid"], contoso["id"]);
}

#[test]
fn a_domain_is_resolved_once_and_the_remembered_id_is_checked() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let cache = tempfile::tempdir().unwrap();
    let token = || {
        run(app_cmd(&sb, "token", cache.path()).args([
            "--tenant",
            domain(contoso),
            "-o",
            "raw",
            "--verbose",
        ]))
    };
    let first = token();
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stderr.contains("to its tenant ID"),
        "resolved through discovery: {}",
        first.stderr
    );
    let entries = tenant_entries(cache.path());
    assert_eq!(entries.len(), 1, "{entries:?}");
    let entry: Value = serde_json::from_slice(&std::fs::read(&entries[0]).unwrap()).unwrap();
    assert_eq!(entry["tenant_id"], contoso["id"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&entries[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let second = token();
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        second.stderr.contains("remembered") && !second.stderr.contains("to its tenant ID"),
        "no discovery the second time: {}",
        second.stderr
    );

    // A remembered ID that is wrong fails closed: the cached token is not handed out.
    let mut poisoned = entry.clone();
    poisoned["tenant_id"] = other["id"].clone();
    std::fs::write(&entries[0], poisoned.to_string()).unwrap();
    let out = token();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty());

    // An entry other users could have written is not trusted: resolved again.
    // (Mode bits are read, not enforced: this holds as root too.)
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&entries[0], std::fs::Permissions::from_mode(0o666)).unwrap();
        let out = token();
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stderr.contains("other users can write it"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("to its tenant ID"), "{}", out.stderr);
        assert_eq!(claims(out.stdout.trim())["tid"], contoso["id"]);
    }
}

#[test]
fn consent_listen_for_a_domain_refuses_consent_granted_in_another_tenant() {
    let sb = Sandbox::start();
    let contoso = sb.tenant(true);
    let other = sb.other_tenant();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("browser.log");
    let out = run(std::process::Command::new(crate::support::bin())
        .args([
            "consent",
            "--client-id",
            sb.app()["client_id"].as_str().unwrap(),
            "--tenant",
            domain(contoso),
            "--authority",
            &sb.authority(),
            "--listen",
            "--wait",
            "20",
            "-o",
            "json",
        ])
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .env("BROWSER", fake_browser())
        .env("FAKE_BROWSER_LOG", &log)
        // The admin signs in with another customer's account.
        .env("FAKE_BROWSER_ACCOUNT", other["users"][0].as_str().unwrap())
        .stdin(std::process::Stdio::null()));
    assert_eq!(out.code, 5, "{}\n{:?}", out.stderr, browser_log(&log));
    assert!(out.stdout.is_empty(), "no consent reported: {}", out.stdout);
    assert!(
        out.stderr
            .contains(&format!("consent was granted in tenant {}", id(other))),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains(domain(contoso)), "{}", out.stderr);
    assert!(out.stderr.contains(id(contoso)), "{}", out.stderr);
}
