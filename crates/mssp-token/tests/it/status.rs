//! `mssp-token status`: the offline inventory of a store's profiles. Profiles are made by real
//! `login --profile` runs against the sandbox, then aged or damaged by editing their files on
//! disk, as time and accidents would.

use crate::support::{bin, browser_log, clean_cmd, run, Output, Sandbox};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The store variables a developer's shell may hold, which would change what a test means.
fn without_store_env(c: &mut Command) -> &mut Command {
    c.env_remove("MSSP_TOKEN_STORE")
        .env_remove("MSSP_TOKEN_PASSPHRASE")
        .env_remove("MSSP_TOKEN_IDENTITY")
}

/// `login --profile NAME` against the sandbox, profiles under `data`.
fn login_profile(sb: &Sandbox, dir: &Path, data: &Path, name: &str, extra: &[&str]) {
    let log = dir.join(format!("browser-{name}.log"));
    let mut c = sb.login(&log, extra);
    without_store_env(&mut c)
        .args(["--profile", name, "-o", "raw"])
        .env("MSSP_TOKEN_DATA_DIR", data);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
}

/// `mssp-token status ARGS` over the profiles under `data`, with no store key in the
/// environment and no way to reach a network.
fn status(dir: &Path, data: &Path, args: &[&str]) -> Output {
    let mut c = clean_cmd(&dir.join("cache"));
    without_store_env(&mut c)
        .arg("status")
        .args(args)
        .env("MSSP_TOKEN_DATA_DIR", data);
    run(&mut c)
}

fn read(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// A copy of profile `from` named `to` (same folder), changed by `change`.
fn copy_profile(folder: &Path, from: &str, to: &str, ext: &str, change: impl FnOnce(&mut Value)) {
    let mut v = read(&folder.join(format!("{from}{ext}")));
    change(&mut v);
    let target = folder.join(format!("{to}{ext}"));
    std::fs::copy(folder.join(format!("{from}{ext}")), &target).unwrap();
    std::fs::write(&target, v.to_string()).unwrap();
}

fn json_list(out: &Output) -> Vec<Value> {
    serde_json::from_str::<Value>(&out.stdout)
        .unwrap_or_else(|e| panic!("status -o json is one JSON array ({e}):\n{}", out.stdout))
        .as_array()
        .expect("a JSON array")
        .clone()
}

fn by_name<'a>(list: &'a [Value], name: &str) -> &'a Value {
    list.iter()
        .find(|e| e["profile"] == name)
        .unwrap_or_else(|| panic!("no entry {name} in {list:?}"))
}

fn order(list: &[Value]) -> Vec<String> {
    list.iter()
        .map(|e| e["profile"].as_str().unwrap().to_string())
        .collect()
}

/// The command `login` needs to replace `profile` (what the test knows independently).
fn expected_login(sb: &Sandbox, profile: &Value, name: &str, target: &str, tail: &str) -> String {
    format!(
        "mssp-token login --tenant {} --client-id {} --authority {} {target} --profile {name}{tail}",
        profile["tenant_id"].as_str().unwrap(),
        sb.app()["client_id"].as_str().unwrap(),
        sb.authority(),
    )
}

