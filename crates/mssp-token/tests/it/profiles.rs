//! Profiles in the file store (issue 10 items 1, 4, 5, 6 and "Bad input"): `login --profile`
//! saves, `token`/`api`/`inspect`/`refresh --profile` read (and write the rotation back),
//! `refresh --all` keeps every profile alive, `refresh --from FILE --profile NAME` imports,
//! `logout` deletes, and bad input gets a clear error with nothing lost.
//!
//! Every test has its own data folder (MSSP_TOKEN_DATA_DIR) and token cache; the store is the
//! default one (`file`). Whether a refresh token still works is asked of the sandbox itself
//! (its token endpoint, with curl), not of mssp-token.

use crate::support::{bin, browser_log, claims, run, Output, Sandbox};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A private data folder and cache for one test.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    /// The file store's folder.
    fn store(&self) -> PathBuf {
        self.data().join("profiles")
    }

    fn file(&self, name: &str) -> PathBuf {
        self.store().join(format!("{name}.json"))
    }

    fn read(&self, name: &str) -> Value {
        let bytes = std::fs::read(self.file(name)).unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn write(&self, name: &str, v: &Value) {
        std::fs::create_dir_all(self.store()).unwrap();
        set_mode(&self.data(), 0o700);
        set_mode(&self.store(), 0o700);
        std::fs::write(self.file(name), v.to_string()).unwrap();
        set_mode(&self.file(name), 0o600);
    }

    /// Applies `env` to a command: this home's data folder and cache, the sandbox app's secret,
    /// nothing of the caller's environment that would change what the test means.
    fn env<'c>(&self, sb: Option<&Sandbox>, c: &'c mut Command) -> &'c mut Command {
        for var in [
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_AUTHORITY_HOST",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            "AZURE_FEDERATED_TOKEN_FILE",
            "SSL_CERT_FILE",
            "MSSP_TOKEN_STORE",
            "MSSP_TOKEN_PASSPHRASE",
            "MSSP_TOKEN_IDENTITY",
            "MSSP_TOKEN_LOCK_WAIT_SECS",
            "HTTPS_PROXY",
            "https_proxy",
            "HTTP_PROXY",
            "http_proxy",
            "ALL_PROXY",
            "all_proxy",
        ] {
            c.env_remove(var);
        }
        c.env("MSSP_TOKEN_DATA_DIR", self.data())
            .env("MSSP_TOKEN_CACHE_DIR", self.path().join("cache"))
            .stdin(Stdio::null());
        if let Some(sb) = sb {
            c.env(
                "AZURE_CLIENT_SECRET",
                sb.app()["client_secret"].as_str().unwrap(),
            );
        }
        c
    }

    /// `mssp-token ARGS` in this home.
    fn cmd(&self, sb: Option<&Sandbox>, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args);
        self.env(sb, &mut c);
        c
    }

    /// `mssp-token login --profile NAME` against the sandbox (the browser stand-in signs in);
    /// `extra` may name --tenant, --scope, ...
    fn login(&self, sb: &Sandbox, name: &str, extra: &[&str]) -> Value {
        let log = self.path().join(format!("browser-{name}.log"));
        let mut c = sb.login(&log, extra);
        c.args(["--profile", name, "-o", "json"]);
        self.env(Some(sb), &mut c);
        c.env("BROWSER", crate::support::fake_browser())
            .env("FAKE_BROWSER_LOG", &log);
        let out = run(&mut c);
        assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
        serde_json::from_str(out.stdout.trim()).unwrap()
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// Asks the sandbox's token endpoint to redeem `rt` for the main app in `tenant`: Ok(new set)
/// or Err(the error answer). (This redeems it: use it on tokens expected to be dead, or last.)
fn redeem_at_sandbox(sb: &Sandbox, tenant: &str, rt: &str) -> Result<Value, Value> {
    let app = sb.app();
    let out = Command::new("curl")
        .args(["-sS", "-X", "POST"])
        .arg(format!("{}/{tenant}/oauth2/token", sb.authority()))
        .args(["--data-urlencode", "grant_type=refresh_token"])
        .arg("--data-urlencode")
        .arg(format!("client_id={}", s(&app["client_id"])))
        .arg("--data-urlencode")
        .arg(format!("client_secret={}", s(&app["client_secret"])))
        .arg("--data-urlencode")
        .arg(format!("refresh_token={rt}"))
        .arg("--data-urlencode")
        .arg("resource=https://api.securitycenter.microsoft.com")
        .output()
        .expect("curl");
    let v: Value = serde_json::from_slice(&out.stdout).expect("a JSON answer");
    if v["access_token"].is_string() {
        Ok(v)
    } else {
        Err(v)
    }
}

/// Asserts that `rt` no longer works at the sandbox (rotated out or revoked).
fn assert_dead(sb: &Sandbox, tenant: &str, rt: &str) {
    let e = redeem_at_sandbox(sb, tenant, rt).expect_err("the old refresh token must be dead");
    assert_eq!(e["error"], "invalid_grant", "{e}");
}

/// POST /sandbox/revoke-sessions for `tenant`: every refresh token there dies (AADSTS50173).
fn revoke_sessions(sb: &Sandbox, tenant: &str) {
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("{}/sandbox/revoke-sessions", sb.authority()))
        .arg("--data-urlencode")
        .arg(format!("tenant={tenant}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200");
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ndjson(out: &Output) -> Vec<Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn line_of<'a>(lines: &'a [Value], profile: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["profile"] == profile)
        .unwrap_or_else(|| panic!("no line for {profile}: {lines:?}"))
}