#[test]
fn status_lists_every_profile_attention_first_with_days_left_and_the_login_command() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    login_profile(&sb, dir.path(), &data, "contoso", &[]);
    let scope = "https://api.securitycenter.microsoft.com/Alert.Read";
    login_profile(
        &sb,
        dir.path(),
        &data,
        "partner",
        &["--partner", "--scope", scope],
    );
    let folder = data.join("profiles");
    let contoso = read(&folder.join("contoso.json"));
    let t = now();
    let resource = "--resource https://api.securitycenter.microsoft.com";

    // Aged and damaged the way time and accidents do it.
    copy_profile(&folder, "contoso", "aged-89", ".json", |v| {
        v["refresh_token_at"] = json!(t - 89 * DAY);
        v["obtained_at"] = json!(t - 89 * DAY);
    });
    copy_profile(&folder, "contoso", "aged-91", ".json", |v| {
        v["refresh_token_at"] = json!(t - 91 * DAY);
        v["obtained_at"] = json!(t - 91 * DAY);
    });
    copy_profile(&folder, "partner", "partner-old", ".json", |v| {
        v["refresh_token_at"] = json!(t - 120 * DAY);
    });
    copy_profile(&folder, "contoso", "dead", ".json", |v| {
        v["last_error"] = json!({
            "at": t - 3600,
            "message": "AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access.",
            "aadsts": 70043,
            "needs_login": true
        });
    });
    copy_profile(&folder, "contoso", "flaky", ".json", |v| {
        v["last_error"] = json!({
            "at": t - 600,
            "message": "no answer within the deadline of 60 s",
            "aadsts": null,
            "needs_login": false
        });
    });
    copy_profile(&folder, "contoso", "expired-at", ".json", |v| {
        v["expires_on"] = json!(t - 3600);
    });
    std::fs::write(
        folder.join("broken.json"),
        "{\"token_type\": \"Bearer\", trunc",
    )
    .unwrap();

    let expected_order = [
        "aged-91",     // needs a sign-in, 0 days left
        "partner-old", // needs a sign-in, 0 days left
        "dead",        // needs a sign-in (Conditional Access), 90 days left
        "broken",      // unreadable
        "flaky",       // the last refresh failed
        "aged-89",     // 1 day left
        "expired-at",  // 90 days left, access token expired
        "contoso",     // 90 days left
        "partner",     // 90 days left
    ];

    // -o json: one array, the ones that need attention first.
    let out = status(dir.path(), &data, &["-o", "json"]);
    assert_eq!(
        out.code, 7,
        "an unreadable profile is exit 7: {}",
        out.stderr
    );
    let list = json_list(&out);
    assert_eq!(order(&list), expected_order, "{}", out.stdout);
    for secret in ["access_token", "refresh_token", "id_token"] {
        if let Some(s) = contoso[secret].as_str() {
            assert!(!out.stdout.contains(s), "status printed the {secret}");
            assert!(!out.stderr.contains(s), "status printed the {secret}");
        }
    }

    let e = by_name(&list, "aged-91");
    assert_eq!(e["state"], "needs_login");
    assert_eq!(e["needs_login"], true);
    assert_eq!(e["days_left"], 0);
    assert_eq!(e["refresh_token_age_days"], 91);
    assert!(e["reason"].as_str().unwrap().contains("90 days"), "{e}");
    assert_eq!(
        e["command"],
        expected_login(&sb, &contoso, "aged-91", resource, "")
    );

    let e = by_name(&list, "partner-old");
    assert_eq!(e["kind"], "partner");
    assert_eq!(e["needs_login"], true);
    assert_eq!(
        e["command"],
        expected_login(
            &sb,
            &contoso,
            "partner-old",
            &format!("--scope {scope}"),
            " --partner"
        )
    );

    let e = by_name(&list, "dead");
    assert_eq!(e["needs_login"], true);
    assert_eq!(e["days_left"], 90, "{e}");
    assert_eq!(e["last_error"]["aadsts"], 70043);
    assert!(e["reason"].as_str().unwrap().contains("AADSTS70043"), "{e}");
    assert_eq!(
        e["command"],
        expected_login(&sb, &contoso, "dead", resource, "")
    );

    let e = by_name(&list, "broken");
    assert_eq!(e["state"], "unreadable");
    assert_eq!(e["needs_login"], false);
    let why = e["error"].as_str().unwrap();
    assert!(
        why.contains(folder.join("broken.json").to_str().unwrap()),
        "{why}"
    );
    assert!(why.contains("logout --profile broken"), "{why}");

    let e = by_name(&list, "flaky");
    assert_eq!(e["state"], "error");
    assert_eq!(e["needs_login"], false);
    assert!(e["command"].is_null());
    assert_eq!(
        e["last_error"]["message"],
        "no answer within the deadline of 60 s"
    );

    let e = by_name(&list, "aged-89");
    assert_eq!(e["state"], "ok");
    assert_eq!(e["days_left"], 1);
    assert_eq!(e["refresh_token_age_days"], 89);
    assert_eq!(e["needs_login"], false);
    assert!(e["command"].is_null());

    assert_eq!(by_name(&list, "expired-at")["access_token_expired"], true);

    let e = by_name(&list, "contoso");
    assert_eq!(e["state"], "ok");
    assert_eq!(e["days_left"], 90);
    assert_eq!(e["tenant_id"], contoso["tenant_id"]);
    assert_eq!(e["client_id"], sb.app()["client_id"]);
    assert_eq!(e["cloud"], Value::Null, "a custom authority has no cloud");
    assert_eq!(e["authority"], sb.authority());
    assert_eq!(e["kind"], "delegated");
    assert_eq!(e["resource"], "https://api.securitycenter.microsoft.com");
    assert_eq!(e["has_refresh_token"], true);
    assert_eq!(e["access_token_expired"], false);
    assert_eq!(e["access_token_expires_at"], contoso["expires_at"]);
    assert!(e["last_refreshed"].is_null());
    assert!(e["last_error"].is_null());

    assert!(
        out.stderr.contains("1 of 9 profiles could not be read")
            && out
                .stderr
                .contains(folder.join("broken.json").to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("9 profiles in the file store")
            && out.stderr.contains("3 need a sign-in"),
        "{}",
        out.stderr
    );

    // The table: aligned columns, the same order, no colour off a terminal, the commands under it.
    let out = status(dir.path(), &data, &[]);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(!out.stdout.contains('\u{1b}'), "no colour when not a TTY");
    let lines: Vec<&str> = out.stdout.lines().collect();
    let header = lines[0];
    assert!(header.starts_with("PROFILE"), "{}", out.stdout);
    let rows = &lines[1..=expected_order.len()];
    let names: Vec<&str> = rows
        .iter()
        .map(|r| r.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(names, expected_order, "{}", out.stdout);
    for column in [
        "STATE",
        "TENANT",
        "CLIENT",
        "CLOUD",
        "KIND",
        "RT AGE",
        "LAST REFRESHED",
        "DAYS LEFT",
        "ACCESS TOKEN",
        "LAST ERROR",
    ] {
        let at = header.find(column).unwrap();
        for row in rows {
            assert!(
                row.is_char_boundary(at)
                    && row[..at].ends_with("  ")
                    && !row[at..].starts_with(' '),
                "column {column} not aligned in:\n{}",
                out.stdout
            );
        }
    }
    let cell = |name: &str, column: &str| -> String {
        let at = header.find(column).unwrap();
        let row = rows[expected_order.iter().position(|n| *n == name).unwrap()];
        row[at..].split("  ").next().unwrap().to_string()
    };
    assert_eq!(cell("aged-91", "STATE"), "needs login");
    assert_eq!(cell("broken", "STATE"), "unreadable");
    assert_eq!(cell("flaky", "STATE"), "error");
    assert_eq!(cell("aged-89", "DAYS LEFT"), "1");
    assert_eq!(cell("aged-89", "RT AGE"), "89 days");
    assert_eq!(cell("contoso", "DAYS LEFT"), "90");
    assert_eq!(cell("contoso", "LAST REFRESHED"), "never");
    assert_eq!(cell("contoso", "KIND"), "delegated");
    assert_eq!(cell("partner", "KIND"), "partner");
    assert_eq!(
        cell("contoso", "TENANT"),
        contoso["tenant_id"].as_str().unwrap()
    );
    assert!(cell("expired-at", "ACCESS TOKEN").starts_with("expired "));
    assert!(cell("contoso", "ACCESS TOKEN").starts_with("expires in "));
    assert!(cell("dead", "LAST ERROR").starts_with("AADSTS70043"));
    let under = out
        .stdout
        .split("\n\n")
        .nth(1)
        .expect("commands under the table");
    assert!(
        under.starts_with("3 profiles need a person to sign in again:"),
        "{under}"
    );
    for name in ["aged-91", "partner-old", "dead"] {
        let e = by_name(&list, name);
        let line = format!("  {name}: {}", e["command"].as_str().unwrap());
        assert!(under.lines().any(|l| l == line), "{line} in:\n{under}");
    }
}

#[test]
fn a_session_revoked_in_entra_shows_as_needing_login_after_refresh_all() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    login_profile(&sb, dir.path(), &data, "contoso", &[]);
    let other = sb.other_tenant()["domain"].as_str().unwrap().to_string();
    login_profile(&sb, dir.path(), &data, "fabrikam", &["--tenant", &other]);
    let contoso = read(&data.join("profiles/contoso.json"));
    let tenant = contoso["tenant_id"].as_str().unwrap();

    // An admin revokes the customer's sessions (or Conditional Access ends them).
    let revoked = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("{}/sandbox/revoke-sessions", sb.authority()))
        .arg("--data-urlencode")
        .arg(format!("tenant={tenant}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&revoked.stdout), "200");

    let mut keep_alive = Command::new(bin());
    without_store_env(&mut keep_alive)
        .args(["refresh", "--all"])
        .env("MSSP_TOKEN_DATA_DIR", &data)
        .env(
            "AZURE_CLIENT_SECRET",
            sb.app()["client_secret"].as_str().unwrap(),
        )
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::null());
    let out = run(&mut keep_alive);
    assert_eq!(out.code, 8, "{}\n{}", out.stdout, out.stderr);

    let out = status(dir.path(), &data, &["-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = json_list(&out);
    assert_eq!(order(&list), ["contoso", "fabrikam"]);
    let e = by_name(&list, "contoso");
    assert_eq!(e["state"], "needs_login");
    assert_eq!(e["needs_login"], true);
    assert_eq!(e["last_error"]["aadsts"], 50173, "{e}");
    assert_eq!(e["last_error"]["needs_login"], true);
    assert!(e["reason"].as_str().unwrap().contains("AADSTS50173"), "{e}");
    let command = expected_login(
        &sb,
        &contoso,
        "contoso",
        "--resource https://api.securitycenter.microsoft.com",
        "",
    );
    assert_eq!(e["command"], command.as_str());
    let e = by_name(&list, "fabrikam");
    assert_eq!(e["state"], "ok");
    assert_eq!(e["needs_login"], false);
    assert!(
        e["last_refreshed"].is_string(),
        "refresh --all renewed it: {e}"
    );
    assert_eq!(e["days_left"], 90);

    let out = status(dir.path(), &data, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains(&format!(
            "1 profile needs a person to sign in again:\n  contoso: {command}\n"
        )),
        "{}",
        out.stdout
    );
    assert!(
        out.stderr.contains("2 profiles in the file store"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_empty_store_says_so_on_stderr_and_prints_an_empty_list() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = status(dir.path(), &data, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout, "");
    assert!(
        out.stderr.contains("No profiles in the file store")
            && out.stderr.contains(data.join("profiles").to_str().unwrap()),
        "{}",
        out.stderr
    );
    let out = status(dir.path(), &data, &["-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), "[]");
    assert!(
        !data.exists(),
        "status only reads: it created {}",
        data.display()
    );

    // `none` keeps nothing, so it has nothing to list.
    let out = status(dir.path(), &data, &["--store", "none"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("keeps nothing"), "{}", out.stderr);
}

/// An encrypted profile made with a passphrase, under `data`.
fn encrypted_profile(sb: &Sandbox, dir: &Path, data: &Path, name: &str) -> PathBuf {
    let log = dir.join("browser.log");
    let mut c = sb.login(&log, &[]);
    without_store_env(&mut c)
        .args(["--profile", name, "--store", "encrypted", "-o", "raw"])
        .env("MSSP_TOKEN_DATA_DIR", data)
        .env("MSSP_TOKEN_PASSPHRASE", "correct horse battery staple");
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
    data.join("vault")
}

#[test]
fn status_lists_the_encrypted_store_without_its_passphrase() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let vault = encrypted_profile(&sb, dir.path(), &data, "fabrikam");
    let sealed = std::fs::read(vault.join("fabrikam.age")).unwrap();
    let index = read(&vault.join("fabrikam.meta.json"));

    // No MSSP_TOKEN_PASSPHRASE, no --passphrase-file, no identity: the index is enough.
    let out = status(dir.path(), &data, &["--store", "encrypted", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = json_list(&out);
    assert_eq!(order(&list), ["fabrikam"]);
    let e = &list[0];
    assert_eq!(e["state"], "ok");
    assert_eq!(e["tenant_id"], index["tenant_id"]);
    assert_eq!(e["days_left"], 90);
    assert!(
        e["location"].as_str().unwrap().contains("fabrikam.age"),
        "{e}"
    );
    assert_eq!(std::fs::read(vault.join("fabrikam.age")).unwrap(), sealed);

    // An aged one gets the command that saves into the encrypted store again.
    copy_profile(&vault, "fabrikam", "old", ".meta.json", |v| {
        v["refresh_token_at"] = json!(now() - 100 * DAY);
    });
    let out = status(dir.path(), &data, &["--store", "encrypted", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let list = json_list(&out);
    assert_eq!(order(&list), ["old", "fabrikam"]);
    assert!(
        list[0]["command"]
            .as_str()
            .unwrap()
            .ends_with("--profile old --store encrypted"),
        "{}",
        list[0]
    );

    // The file store is empty, and says where the profiles are.
    let out = status(dir.path(), &data, &[]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains("No profiles in the file store")
            && out.stderr.contains("the encrypted store")
            && out.stderr.contains("has fabrikam, old")
            && out.stderr.contains("--store encrypted"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_hostile_index_entry_is_listed_as_unreadable_and_reaches_the_terminal_clean() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let vault = encrypted_profile(&sb, dir.path(), &data, "fabrikam");
    copy_profile(&vault, "fabrikam", "escape", ".meta.json", |v| {
        v["tenant_id"] = json!("\u{1b}]0;pwned\u{7}\u{1b}[31m");
    });
    copy_profile(&vault, "fabrikam", "inject", ".meta.json", |v| {
        v["resource"] = json!("https://x; touch /tmp/pwned-by-status");
    });
    copy_profile(&vault, "fabrikam", "wrongtype", ".meta.json", |v| {
        v["expires_on"] = json!("\u{1b}[2Jsoon");
        v["refresh_token_at"] = json!(now() - 100 * DAY);
    });
    std::fs::write(vault.join("notjson.meta.json"), "\u{1b}[31m{{{").unwrap();

    for format in ["text", "json"] {
        let out = status(dir.path(), &data, &["--store", "encrypted", "-o", format]);
        assert_eq!(out.code, 7, "{}", out.stderr);
        assert!(!out.stdout.contains('\u{1b}'), "{}", out.stdout);
        assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
        assert!(!out.stdout.contains("touch /tmp"), "{}", out.stdout);
        assert!(
            out.stderr.contains("4 of 5 profiles could not be read"),
            "{}",
            out.stderr
        );
    }
    let out = status(dir.path(), &data, &["--store", "encrypted", "-o", "json"]);
    let list = json_list(&out);
    assert_eq!(
        order(&list),
        ["escape", "inject", "notjson", "wrongtype", "fabrikam"]
    );
    let why = |n: &str| by_name(&list, n)["error"].as_str().unwrap().to_string();
    assert!(why("escape").contains("tenant_id"), "{}", why("escape"));
    assert!(
        why("inject").contains("resource or scope"),
        "{}",
        why("inject")
    );
    assert!(
        why("wrongtype").contains("expires_on"),
        "{}",
        why("wrongtype")
    );
    assert!(
        why("notjson").contains("notjson.meta.json"),
        "{}",
        why("notjson")
    );
    for n in ["escape", "inject", "notjson", "wrongtype"] {
        let e = by_name(&list, n);
        assert_eq!(e["state"], "unreadable");
        assert!(e["command"].is_null(), "{e}");
        assert!(why(n).contains("--store encrypted"), "{}", why(n));
    }
}