const HISTORY: [&str; 6] = [
    "profile",
    "kind",
    "obtained_at",
    "refresh_token_at",
    "last_refreshed",
    "last_error",
];

// ---- Item 1: login saves; token, api, inspect and refresh read it ----

#[test]
fn login_saves_a_private_profile_that_is_the_save_object_plus_history() {
    let sb = Sandbox::start();
    let home = Home::new();
    let printed = home.login(&sb, "contoso", &[]);
    let file = home.file("contoso");
    assert_eq!(mode(&file), 0o600);
    assert_eq!(mode(&home.store()), 0o700);
    assert_eq!(mode(&home.data()), 0o700);

    let p = home.read("contoso");
    // The same JSON object as `--save` (what was printed), plus the history.
    for (k, v) in printed.as_object().unwrap() {
        assert_eq!(&p[k], v, "{k}");
    }
    let extra: Vec<&String> = p
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| !printed.as_object().unwrap().contains_key(*k))
        .collect();
    assert_eq!(extra.len(), HISTORY.len(), "{extra:?}");
    for k in HISTORY {
        assert!(p.get(k).is_some(), "{k} in {p}");
    }
    assert_eq!(p["profile"], "contoso");
    assert_eq!(p["kind"], "delegated");
    assert_eq!(p["authority"], sb.authority());
    assert_eq!(p["tenant_id"], sb.tenant(true)["id"]);
    assert!(p["obtained_at"].as_u64().unwrap() >= now() - 60);
    assert_eq!(p["refresh_token_at"], p["obtained_at"]);
    assert!(p["last_refreshed"].is_null() && p["last_error"].is_null());

    // `inspect --profile` reads the stored access token, offline.
    let out = run(&mut home.cmd(None, &["inspect", "--profile", "contoso", "-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let report: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(report["claims"]["tid"], p["tenant_id"]);
    assert_eq!(
        report["claims"]["aud"],
        "https://api.securitycenter.microsoft.com"
    );
}

#[test]
fn login_says_where_it_saved_and_partner_profiles_are_kind_partner() {
    let sb = Sandbox::start();
    let home = Home::new();
    let log = home.path().join("browser.log");
    let mut c = sb.login(&log, &["--partner", "--profile", "mssp", "-o", "raw"]);
    home.env(Some(&sb), &mut c)
        .env("BROWSER", crate::support::fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let shown = format!("Saved as profile mssp ({}).", home.file("mssp").display());
    assert!(out.stderr.contains(&shown), "{}", out.stderr);
    assert_eq!(home.read("mssp")["kind"], "partner");
}

#[test]
fn login_with_both_save_and_profile_is_refused_before_signing_in() {
    let sb = Sandbox::start();
    let home = Home::new();
    let log = home.path().join("browser.log");
    let saved = home.path().join("contoso.json");
    let mut c = sb.login(&log, &["--profile", "contoso", "--save"]);
    c.arg(&saved);
    home.env(Some(&sb), &mut c)
        .env("BROWSER", crate::support::fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    let out = run(&mut c);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("would both keep the refresh token")
            && out.stderr.contains("refresh --from FILE --profile contoso"),
        "{}",
        out.stderr
    );
    assert!(browser_log(&log).is_empty(), "no browser was opened");
    assert!(!saved.exists() && !home.file("contoso").exists());
}

#[test]
fn a_new_sign_in_never_replaces_another_customers_profile() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let before = std::fs::read(home.file("contoso")).unwrap();
    let log = home.path().join("browser.log");
    let fabrikam = s(&sb.other_tenant()["domain"]).to_string();
    let mut c = sb.login(
        &log,
        &["--tenant", &fabrikam, "--profile", "contoso", "-o", "raw"],
    );
    home.env(Some(&sb), &mut c)
        .env("BROWSER", crate::support::fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    let out = run(&mut c);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("holds the session of tenant")
            && out.stderr.contains("mssp-token logout --profile contoso"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty(), "nothing printed");
    assert_eq!(std::fs::read(home.file("contoso")).unwrap(), before);

    // The same customer again replaces it (the remedy for a dead session).
    let again = home.login(&sb, "contoso", &[]);
    assert_eq!(
        home.read("contoso")["refresh_token"],
        again["refresh_token"]
    );
}

#[test]
fn token_profile_hands_out_the_stored_token_while_it_is_fresh() {
    let mut sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let stored = home.read("contoso");
    sb.stop();
    let out = run(&mut home.cmd(None, &["token", "--profile", "contoso", "-o", "raw"]));
    assert_eq!(out.code, 0, "offline: {}", out.stderr);
    assert_eq!(out.stdout.trim(), s(&stored["access_token"]));
    assert_eq!(home.read("contoso"), stored, "nothing rewritten");
}

#[test]
fn token_profile_refreshes_when_less_than_five_minutes_are_left_and_stores_the_rotation() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let mut p = home.read("contoso");
    let old_rt = s(&p["refresh_token"]).to_string();
    let old_at = s(&p["access_token"]).to_string();
    // Four minutes left.
    p["expires_on"] = json!(now() + 240);
    home.write("contoso", &p);

    let out = run(&mut home.cmd(Some(&sb), &["token", "--profile", "contoso", "-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let printed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_ne!(printed["access_token"], old_at, "a new access token");
    assert!(printed["expires_on"].as_u64().unwrap() > now() + 300);
    let after = home.read("contoso");
    assert_eq!(after["access_token"], printed["access_token"]);
    assert_eq!(after["refresh_token"], printed["refresh_token"]);
    assert_ne!(
        s(&after["refresh_token"]),
        old_rt,
        "rotated and written back"
    );
    assert!(after["last_refreshed"].as_u64().is_some());
    assert_eq!(mode(&home.file("contoso")), 0o600);
    assert_dead(&sb, s(&after["tenant_id"]), &old_rt);
}

#[test]
fn refresh_profile_rotates_and_keeps_the_history() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let mut p = home.read("contoso");
    // As if signed in a month ago, with a failure recorded since.
    let month_ago = now() - 30 * 86400;
    p["obtained_at"] = json!(month_ago);
    p["refresh_token_at"] = json!(month_ago);
    p["last_error"] =
        json!({"at": month_ago, "message": "network down", "aadsts": null, "needs_login": false});
    home.write("contoso", &p);
    let old_rt = s(&p["refresh_token"]).to_string();

    let out = run(&mut home.cmd(
        Some(&sb),
        &["refresh", "--profile", "contoso", "-o", "json"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "the new refresh token is saved in profile contoso ({})",
            home.file("contoso").display()
        )),
        "{}",
        out.stderr
    );
    let printed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let after = home.read("contoso");
    assert_eq!(after["refresh_token"], printed["refresh_token"]);
    assert_ne!(s(&after["refresh_token"]), old_rt);
    assert_eq!(after["obtained_at"], json!(month_ago), "obtained_at kept");
    let moved = after["refresh_token_at"].as_u64().unwrap();
    assert!(moved > month_ago, "refresh_token_at moved");
    assert_eq!(after["last_refreshed"].as_u64(), Some(moved));
    assert!(after["last_error"].is_null(), "last_error cleared");
    assert_eq!(after["profile"], "contoso");
    assert_eq!(after["kind"], "delegated");
    assert_eq!(mode(&home.file("contoso")), 0o600);
    assert_dead(&sb, s(&after["tenant_id"]), &old_rt);
}

#[test]
fn api_profile_uses_the_profiles_token_for_its_own_api_and_redeems_one_for_another() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(
        &sb,
        "contoso",
        &[
            "--scope",
            "https://api.securitycenter.microsoft.com/Alert.Read",
            "--scope",
            "https://api.securitycenter.microsoft.com/Incident.Read",
        ],
    );
    let own = home.read("contoso");
    let base = sb.authority();

    // Defender for Endpoint: the profile's own token is for that audience; nothing redeemed.
    let out = run(&mut home.cmd(
        Some(&sb),
        &[
            "api",
            "--profile",
            "contoso",
            "--base-url",
            &base,
            "/api/alerts?$top=2",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["value"].as_array().is_some_and(|a| !a.is_empty()), "{v}");
    assert_eq!(home.read("contoso"), own, "the fresh own token was used");

    // Defender XDR: a token for its audience, redeemed with the profile's refresh token.
    let out = run(&mut home.cmd(
        Some(&sb),
        &[
            "api",
            "--profile",
            "contoso",
            "--base-url",
            &base,
            "--api",
            "xdr",
            "/api/incidents?$top=2",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["value"].is_array(), "{v}");
    let after = home.read("contoso");
    assert_ne!(
        after["refresh_token"], own["refresh_token"],
        "rotation stored"
    );
    // The profile is still what it was signed in for.
    assert_eq!(after["scope"], own["scope"]);
    assert_eq!(after["access_token"], own["access_token"]);
    assert_dead(&sb, s(&own["tenant_id"]), s(&own["refresh_token"]));
}

#[test]
fn token_profile_for_another_resource_keeps_the_profiles_own_target() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let own = home.read("contoso");
    let xdr = "https://api.security.microsoft.com";
    let out = run(&mut home.cmd(
        Some(&sb),
        &[
            "token",
            "--profile",
            "contoso",
            "--resource",
            xdr,
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let printed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(claims(s(&printed["access_token"]))["aud"], xdr);
    let after = home.read("contoso");
    assert_eq!(after["resource"], own["resource"]);
    assert_eq!(after["access_token"], own["access_token"]);
    assert_eq!(after["refresh_token"], printed["refresh_token"]);

    // And `refresh --all` still renews it for its own resource.
    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--all"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let renewed = home.read("contoso");
    assert_eq!(
        claims(s(&renewed["access_token"]))["aud"],
        "https://api.securitycenter.microsoft.com"
    );
}

// ---- Item 4: refresh --all ----

#[test]
fn refresh_all_reports_a_revoked_session_with_its_login_command_and_goes_on() {
    let sb = Sandbox::start();
    let home = Home::new();
    let fabrikam = sb.other_tenant().clone();
    home.login(&sb, "contoso", &[]);
    home.login(
        &sb,
        "contoso-v2",
        &[
            "--scope",
            "https://api.securitycenter.microsoft.com/Alert.Read",
        ],
    );
    home.login(&sb, "fabrikam", &["--tenant", s(&fabrikam["domain"])]);
    let before: Vec<Value> = ["contoso", "contoso-v2", "fabrikam"]
        .iter()
        .map(|n| home.read(n))
        .collect();
    revoke_sessions(&sb, s(&fabrikam["id"]));

    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--all", "--concurrency", "2"]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    let lines = ndjson(&out);
    assert_eq!(lines.len(), 3, "{}", out.stdout);
    for name in ["contoso", "contoso-v2"] {
        let l = line_of(&lines, name);
        assert_eq!(l["status"], "ok", "{l}");
        assert_eq!(l["needs_login"], false);
        assert!(l["command"].is_null());
    }
    let dead = line_of(&lines, "fabrikam");
    assert_eq!(dead["status"], "failed");
    assert_eq!(dead["needs_login"], true);
    assert_eq!(dead["aadsts"], 50173);
    assert_eq!(dead["tenant_id"], fabrikam["id"]);
    let command = format!(
        "mssp-token login --tenant {} --client-id {} --authority {} --resource https://api.securitycenter.microsoft.com --profile fabrikam",
        s(&fabrikam["id"]),
        s(&sb.app()["client_id"]),
        sb.authority()
    );
    assert_eq!(dead["command"], command.as_str());
    let error = s(&dead["error"]);
    assert!(
        error.contains("AADSTS50173 (invalid_grant)") && !error.contains('\n'),
        "Entra's answer, on one line: {error}"
    );
    // Recorded in the profile for `status`; its tokens untouched.
    let fab = home.read("fabrikam");
    assert_eq!(fab["last_error"]["needs_login"], true);
    assert_eq!(fab["last_error"]["aadsts"], 50173);
    assert_eq!(fab["refresh_token"], before[2]["refresh_token"]);
    // The others rotated.
    for (i, name) in ["contoso", "contoso-v2"].iter().enumerate() {
        assert_ne!(home.read(name)["refresh_token"], before[i]["refresh_token"]);
    }
    // The summary on stderr, with the command.
    assert!(
        out.stderr.contains("Refreshed 2 of 3 profiles; 1 failed")
            && out
                .stderr
                .contains("1 needs a person to sign in again (fabrikam)")
            && out.stderr.contains(&command),
        "{}",
        out.stderr
    );

    // Signed in again: all ok, exit 0, and the error is cleared.
    home.login(&sb, "fabrikam", &["--tenant", s(&fabrikam["domain"])]);
    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--all"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(ndjson(&out).iter().all(|l| l["status"] == "ok"));
    assert!(
        out.stderr.contains("Refreshed 3 of 3 profiles; 0 failed"),
        "{}",
        out.stderr
    );
    assert!(home.read("fabrikam")["last_error"].is_null());
}

#[test]
fn refresh_all_with_no_profiles_says_so() {
    let home = Home::new();
    let out = run(&mut home.cmd(None, &["refresh", "--all"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("No profiles in the file store")
            && out.stderr.contains("login --profile NAME"),
        "{}",
        out.stderr
    );
}

/// A login host that accepts connections and never answers.
fn stalled_authority() -> (String, std::thread::JoinHandle<()>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().take(16) {
            match conn {
                Ok(c) => held.push(c),
                Err(_) => break,
            }
        }
    });
    (url, handle)
}

#[test]
fn refresh_all_deadline_cuts_only_the_stalled_profile() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    // A second profile whose login host never answers.
    let (stalled, _server) = stalled_authority();
    let mut p = home.read("contoso");
    p["authority"] = json!(stalled);
    p["profile"] = json!("stalled");
    p["refresh_token"] = json!("0.never-sent-anywhere-real");
    home.write("stalled", &p);

    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--all", "--deadline", "2"]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    let lines = ndjson(&out);
    assert_eq!(line_of(&lines, "contoso")["status"], "ok");
    let cut = line_of(&lines, "stalled");
    assert_eq!(cut["status"], "failed");
    assert_eq!(cut["needs_login"], false);
    assert!(s(&cut["error"]).contains("deadline of 2 s"), "{cut}");
    let recorded = home.read("stalled");
    assert!(s(&recorded["last_error"]["message"]).contains("deadline"));
    assert_eq!(recorded["refresh_token"], "0.never-sent-anywhere-real");
}

// ---- A fake login host for the tests that must control the token endpoint ----

const TID: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";
const CID: &str = "b64a329e-a098-404b-99fd-26066cccda7e";
const RESOURCE: &str = "https://api.securitycenter.microsoft.com";

fn b64(v: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// A token answer for [`TID`], refresh token `0.rotated-N`.
fn token_answer(n: usize) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let now = now();
    let at = format!(
        "{}.{}.c2ln",
        b64(r#"{"alg":"RS256","typ":"JWT"}"#),
        b64(&format!(
            r#"{{"tid":"{TID}","aud":"{RESOURCE}","appid":"{CID}","iat":{now},"nbf":{now},"exp":{}}}"#,
            now + 3600
        ))
    );
    let body = format!(
        r#"{{"token_type":"Bearer","expires_in":"3599","resource":"{RESOURCE}","access_token":"{at}","refresh_token":"0.rotated-{n}"}}"#
    );
    tiny_http::Response::from_data(body.into_bytes())
        .with_header(tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap())
}

/// A profile as mssp-token saves it, obtained at `authority` (a fake login host).
fn fake_profile(home: &Home, name: &str, authority: &str) {
    let v = json!({
        "token_type": "Bearer",
        "access_token": format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64(&format!(r#"{{"tid":"{TID}"}}"#))),
        "refresh_token": format!("0.the-saved-one-of-{name}"),
        "expires_in": 3599, "expires_on": 1, "expires_at": "1970-01-01T00:00:01Z",
        "tenant_id": TID, "client_id": CID, "resource": RESOURCE, "endpoint": "v1",
        "authority": authority, "cloud": null,
        "profile": name, "kind": "delegated", "obtained_at": 1, "refresh_token_at": 1,
        "last_refreshed": null, "last_error": null,
    });
    home.write(name, &v);
}

/// A login host that holds token requests and answers them `width` at a time: once `width`
/// are held (or all `total` have come), it waits a moment for one more, then answers every
/// held one. Returns its URL and the most requests it ever held at once.
fn gated_authority(
    width: usize,
    total: usize,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.server_addr().to_ip().unwrap());
    let max = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen_max = max.clone();
    std::thread::spawn(move || {
        let mut held: Vec<tiny_http::Request> = Vec::new();
        let mut seen = 0;
        while seen < total {
            let Ok(mut req) = server.recv() else { return };
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(req.as_reader(), &mut sink);
            held.push(req);
            seen += 1;
            if held.len() >= width || seen == total {
                // One more would mean more than `width` at once.
                if let Ok(Some(mut extra)) =
                    server.recv_timeout(std::time::Duration::from_millis(400))
                {
                    let _ = std::io::Read::read_to_end(extra.as_reader(), &mut sink);
                    held.push(extra);
                    seen += 1;
                }
                seen_max.fetch_max(held.len(), std::sync::atomic::Ordering::SeqCst);
                for (i, r) in held.drain(..).enumerate() {
                    let _ = r.respond(token_answer(seen * 10 + i));
                }
            }
        }
    });
    (url, max)
}

#[test]
fn refresh_all_keeps_to_its_concurrency() {
    let home = Home::new();
    let (authority, max) = gated_authority(2, 4);
    for name in ["a", "b", "c", "d"] {
        fake_profile(&home, name, &authority);
    }
    let out = run(&mut home.cmd(
        None,
        &["refresh", "--all", "--concurrency", "2", "--deadline", "30"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ndjson(&out).len(), 4);
    assert_eq!(
        max.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "two at once, never more"
    );
    for name in ["a", "b", "c", "d"] {
        assert!(s(&home.read(name)["refresh_token"]).starts_with("0.rotated-"));
    }
}

// ---- Item 6: import a --save file ----

#[test]
fn a_saved_file_is_imported_into_a_profile_and_its_refresh_token_dies() {
    let sb = Sandbox::start();
    let home = Home::new();
    let file = home.path().join("contoso.json");
    let log = home.path().join("browser.log");
    let mut c = sb.login(&log, &["-o", "raw", "--save"]);
    c.arg(&file);
    home.env(Some(&sb), &mut c)
        .env("BROWSER", crate::support::fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    assert_eq!(run(&mut c).code, 0);
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();

    let mut c = home.cmd(
        Some(&sb),
        &["refresh", "--profile", "contoso", "-o", "raw", "--from"],
    );
    c.arg(&file);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains(&format!("Imported {} into profile contoso", file.display()))
            && out.stderr.contains("delete the file"),
        "{}",
        out.stderr
    );
    let p = home.read("contoso");
    assert_eq!(p["profile"], "contoso");
    assert_eq!(p["tenant_id"], saved["tenant_id"]);
    assert_eq!(p["authority"], saved["authority"]);
    assert_ne!(p["refresh_token"], saved["refresh_token"]);
    assert_eq!(mode(&home.file("contoso")), 0o600);
    assert_dead(&sb, s(&saved["tenant_id"]), s(&saved["refresh_token"]));
    // The profile works.
    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--profile", "contoso", "-o", "raw"]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // Importing over an existing profile is refused, and nothing changes.
    let before = std::fs::read(home.file("contoso")).unwrap();
    let mut c = home.cmd(Some(&sb), &["refresh", "--profile", "contoso", "--from"]);
    c.arg(&file);
    let out = run(&mut c);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("already exists")
            && out.stderr.contains("mssp-token logout --profile contoso"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(home.file("contoso")).unwrap(), before);
}

#[test]
fn a_dead_file_is_not_imported() {
    let sb = Sandbox::start();
    let home = Home::new();
    let file = home.path().join("contoso.json");
    let log = home.path().join("browser.log");
    let mut c = sb.login(&log, &["-o", "raw", "--save"]);
    c.arg(&file);
    home.env(Some(&sb), &mut c)
        .env("BROWSER", crate::support::fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    assert_eq!(run(&mut c).code, 0);
    revoke_sessions(&sb, s(&sb.tenant(true)["id"]));

    let mut c = home.cmd(Some(&sb), &["refresh", "--profile", "contoso", "--from"]);
    c.arg(&file);
    let out = run(&mut c);
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("AADSTS50173") && out.stderr.contains("--profile contoso"),
        "the sign-in command saves into the profile:\n{}",
        out.stderr
    );
    assert!(
        !home.file("contoso").exists(),
        "no profile with a dead token"
    );
}

// ---- Item 5: logout ----

#[test]
fn logout_deletes_the_profile_and_says_revoking_is_separate() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    home.login(&sb, "other", &[]);
    let p = home.read("contoso");
    let out = run(&mut home.cmd(None, &["logout", "--profile", "contoso"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!home.file("contoso").exists());
    assert!(home.file("other").exists(), "only that one");
    assert!(
        out.stderr.contains(&format!(
            "Deleted profile contoso ({}).",
            home.file("contoso").display()
        )) && out.stderr.contains("separate admin action")
            && out.stderr.contains(s(&p["tenant_id"]))
            && out.stderr.contains("Revoke sessions"),
        "{}",
        out.stderr
    );
    // True to its word: Entra still honours the refresh token.
    assert!(redeem_at_sandbox(&sb, s(&p["tenant_id"]), s(&p["refresh_token"])).is_ok());

    // Again: unknown, exit 7, listing the ones there are.
    let out = run(&mut home.cmd(None, &["logout", "--profile", "contoso"]));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("no profile named contoso")
            && out.stderr.contains("the file store has: other"),
        "{}",
        out.stderr
    );
}

// ---- Bad input ----

#[test]
fn an_unknown_profile_lists_the_existing_ones_and_another_store_that_has_it() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    home.login(&sb, "fabrikam", &[]);
    for args in [
        &["token", "--profile", "northwind"][..],
        &["refresh", "--profile", "northwind"],
        &["inspect", "--profile", "northwind"],
        &["api", "--profile", "northwind", "/api/alerts"],
        &["logout", "--profile", "northwind"],
    ] {
        let out = run(&mut home.cmd(Some(&sb), args));
        assert_eq!(out.code, 7, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.contains("no profile named northwind")
                && out.stderr.contains("the file store has: contoso, fabrikam"),
            "{args:?}: {}",
            out.stderr
        );
    }
    assert!(
        !home.store().join(".northwind.lock").exists(),
        "an unknown name leaves no lock file"
    );

    // A profile of that name in another store: named, with the flag that reaches it.
    let keyring = home.data().join("keyring");
    std::fs::create_dir_all(&keyring).unwrap();
    set_mode(&keyring, 0o700);
    std::fs::write(keyring.join("northwind.meta.json"), "{}").unwrap();
    let out = run(&mut home.cmd(None, &["token", "--profile", "northwind"]));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("a profile northwind is in the keyring store")
            && out.stderr.contains("add --store keyring"),
        "{}",
        out.stderr
    );
}

#[test]
fn profile_names_that_are_paths_or_hold_control_characters_are_refused() {
    let home = Home::new();
    let long = "a".repeat(65);
    for name in [
        "a/b",
        "../x",
        "..",
        "x/../../etc",
        "\x1b[31mred",
        "a\nb",
        "",
        &long,
        ".hidden",
        "-x",
    ] {
        for cmd in ["token", "refresh", "inspect", "logout", "login"] {
            let flag = format!("--profile={name}");
            let out = run(&mut home.cmd(None, &[cmd, &flag]));
            assert_eq!(out.code, 2, "{cmd} --profile {name:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("--profile profile name")
                    && out.stderr.contains("is not allowed"),
                "{cmd} --profile {name:?}: {}",
                out.stderr
            );
            assert!(
                !out.stderr.contains('\x1b'),
                "no raw control character echoed"
            );
        }
    }
    assert!(
        !home.path().join("x").exists() && !home.path().join("etc").exists(),
        "nothing written outside the store"
    );
}

#[test]
fn the_store_none_keeps_no_profiles() {
    let home = Home::new();
    for args in [
        &["token", "--profile", "contoso", "--store", "none"][..],
        &["refresh", "--all", "--store", "none"],
        &["logout", "--profile", "contoso", "--store", "none"],
        &[
            "login",
            "--profile",
            "contoso",
            "--store",
            "none",
            "--tenant",
            TID,
            "--client-id",
            CID,
        ],
    ] {
        let out = run(&mut home.cmd(None, args));
        assert_eq!(out.code, 2, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr
                .contains("--store none (or MSSP_TOKEN_STORE=none) keeps nothing"),
            "{args:?}: {}",
            out.stderr
        );
    }
    let out = run(home
        .cmd(None, &["inspect", "--profile", "contoso"])
        .env("MSSP_TOKEN_STORE", "none"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(!home.data().exists(), "nothing created");
}

#[test]
fn a_corrupt_profile_is_named_and_the_others_still_refresh() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    std::fs::write(
        home.file("broken"),
        "{\"token_type\": \"Bearer\", \"access_tok",
    )
    .unwrap();
    set_mode(&home.file("broken"), 0o600);
    let shown = home.file("broken").display().to_string();

    let out = run(&mut home.cmd(Some(&sb), &["token", "--profile", "broken"]));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains(&shown) && out.stderr.contains("not a profile"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("mssp-token logout --profile broken"),
        "{}",
        out.stderr
    );

    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--all"]));
    assert_eq!(out.code, 8, "{}", out.stderr);
    let lines = ndjson(&out);
    assert_eq!(line_of(&lines, "contoso")["status"], "ok");
    let broken = line_of(&lines, "broken");
    assert_eq!(broken["status"], "failed");
    assert!(s(&broken["error"]).contains(&shown), "{broken}");

    // logout removes it.
    let out = run(&mut home.cmd(None, &["logout", "--profile", "broken"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!home.file("broken").exists());
}

#[test]
fn concurrent_refreshes_of_one_profile_queue_on_its_lock_and_all_succeed() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let children: Vec<_> = (0..5)
        .map(|_| {
            home.cmd(
                Some(&sb),
                &["refresh", "--profile", "contoso", "-o", "json"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut rotated = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{stderr}");
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        rotated.push(s(&v["refresh_token"]).to_string());
    }
    rotated.sort();
    rotated.dedup();
    assert_eq!(rotated.len(), 5, "each redeemed the one the previous saved");
    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--profile", "contoso"]));
    assert_eq!(out.code, 0, "the profile still works: {}", out.stderr);
}

#[test]
fn a_profile_locked_too_long_by_another_process_fails_clearly_and_is_left_as_it_was() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let before = std::fs::read(home.file("contoso")).unwrap();
    let lock = home.store().join(".contoso.lock");
    let mut holder = Command::new("python3")
        .arg("-c")
        .arg("import fcntl,sys,time\nf=open(sys.argv[1],'a')\nfcntl.flock(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(120)")
        .arg(&lock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");

    let out = run(home
        .cmd(Some(&sb), &["refresh", "--profile", "contoso"])
        .env("MSSP_TOKEN_LOCK_WAIT_SECS", "1"));
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains(&lock.display().to_string())
            && out
                .stderr
                .contains(&format!("locked by another process (pid {}", holder.id()))
            && out.stderr.contains("MSSP_TOKEN_LOCK_WAIT_SECS"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(home.file("contoso")).unwrap(), before);
    // The lock released, it works (the saved refresh token was never spent).
    let out = run(&mut home.cmd(Some(&sb), &["refresh", "--profile", "contoso"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn a_rotated_token_that_cannot_be_stored_in_the_profile_is_kept_beside_it() {
    let home = Home::new();
    let profile = home.file("contoso");
    // While the login host answers, the profile's file becomes a folder: the write fails after
    // the old refresh token was spent.
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let authority = format!("http://{}", server.server_addr().to_ip().unwrap());
    let sabotaged = profile.clone();
    std::thread::spawn(move || {
        for (n, mut req) in server.incoming_requests().enumerate() {
            let mut sink = Vec::new();
            let _ = std::io::Read::read_to_end(req.as_reader(), &mut sink);
            if n == 0 {
                std::fs::remove_file(&sabotaged).unwrap();
                std::fs::create_dir(&sabotaged).unwrap();
            }
            let _ = req.respond(token_answer(n + 1));
        }
    });
    fake_profile(&home, "contoso", &authority);

    let out = run(&mut home.cmd(None, &["refresh", "--profile", "contoso", "-o", "raw"]));
    assert_eq!(out.code, 7, "{}", out.stderr);
    let rescued: Vec<PathBuf> = std::fs::read_dir(home.store())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("contoso.json.rescued-"))
        .collect();
    assert_eq!(rescued.len(), 1, "{rescued:?}");
    let kept: Value = serde_json::from_slice(&std::fs::read(&rescued[0]).unwrap()).unwrap();
    assert_eq!(kept["refresh_token"], "0.rotated-1");
    assert_eq!(mode(&rescued[0]), 0o600);
    let place = rescued[0].display().to_string();
    let import = format!("mssp-token refresh --from {place} --profile contoso");
    assert!(
        out.stderr.contains(&place) && out.stderr.contains(&import),
        "says where, and how to put it back:\n{}",
        out.stderr
    );

    // Following the hint brings the session back into the profile.
    std::fs::remove_dir(&profile).unwrap();
    let mut c = home.cmd(
        None,
        &["refresh", "--profile", "contoso", "-o", "raw", "--from"],
    );
    c.arg(&rescued[0]);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(home.read("contoso")["refresh_token"], "0.rotated-2");
}

#[test]
fn a_profile_named_with_another_tenant_is_wrong_customer() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let contoso = sb.tenant(true).clone();
    let fabrikam = sb.other_tenant().clone();
    let base = sb.authority();
    for tenant in [s(&fabrikam["domain"]), s(&fabrikam["id"])] {
        for args in [
            &[
                "token",
                "--profile",
                "contoso",
                "-o",
                "raw",
                "--tenant",
                tenant,
            ][..],
            &[
                "api",
                "--profile",
                "contoso",
                "--base-url",
                &base,
                "--tenant",
                tenant,
                "/api/alerts",
            ],
        ] {
            let out = run(&mut home.cmd(Some(&sb), args));
            assert_eq!(out.code, 5, "{args:?}: {}", out.stderr);
            assert!(
                out.stderr.contains("wrong customer")
                    && out.stderr.contains(&format!(
                        "profile contoso ({})",
                        home.file("contoso").display()
                    )),
                "{args:?}: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "nothing printed");
        }
    }
    // The profile's own tenant, by domain (from the environment too): fine.
    let out = run(home
        .cmd(Some(&sb), &["token", "--profile", "contoso", "-o", "raw"])
        .env("AZURE_TENANT_ID", s(&contoso["domain"])));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(home
        .cmd(Some(&sb), &["token", "--profile", "contoso", "-o", "raw"])
        .env("AZURE_TENANT_ID", s(&fabrikam["id"])));
    assert_eq!(out.code, 5, "{}", out.stderr);
}

#[test]
fn inspect_profile_into_a_closed_pipe_is_an_error_not_a_panic() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    for format in ["json", "text"] {
        let out = home
            .cmd(None, &["inspect", "--profile", "contoso", "-o", format])
            .stdout(writer.try_clone().unwrap())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(7), "{stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{stderr}"
        );
    }
}

#[test]
fn refresh_with_another_tenant_id_is_refused_before_the_token_is_sent() {
    let sb = Sandbox::start();
    let home = Home::new();
    home.login(&sb, "contoso", &[]);
    let before = home.read("contoso");
    let other = sb.other_tenant()["id"].as_str().unwrap().to_string();
    for args in [
        vec![
            "refresh",
            "--profile",
            "contoso",
            "--tenant",
            other.as_str(),
        ],
        vec!["token", "--profile", "contoso", "--tenant", other.as_str()],
    ] {
        let out = run(&mut home.cmd(Some(&sb), &args));
        assert_eq!(out.code, 5, "{args:?}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "{args:?}: {}", out.stdout);
        assert!(out.stderr.contains(&other), "{args:?}: {}", out.stderr);
    }
    // Nothing was redeemed: the stored refresh token still works and is unchanged.
    let after = home.read("contoso");
    assert_eq!(after["refresh_token"], before["refresh_token"]);
    assert!(redeem_at_sandbox(&sb, s(&after["tenant_id"]), s(&after["refresh_token"])).is_ok());
}
