//! The keyring and encrypted stores, checked from outside (issue 10 item 2, "Real parts", the
//! store parts of "Bad input"):
//! - `keyring`: a real Secret Service (gnome-keyring on a private D-Bus session, see
//!   keyring_session.rs); `secret-tool` shows that the tokens sit in the keyring and no file
//!   holds one; no D-Bus, no Secret Service, a locked keyring and a keyring that never answers
//!   are each a bounded exit 7 naming the fix, before anyone signs in or a refresh token is
//!   spent, and nothing falls back to plaintext; a profile longer than one entry may hold
//!   (Credential Manager's limit, forced small with MSSP_TOKEN_KEYRING_CHUNK_CHARS) is split
//!   over several entries, none holding a whole token, read back whole, switched from one
//!   generation to the next, and a missing or changed part is exit 7 naming the profile;
//! - `encrypted`: the files hold no token, and the `age` command-line tool opens them with the
//!   same key (an `age-keygen` identity, or the passphrase through `identity.age`); a wrong
//!   passphrase, another key and a changed file are exit 7 naming it, with nothing changed; a
//!   failed save leaves the old profile whole;
//! - a store switched between runs says where the profile is.

use crate::keyring_session::{KeyringSession, KEYRING_PASSWORD};
use crate::support::{bin, browser_log, files_under, Output, Sandbox};
use serde_json::Value;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSPHRASE: &str = "correct horse battery staple";

/// A command that runs longer than this is hung: the test fails (a bound on a wait, not a
/// timed assertion: every command here finishes in seconds).
const HUNG: Duration = Duration::from_secs(120);

/// One test's data folder, cache and an empty runtime folder (so that no D-Bus of the machine
/// running the tests is ever reached by accident).
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        let p = Place {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in ["home", "run"] {
            std::fs::create_dir_all(p.path().join(d)).unwrap();
            set_mode(&p.path().join(d), 0o700);
        }
        p
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn data(&self) -> PathBuf {
        self.path().join("data")
    }

    fn vault(&self) -> PathBuf {
        self.data().join("vault")
    }

    /// `mssp-token ARGS` here: this data folder and cache, the sandbox app's secret (with
    /// `sb`), the keyring session's bus (with `ks`, else no D-Bus at all), and nothing of the
    /// caller's environment that would change what the test means.
    fn cmd(&self, sb: Option<&Sandbox>, ks: Option<&KeyringSession>, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args);
        self.env(sb, ks, &mut c);
        c
    }

    fn env<'c>(
        &self,
        sb: Option<&Sandbox>,
        ks: Option<&KeyringSession>,
        c: &'c mut Command,
    ) -> &'c mut Command {
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
            "MSSP_TOKEN_KEYRING_TIMEOUT_SECS",
            "DBUS_SESSION_BUS_ADDRESS",
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
            .env("HOME", self.path().join("home"))
            .env("XDG_RUNTIME_DIR", self.path().join("run"))
            .env_remove("XDG_DATA_HOME")
            .stdin(Stdio::null());
        if let Some(ks) = ks {
            ks.env(c);
        }
        if let Some(sb) = sb {
            c.env("AZURE_CLIENT_SECRET", s(&sb.app()["client_secret"]));
        }
        c
    }

    /// The browser stand-in's log for a login as `name`.
    fn browser_log(&self, name: &str) -> PathBuf {
        self.path().join(format!("browser-{name}.log"))
    }

    /// `mssp-token login --profile NAME -o json STORE_ARGS` against the sandbox (the browser
    /// stand-in signs in); `env` is added.
    fn login_cmd(
        &self,
        sb: &Sandbox,
        ks: Option<&KeyringSession>,
        name: &str,
        store_args: &[&str],
    ) -> Command {
        let log = self.browser_log(name);
        let mut c = sb.login(&log, &[]);
        c.args(["--profile", name, "-o", "json"]).args(store_args);
        self.env(Some(sb), ks, &mut c);
        c.env("BROWSER", crate::support::fake_browser())
            .env("FAKE_BROWSER_LOG", &log);
        c
    }

    /// A login that must succeed: the JSON it printed.
    fn login(
        &self,
        sb: &Sandbox,
        ks: Option<&KeyringSession>,
        name: &str,
        store_args: &[&str],
        env: &[(&str, &str)],
    ) -> Value {
        let mut c = self.login_cmd(sb, ks, name, store_args);
        for (k, v) in env {
            c.env(k, v);
        }
        let out = run(&mut c);
        assert_eq!(
            out.code,
            0,
            "login {name}: {}\n{:?}",
            out.stderr,
            browser_log(&self.browser_log(name))
        );
        serde_json::from_str(out.stdout.trim()).expect("login -o json prints one object")
    }
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// Runs a command to completion (killed, and the test failed, if it hangs); a panic in
/// mssp-token fails the test.
fn run(cmd: &mut Command) -> Output {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start mssp-token");
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > HUNG {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{:?} hung (killed after {HUNG:?}); stderr: {}",
                cmd.get_args().collect::<Vec<_>>(),
                t_err.join().unwrap()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let o = Output {
        code: status.code().unwrap_or(-1),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    assert!(
        !o.stderr.contains("panicked"),
        "mssp-token panicked:\n{}",
        o.stderr
    );
    o
}

/// The tokens of a token set: access, refresh and id token, and the parts of each JWT that
/// are its own (its claims and signature; the header is shared).
fn token_strings(set: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["access_token", "refresh_token", "id_token"] {
        if let Some(t) = set[k].as_str() {
            out.push(t.to_string());
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() == 3 {
                out.extend(
                    parts[1..]
                        .iter()
                        .filter(|p| p.len() >= 16)
                        .map(|p| p.to_string()),
                );
            }
        }
    }
    assert!(out.len() >= 2, "a token set with tokens: {set}");
    out
}

/// No file under `dir` holds any of `tokens`.
fn assert_no_file_holds(dir: &Path, tokens: &[String], what: &str) {
    for f in files_under(dir) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        for t in tokens {
            assert!(
                !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
                "{what}: the file {} holds a token ({}…)",
                f.display(),
                &t[..12.min(t.len())]
            );
        }
    }
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    files_under(dir)
        .into_iter()
        .map(|f| {
            let b = std::fs::read(&f).unwrap();
            (f, b)
        })
        .collect()
}

/// Whether the sandbox still takes `rt` (it then rotates it: ask last).
fn refresh_token_works(sb: &Sandbox, tenant: &str, rt: &str) -> bool {
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
    v["access_token"].is_string()
}

fn tenant_id(sb: &Sandbox) -> String {
    s(&sb.tenant(true)["id"]).to_string()
}

/// The JSON the keyring holds for profile `name` (asked with secret-tool).
fn in_keyring(ks: &KeyringSession, name: &str) -> Value {
    let text = ks
        .lookup(name)
        .unwrap_or_else(|| panic!("secret-tool finds no entry for profile:{name}"));
    serde_json::from_str(&text).expect("the keyring entry is the profile's JSON")
}

// ---- keyring ----

#[test]
fn the_keyring_store_keeps_the_tokens_in_the_secret_service_and_none_on_disk() {
    let sb = Sandbox::start();
    let ks = KeyringSession::start();
    let place = Place::new();
    let store = ["--store", "keyring"];
    let login = place.login(&sb, Some(&ks), "contoso", &store, &[]);

    // The secret sits in the keyring: secret-tool (libsecret, not mssp-token) reads it.
    let entry = in_keyring(&ks, "contoso");
    for k in [
        "access_token",
        "refresh_token",
        "id_token",
        "tenant_id",
        "client_id",
    ] {
        assert_eq!(entry[k], login[k], "{k} in the keyring");
    }
    assert_eq!(entry["profile"], "contoso");
    // On disk: only the index, 0600, without a token; no file under the data folder or the
    // keyring's own folder holds one in clear.
    let index = place.data().join("keyring/contoso.meta.json");
    assert_eq!(mode(&index), 0o600);
    assert_eq!(mode(&place.data().join("keyring")), 0o700);
    let meta: Value = serde_json::from_slice(&std::fs::read(&index).unwrap()).unwrap();
    assert_eq!(meta["tenant_id"], login["tenant_id"]);
    assert_eq!(meta["has_refresh_token"], true);
    let tokens = token_strings(&login);
    assert_no_file_holds(&place.data(), &tokens, "the data folder");
    assert_no_file_holds(&ks.keyring_files(), &tokens, "gnome-keyring's files");
    assert!(
        !place.data().join("profiles").exists()
            || files_under(&place.data().join("profiles")).is_empty(),
        "nothing in the file store"
    );

    // Read back: inspect, and token (the store named by MSSP_TOKEN_STORE).
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["inspect", "--profile", "contoso", "--store", "keyring"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let mut c = place.cmd(
        Some(&sb),
        Some(&ks),
        &["token", "--profile", "contoso", "-o", "raw"],
    );
    c.env("MSSP_TOKEN_STORE", "keyring");
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), s(&login["access_token"]));

    // refresh --profile writes the rotated refresh token back into the keyring.
    let out = run(&mut place.cmd(
        Some(&sb),
        Some(&ks),
        &[
            "refresh",
            "--profile",
            "contoso",
            "--store",
            "keyring",
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let renewed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let entry = in_keyring(&ks, "contoso");
    assert_eq!(entry["refresh_token"], renewed["refresh_token"]);
    assert_ne!(entry["refresh_token"], login["refresh_token"]);
    assert!(entry["last_refreshed"].is_u64(), "{entry}");
    let mut all = tokens.clone();
    all.extend(token_strings(&renewed));
    assert_no_file_holds(&place.data(), &all, "the data folder after refresh");

    // status is offline: it lists the profile from the index while the keyring answers nothing.
    let mut ks = ks;
    ks.pause();
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["status", "--store", "keyring", "-o", "json"],
    ));
    ks.resume();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("contoso"), "{}", out.stdout);

    // logout deletes the entry and the index.
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["logout", "--profile", "contoso", "--store", "keyring"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(ks.lookup("contoso"), None, "the keyring entry is gone");
    assert!(!index.exists(), "the index is gone");
    assert!(
        refresh_token_works(&sb, &tenant_id(&sb), s(&renewed["refresh_token"])),
        "logout deletes the local copy only (revoking is an admin action in Entra)"
    );
}

#[test]
fn refresh_all_over_the_keyring_runs_eight_at_a_time() {
    let sb = Sandbox::start();
    let ks = KeyringSession::start();
    let place = Place::new();
    let names: Vec<String> = (1..=10).map(|i| format!("customer{i:02}")).collect();
    let mut before = Vec::new();
    for n in &names {
        before.push(place.login(&sb, Some(&ks), n, &["--store", "keyring"], &[]));
    }
    let out = run(&mut place.cmd(
        Some(&sb),
        Some(&ks),
        &[
            "refresh",
            "--all",
            "--store",
            "keyring",
            "--concurrency",
            "8",
        ],
    ));
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), names.len(), "{}", out.stdout);
    for (n, old) in names.iter().zip(&before) {
        let line = lines.iter().find(|l| l["profile"] == n.as_str()).unwrap();
        assert_eq!(line["status"], "ok", "{line}");
        let entry = in_keyring(&ks, n);
        assert_ne!(entry["refresh_token"], old["refresh_token"], "{n} rotated");
        assert!(entry["last_refreshed"].is_u64(), "{n}: {entry}");
    }
    let mut all = Vec::new();
    for old in &before {
        all.extend(token_strings(old));
    }
    assert_no_file_holds(&place.data(), &all, "the data folder");
}

/// What every keyring failure must look like: exit 7, the cause, the way out.
fn assert_keyring_failure(out: &Output, cause: &str, what: &str) {
    assert_eq!(out.code, 7, "{what}: {}", out.stderr);
    assert!(
        out.stderr.contains(cause),
        "{what}: the cause ({cause}): {}",
        out.stderr
    );
    assert!(
        out.stderr.contains("--store encrypted"),
        "{what}: the way out: {}",
        out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "{what}: nothing on stdout: {}",
        out.stdout
    );
}

/// No profile file with tokens, no rescued copy: the keyring store never falls back.
fn assert_no_plaintext_fallback(place: &Place) {
    for f in files_under(&place.data()) {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.ends_with(".meta.json") || name.ends_with(".lock"),
            "unexpected file {}",
            f.display()
        );
        if name.ends_with(".meta.json") {
            let v: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
            for k in ["access_token", "refresh_token", "id_token"] {
                assert!(v.get(k).is_none(), "{} holds {k}", f.display());
            }
        }
    }
}

#[test]
fn no_d_bus_or_no_secret_service_is_exit_7_before_anyone_signs_in() {
    let sb = Sandbox::start();
    // No D-Bus at all: DBUS_SESSION_BUS_ADDRESS unset, an empty XDG_RUNTIME_DIR (Place::cmd).
    let place = Place::new();
    let out = run(&mut place.login_cmd(&sb, None, "contoso", &["--store", "keyring"]));
    assert_keyring_failure(&out, "no session D-Bus", "login, no D-Bus");
    assert!(
        browser_log(&place.browser_log("contoso")).is_empty(),
        "no browser was opened: the store is asked first"
    );
    assert_no_plaintext_fallback(&place);
    for args in [
        &["token", "--profile", "contoso"][..],
        &["inspect", "--profile", "contoso"],
        &["refresh", "--profile", "contoso"],
        &["refresh", "--all"],
        &["logout", "--profile", "contoso"],
    ] {
        let mut c = place.cmd(Some(&sb), None, args);
        c.args(["--store", "keyring"]);
        let out = run(&mut c);
        assert_keyring_failure(&out, "no session D-Bus", &args.join(" "));
    }

    // A session bus with nothing that answers as a Secret Service.
    let bus = KeyringSession::bus_only();
    let out = run(&mut place.login_cmd(&sb, Some(&bus), "fabrikam", &["--store", "keyring"]));
    assert_keyring_failure(
        &out,
        "answers as a Secret Service",
        "login, no Secret Service",
    );
    assert!(browser_log(&place.browser_log("fabrikam")).is_empty());
    assert_no_plaintext_fallback(&place);
}

#[test]
fn a_locked_keyring_is_exit_7_and_the_refresh_token_is_not_spent() {
    let sb = Sandbox::start();
    let mut ks = KeyringSession::start();
    let place = Place::new();
    let store = ["--store", "keyring"];
    let login = place.login(&sb, Some(&ks), "contoso", &store, &[]);

    // Locked through the Secret Service's D-Bus API (as a desktop's screen lock does); no
    // password prompt can be shown here.
    ks.lock();
    let ways = |ks: &KeyringSession, label: &str| {
        let out = run(&mut place.cmd(
            None,
            Some(ks),
            &["inspect", "--profile", "contoso", "--store", "keyring"],
        ));
        assert_keyring_failure(&out, "locked", &format!("inspect, {label}"));
        let out = run(&mut place.cmd(
            Some(&sb),
            Some(ks),
            &["refresh", "--profile", "contoso", "--store", "keyring"],
        ));
        assert_keyring_failure(&out, "locked", &format!("refresh, {label}"));
        let out = run(&mut place.cmd(
            Some(&sb),
            Some(ks),
            &["refresh", "--all", "--store", "keyring"],
        ));
        assert_keyring_failure(&out, "locked", &format!("refresh --all, {label}"));
        let name = format!("new-{}", label.replace(' ', "-"));
        let out = run(&mut place.login_cmd(&sb, Some(ks), &name, &store));
        assert_keyring_failure(&out, "locked", &format!("login, {label}"));
        assert!(
            browser_log(&place.browser_log(&name)).is_empty(),
            "{label}: nobody is asked to sign in for nothing"
        );
        assert_no_plaintext_fallback(&place);
    };
    ways(&ks, "locked over D-Bus");

    // The other real way: the daemon started without --unlock over the existing login keyring.
    ks.stop_keyring();
    ks.start_keyring(false);
    assert_eq!(ks.default_collection_locked(), Some(true));
    ways(&ks, "started locked");

    // Nothing was redeemed: the refresh token saved at login still works.
    assert!(refresh_token_works(
        &sb,
        &tenant_id(&sb),
        s(&login["refresh_token"])
    ));
}

#[test]
fn a_keyring_that_never_answers_is_bounded_by_the_timeout() {
    let sb = Sandbox::start();
    let mut ks = KeyringSession::start();
    let place = Place::new();
    let login = place.login(&sb, Some(&ks), "contoso", &["--store", "keyring"], &[]);
    ks.pause();
    for (label, mut c) in [
        (
            "inspect",
            place.cmd(None, Some(&ks), &["inspect", "--profile", "contoso"]),
        ),
        (
            "refresh",
            place.cmd(Some(&sb), Some(&ks), &["refresh", "--profile", "contoso"]),
        ),
        ("login", place.login_cmd(&sb, Some(&ks), "other", &[])),
    ] {
        c.args(["--store", "keyring"])
            .env("MSSP_TOKEN_KEYRING_TIMEOUT_SECS", "2");
        let out = run(&mut c);
        assert_keyring_failure(&out, "did not answer within 2 s", label);
        assert!(
            out.stderr.contains("MSSP_TOKEN_KEYRING_TIMEOUT_SECS"),
            "{}",
            out.stderr
        );
    }
    assert!(browser_log(&place.browser_log("other")).is_empty());
    ks.resume();
    assert_no_plaintext_fallback(&place);
    assert!(refresh_token_works(
        &sb,
        &tenant_id(&sb),
        s(&login["refresh_token"])
    ));
}

#[test]
fn a_damaged_or_vanished_keyring_entry_is_exit_7_naming_it() {
    let sb = Sandbox::start();
    let ks = KeyringSession::start();
    let place = Place::new();
    place.login(&sb, Some(&ks), "contoso", &["--store", "keyring"], &[]);
    place.login(&sb, Some(&ks), "fabrikam", &["--store", "keyring"], &[]);

    // Another program overwrote the entry with something that is not a profile.
    ks.store("contoso", "not a profile \u{1b}[31m");
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["inspect", "--profile", "contoso", "--store", "keyring"],
    ));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("profile contoso (OS keyring)") && out.stderr.contains("not a profile"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("logout --profile contoso"),
        "the fix: {}",
        out.stderr
    );
    assert!(!out.stderr.contains('\u{1b}'), "{}", out.stderr);
    // The other profile still works.
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["inspect", "--profile", "fabrikam", "--store", "keyring"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // The entry was deleted outside mssp-token while the index still lists it.
    ks.clear("fabrikam");
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["inspect", "--profile", "fabrikam", "--store", "keyring"],
    ));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("no entry for profile fabrikam")
            && out.stderr.contains("sign in again"),
        "{}",
        out.stderr
    );
    // logout still cleans up what is left.
    let out = run(&mut place.cmd(
        None,
        Some(&ks),
        &["logout", "--profile", "fabrikam", "--store", "keyring"],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!place.data().join("keyring/fabrikam.meta.json").exists());
}

#[test]
fn the_documented_headless_session_keeps_profiles_between_runs() {
    // README's recipe for SSH, cron and CI: a private D-Bus session per run, gnome-keyring
    // unlocked from a password on its standard input. The login keyring persists on disk
    // (encrypted with that password), so a later run, in a new session, finds the profile.
    let sb = Sandbox::start();
    let place = Place::new();
    let recipe = |inner: &str| {
        let mut c = Command::new("dbus-run-session");
        c.args(["--", "sh", "-c"]).arg(format!(
            "printf %s \"$KEYRING_PASSWORD\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; {inner}"
        ));
        place.env(Some(&sb), None, &mut c);
        c.env("KEYRING_PASSWORD", KEYRING_PASSWORD)
            .env("MSSP", bin())
            .env("MSSP_TOKEN_STORE", "keyring");
        c
    };
    let app = sb.app();
    let log = place.browser_log("contoso");
    let mut first = recipe(&format!(
        "\"$MSSP\" login --authority {} --tenant {} --client-id {} --wait 20 --profile contoso -o json",
        sb.authority(),
        s(&sb.tenant(true)["domain"]),
        s(&app["client_id"])
    ));
    first
        .env("BROWSER", crate::support::fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    let out = run(&mut first);
    assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
    let login: Value = serde_json::from_str(out.stdout.trim()).unwrap();

    let out = run(&mut recipe("\"$MSSP\" refresh --all"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(line["profile"], "contoso");
    assert_eq!(line["status"], "ok", "{line}");
    let keyrings = place.path().join("home/.local/share/keyrings");
    assert!(
        keyrings.join("login.keyring").exists(),
        "the login keyring is kept in HOME"
    );
    assert_no_file_holds(&place.path().join("home"), &token_strings(&login), "HOME");
    assert_no_file_holds(&place.data(), &token_strings(&login), "the data folder");
}

// ---- keyring: a profile split over several entries ----

/// The entry size forced by the tests of the split store: smaller than any token, so that a
/// profile takes many entries and no entry holds a whole token.
const CHUNK: usize = 200;

/// `(account, secret)` of every entry the keyring holds for mssp-token, sorted by account: the
/// accounts as `secret-tool search --all` lists them, each secret as `secret-tool lookup` reads
/// it (exactly, whatever it holds).
fn keyring_entries(ks: &KeyringSession) -> Vec<(String, String)> {
    let out = ks
        .secret_tool(&["search", "--all", "service", "mssp-token"])
        .output()
        .expect("secret-tool");
    let listing =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let mut accounts: Vec<String> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("attribute.username = "))
        .map(str::to_string)
        .collect();
    accounts.sort();
    accounts.dedup();
    accounts
        .into_iter()
        .map(|a| {
            let out = ks
                .secret_tool(&["lookup", "service", "mssp-token", "username", &a])
                .output()
                .expect("secret-tool");
            assert!(out.status.success(), "secret-tool lookup {a}");
            (a, String::from_utf8(out.stdout).expect("UTF-8"))
        })
        .collect()
}

/// The entries of profile `name` only.
fn entries_of(ks: &KeyringSession, name: &str) -> Vec<(String, String)> {
    let account = format!("profile:{name}");
    keyring_entries(ks)
        .into_iter()
        .filter(|(a, _)| *a == account || a.starts_with(&format!("{account}#")))
        .collect()
}

/// Profile `name` as the keyring holds it split: checks the header (`mssp-token-chunks:v1:SLOT:N:SHA256`)
/// names exactly the parts there are, in `slot`, each at most CHUNK characters; returns the
/// parts joined, parsed.
fn split_profile(ks: &KeyringSession, name: &str, slot: char) -> Value {
    let entries = entries_of(ks, name);
    let account = format!("profile:{name}");
    let header = &entries
        .iter()
        .find(|(a, _)| *a == account)
        .unwrap_or_else(|| panic!("no header entry for {account}: {entries:?}"))
        .1;
    let fields: Vec<&str> = header.split(':').collect();
    assert_eq!(
        fields[..3],
        ["mssp-token-chunks", "v1", &slot.to_string()],
        "the header: {header}"
    );
    let n: usize = fields[3].parse().expect("the number of parts");
    assert!(n >= 3, "split over several entries: {header}");
    assert_eq!(
        entries.len(),
        n + 1,
        "the header and its parts only: {entries:?}"
    );
    let mut whole = String::new();
    for i in 1..=n {
        let part = format!("{account}#{slot}.{i}");
        let (_, value) = entries
            .iter()
            .find(|(a, _)| *a == part)
            .unwrap_or_else(|| panic!("no entry {part}"));
        assert!(
            value.chars().count() <= CHUNK && !value.is_empty(),
            "{part} holds {} characters",
            value.chars().count()
        );
        whole.push_str(value);
    }
    serde_json::from_str(&whole).expect("the parts joined are the profile's JSON")
}

/// No single keyring entry holds a whole token of `set`.
fn assert_no_entry_holds_a_token(ks: &KeyringSession, set: &Value) {
    for k in ["access_token", "refresh_token", "id_token"] {
        let t = s(&set[k]);
        assert!(t.len() > CHUNK, "{k} is longer than an entry here");
        for (a, v) in keyring_entries(ks) {
            assert!(!v.contains(t), "{a} holds the whole {k}");
        }
    }
}

#[test]
fn a_profile_longer_than_an_entry_is_split_over_several_and_reads_back_whole() {
    let sb = Sandbox::start();
    let ks = KeyringSession::start();
    let place = Place::new();
    let chunk = CHUNK.to_string();
    let split = [("MSSP_TOKEN_KEYRING_CHUNK_CHARS", chunk.as_str())];
    let cmd = |sb: Option<&Sandbox>, args: &[&str], chunked: bool| {
        let mut c = place.cmd(sb, Some(&ks), args);
        c.args(["--store", "keyring"]);
        if chunked {
            c.env("MSSP_TOKEN_KEYRING_CHUNK_CHARS", &chunk);
        }
        c
    };
    let login = place.login(&sb, Some(&ks), "contoso", &["--store", "keyring"], &split);

    // The header and its parts in slot a, each part short; together the profile's JSON.
    let entry = split_profile(&ks, "contoso", 'a');
    for k in ["access_token", "refresh_token", "id_token", "tenant_id"] {
        assert_eq!(entry[k], login[k], "{k} in the joined parts");
    }
    assert_eq!(entry["profile"], "contoso");
    assert_no_entry_holds_a_token(&ks, &login);
    assert_no_file_holds(&place.data(), &token_strings(&login), "the data folder");

    // token reads it whole, whatever the entry size (reading does not depend on it).
    for chunked in [true, false] {
        let out = run(&mut cmd(
            Some(&sb),
            &["token", "--profile", "contoso", "-o", "raw"],
            chunked,
        ));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(out.stdout.trim(), s(&login["access_token"]));
    }

    // refresh writes the rotated token in the other slot and deletes the old one.
    let refresh = |chunked: bool| -> Value {
        let out = run(&mut cmd(
            Some(&sb),
            &["refresh", "--profile", "contoso", "-o", "json"],
            chunked,
        ));
        assert_eq!(out.code, 0, "{}", out.stderr);
        serde_json::from_str(out.stdout.trim()).unwrap()
    };
    let renewed = refresh(true);
    let entry = split_profile(&ks, "contoso", 'b');
    assert_eq!(entry["refresh_token"], renewed["refresh_token"]);
    assert_ne!(entry["refresh_token"], login["refresh_token"]);
    assert!(entry["last_refreshed"].is_u64(), "{entry}");
    assert_no_entry_holds_a_token(&ks, &renewed);

    // status (offline, from the index) lists it.
    let out = run(&mut cmd(None, &["status", "-o", "json"], true));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("contoso"), "{}", out.stdout);

    // Written where one entry holds it (the default size here), the profile is one entry
    // again, as before splitting existed, and no part is left.
    let third = refresh(false);
    let entries = entries_of(&ks, "contoso");
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(
        in_keyring(&ks, "contoso")["refresh_token"],
        third["refresh_token"]
    );
    // Such a single entry (what older versions wrote) reads with splitting forced, and the
    // next write splits it.
    let fourth = refresh(true);
    let entry = split_profile(&ks, "contoso", 'a');
    assert_eq!(entry["refresh_token"], fourth["refresh_token"]);

    // logout deletes the header and every part: nothing is left in the keyring.
    let out = run(&mut cmd(None, &["logout", "--profile", "contoso"], true));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(keyring_entries(&ks), [], "logout leaves no entry");
    assert!(!place.data().join("keyring/contoso.meta.json").exists());
    let mut all = token_strings(&login);
    for set in [&renewed, &third, &fourth] {
        all.extend(token_strings(set));
    }
    assert_no_file_holds(&place.data(), &all, "the data folder");
}

#[test]
fn a_missing_or_changed_part_is_exit_7_naming_the_profile() {
    let sb = Sandbox::start();
    let ks = KeyringSession::start();
    let place = Place::new();
    let chunk = CHUNK.to_string();
    let split = [("MSSP_TOKEN_KEYRING_CHUNK_CHARS", chunk.as_str())];
    let store = ["--store", "keyring"];
    let contoso = place.login(&sb, Some(&ks), "contoso", &store, &split);
    place.login(&sb, Some(&ks), "fabrikam", &store, &split);
    place.login(&sb, Some(&ks), "tailspin", &store, &split);
    split_profile(&ks, "contoso", 'a');
    let cmd = |sb: Option<&Sandbox>, args: &[&str]| {
        let mut c = place.cmd(sb, Some(&ks), args);
        c.args(store).env("MSSP_TOKEN_KEYRING_CHUNK_CHARS", &chunk);
        c
    };
    let assert_damaged = |name: &str, why: &str| {
        for args in [
            &["inspect", "--profile", name][..],
            &["token", "--profile", name],
            &["refresh", "--profile", name],
        ] {
            let out = run(&mut cmd(Some(&sb), args));
            let what = args.join(" ");
            assert_eq!(out.code, 7, "{what}: {}", out.stderr);
            assert!(
                out.stderr.contains(&format!("profile:{name}"))
                    && out.stderr.contains("damaged")
                    && out.stderr.contains(why),
                "{what}: names the profile and why: {}",
                out.stderr
            );
            assert!(
                out.stderr
                    .contains(&format!("logout --profile {name} --store keyring")),
                "{what}: the fix: {}",
                out.stderr
            );
            assert!(out.stdout.is_empty(), "{what}: {}", out.stdout);
        }
    };

    // A part deleted outside mssp-token.
    let ok = ks
        .secret_tool(&[
            "clear",
            "service",
            "mssp-token",
            "username",
            "profile:contoso#a.2",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "secret-tool clear");
    assert_damaged("contoso", "part 2 (profile:contoso#a.2) is missing");
    // Nothing was redeemed: the refresh token saved at login still works.
    assert!(refresh_token_works(
        &sb,
        &tenant_id(&sb),
        s(&contoso["refresh_token"])
    ));

    // A part changed outside mssp-token: the parts no longer add up to the header's digest.
    let mut child = ks
        .secret_tool(&[
            "store",
            "--label",
            "planted by a test",
            "service",
            "mssp-token",
            "username",
            "profile:fabrikam#a.1",
            "target",
            "default",
            "application",
            "rust-keyring",
        ])
        .stdin(Stdio::piped())
        .spawn()
        .expect("secret-tool");
    {
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"{\"access_token\":\"x\"}")
            .unwrap();
    }
    assert!(child.wait().unwrap().success(), "secret-tool store");
    assert_damaged("fabrikam", "do not add up");

    // The other profile still works.
    let out = run(&mut cmd(None, &["inspect", "--profile", "tailspin"]));
    assert_eq!(out.code, 0, "{}", out.stderr);

    // logout removes what is left of a damaged profile, parts and all.
    for name in ["contoso", "fabrikam"] {
        let out = run(&mut cmd(None, &["logout", "--profile", name]));
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert_eq!(entries_of(&ks, name), [], "{name}: no entry left");
        assert!(!place
            .data()
            .join(format!("keyring/{name}.meta.json"))
            .exists());
    }
    assert_eq!(split_profile(&ks, "tailspin", 'a')["profile"], "tailspin");
}

// ---- encrypted ----

/// Runs the age CLI on a pseudo-terminal (it reads a passphrase only from a terminal) to open
/// the passphrase-protected `src` into `dst`: an independent decryption of identity.age.
const AGE_ON_A_TTY: &str = r#"
import os, pty, select, sys, time
src, dst = sys.argv[1], sys.argv[2]
passphrase = os.environ["AGE_TEST_PASSPHRASE"].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execvp("age", ["age", "--decrypt", "--output", dst, src])
seen, sent, deadline = b"", False, time.time() + 60
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if not r:
        continue
    try:
        chunk = os.read(fd, 1024)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if not sent and b"passphrase" in seen.lower():
        os.write(fd, passphrase + b"\n")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stderr.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;

/// Opens identity.age with the age CLI and `passphrase`: the key file it holds.
fn age_open_identity(place: &Place, passphrase: &str) -> PathBuf {
    let key = place.path().join("opened-identity.txt");
    let _ = std::fs::remove_file(&key);
    let out = Command::new("python3")
        .arg("-c")
        .arg(AGE_ON_A_TTY)
        .arg(place.vault().join("identity.age"))
        .arg(&key)
        .env("AGE_TEST_PASSPHRASE", passphrase)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "age -d identity.age: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    key
}

/// `age -d -i KEY FILE`: the plain content.
fn age_decrypt(key: &Path, file: &Path) -> Value {
    let out = Command::new("age")
        .args(["--decrypt", "--identity"])
        .arg(key)
        .arg(file)
        .output()
        .unwrap_or_else(|e| panic!("cannot start age ({e}): install the Debian package age"));
    assert!(
        out.status.success(),
        "age -d -i {} {}: {}",
        key.display(),
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the age file holds the profile's JSON")
}

fn age_keygen(path: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot start age-keygen ({e}): install the Debian package age")
        });
    assert!(out.status.success());
    // "Public key: age1..." on stderr.
    String::from_utf8_lossy(&out.stderr)
        .split_whitespace()
        .find(|w| w.starts_with("age1"))
        .expect("age-keygen prints the public key")
        .to_string()
}

fn assert_same_tokens(a: &Value, b: &Value, what: &str) {
    for k in [
        "access_token",
        "refresh_token",
        "id_token",
        "tenant_id",
        "client_id",
        "expires_on",
    ] {
        assert_eq!(a[k], b[k], "{what}: {k}");
    }
}

#[test]
fn the_encrypted_store_with_a_passphrase_opens_with_the_age_cli() {
    let sb = Sandbox::start();
    let place = Place::new();
    let store = ["--store", "encrypted"];
    let login = place.login(
        &sb,
        None,
        "contoso",
        &store,
        &[("MSSP_TOKEN_PASSPHRASE", PASSPHRASE)],
    );
    let vault = place.vault();
    for f in ["identity.age", "contoso.age", "contoso.meta.json"] {
        assert_eq!(mode(&vault.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode(&vault), 0o700);
    assert_no_file_holds(&place.data(), &token_strings(&login), "the vault");

    // Independently: the age CLI opens identity.age with the passphrase, then the profile.
    let key = age_open_identity(&place, PASSPHRASE);
    let opened = age_decrypt(&key, &vault.join("contoso.age"));
    assert_same_tokens(&opened, &login, "contoso.age");
    assert_eq!(opened["profile"], "contoso");

    // The same passphrase from --passphrase-file: refresh rotates, the file stays encrypted.
    let pass_file = place.path().join("passphrase.txt");
    std::fs::write(&pass_file, format!("{PASSPHRASE}\n")).unwrap();
    set_mode(&pass_file, 0o600);
    let out = run(place
        .cmd(
            Some(&sb),
            None,
            &["refresh", "--profile", "contoso", "-o", "json"],
        )
        .args(store)
        .arg("--passphrase-file")
        .arg(&pass_file));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let renewed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    let opened = age_decrypt(&key, &vault.join("contoso.age"));
    assert_eq!(opened["refresh_token"], renewed["refresh_token"]);
    assert!(opened["last_refreshed"].is_u64());
    let mut all = token_strings(&login);
    all.extend(token_strings(&renewed));
    assert_no_file_holds(&place.data(), &all, "the vault after refresh");

    // A second profile in the same store uses the same key (identity.age is made once).
    let identity = std::fs::read(vault.join("identity.age")).unwrap();
    let second = place.login(
        &sb,
        None,
        "fabrikam",
        &store,
        &[("MSSP_TOKEN_PASSPHRASE", PASSPHRASE)],
    );
    assert_eq!(std::fs::read(vault.join("identity.age")).unwrap(), identity);
    assert_same_tokens(
        &age_decrypt(&key, &vault.join("fabrikam.age")),
        &second,
        "fabrikam.age",
    );

    // refresh --all opens the store once and rotates both.
    let mut c = place.cmd(Some(&sb), None, &["refresh", "--all"]);
    c.args(store).env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert_eq!(out.stdout.lines().count(), 2, "{}", out.stdout);
    assert_ne!(
        age_decrypt(&key, &vault.join("fabrikam.age"))["refresh_token"],
        second["refresh_token"]
    );
}

#[test]
fn the_encrypted_store_with_an_age_identity_file() {
    let sb = Sandbox::start();
    let place = Place::new();
    let key = place.path().join("key.txt");
    let public = age_keygen(&key);
    let key_s = key.to_str().unwrap();
    let store = ["--store", "encrypted"];
    let login = place.login(
        &sb,
        None,
        "contoso",
        &store,
        &[("MSSP_TOKEN_IDENTITY", key_s)],
    );
    let vault = place.vault();
    assert!(
        !vault.join("identity.age").exists(),
        "no passphrase, no identity.age"
    );
    assert_no_file_holds(&place.data(), &token_strings(&login), "the vault");
    let opened = age_decrypt(&key, &vault.join("contoso.age"));
    assert_same_tokens(&opened, &login, "age -d -i key.txt contoso.age");

    // The other way round: a profile the age CLI encrypted to the key's recipient is read.
    let plain = place.path().join("contoso.json");
    std::fs::write(&plain, opened.to_string()).unwrap();
    let ok = Command::new("age")
        .args(["--encrypt", "--recipient", &public, "--output"])
        .arg(vault.join("contoso.age"))
        .arg(&plain)
        .status()
        .unwrap()
        .success();
    assert!(ok, "age -e -r");
    std::fs::remove_file(&plain).unwrap();
    let mut c = place.cmd(
        Some(&sb),
        None,
        &["token", "--profile", "contoso", "-o", "raw"],
    );
    c.args(store).env("MSSP_TOKEN_IDENTITY", key_s);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.trim(), s(&login["access_token"]));

    // Another key: exit 7, it says so.
    let other = place.path().join("other.txt");
    age_keygen(&other);
    let mut c = place.cmd(None, None, &["inspect", "--profile", "contoso"]);
    c.args(store).env("MSSP_TOKEN_IDENTITY", &other);
    let out = run(&mut c);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("contoso.age") && out.stderr.contains("another key"),
        "{}",
        out.stderr
    );

    // A passphrase for a store made with an identity file: exit 7, it says what to set.
    let mut c = place.cmd(None, None, &["inspect", "--profile", "contoso"]);
    c.args(store).env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
    let out = run(&mut c);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("MSSP_TOKEN_IDENTITY"), "{}", out.stderr);
    assert!(!vault.join("identity.age").exists(), "a read makes no key");

    // A file that is not an identity (the public key, say): exit 2, naming the variable.
    let public_only = place.path().join("public.txt");
    std::fs::write(&public_only, format!("{public}\n")).unwrap();
    let mut c = place.cmd(None, None, &["inspect", "--profile", "contoso"]);
    c.args(store).env("MSSP_TOKEN_IDENTITY", &public_only);
    let out = run(&mut c);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("MSSP_TOKEN_IDENTITY")
            && out.stderr.contains("not an age identity file"),
        "{}",
        out.stderr
    );

    // The identity's secret key is never printed, logged or copied into the store.
    let secret_key = std::fs::read_to_string(&key)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .expect("an age-keygen identity")
        .to_string();
    let mut c = place.cmd(
        Some(&sb),
        None,
        &["-v", "refresh", "--profile", "contoso", "-o", "json"],
    );
    c.args(store).env("MSSP_TOKEN_IDENTITY", key_s);
    let out = run(&mut c);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        !out.stdout.contains(&secret_key) && !out.stderr.contains(&secret_key),
        "the secret key is printed"
    );
    assert_no_file_holds(&place.data(), &[secret_key], "the vault");
}

#[test]
fn a_wrong_passphrase_is_exit_7_and_changes_nothing() {
    let sb = Sandbox::start();
    let place = Place::new();
    let store = ["--store", "encrypted"];
    let login = place.login(
        &sb,
        None,
        "contoso",
        &store,
        &[("MSSP_TOKEN_PASSPHRASE", PASSPHRASE)],
    );
    let before = snapshot(&place.vault());
    let wrong = "not the right passphrase";
    let runs: Vec<(&str, Command)> = vec![
        (
            "inspect",
            place.cmd(None, None, &["inspect", "--profile", "contoso"]),
        ),
        (
            "token",
            place.cmd(Some(&sb), None, &["token", "--profile", "contoso"]),
        ),
        (
            "refresh",
            place.cmd(Some(&sb), None, &["refresh", "--profile", "contoso"]),
        ),
        (
            "refresh --all",
            place.cmd(Some(&sb), None, &["refresh", "--all"]),
        ),
        (
            "logout",
            place.cmd(None, None, &["logout", "--profile", "contoso"]),
        ),
        ("login", place.login_cmd(&sb, None, "fabrikam", &[])),
    ];
    for (label, mut c) in runs {
        c.args(store).env("MSSP_TOKEN_PASSPHRASE", wrong);
        let out = run(&mut c);
        assert_eq!(out.code, 7, "{label}: {}", out.stderr);
        assert!(
            out.stderr.contains("wrong passphrase"),
            "{label}: {}",
            out.stderr
        );
        assert!(
            !out.stderr.contains(wrong) && !out.stderr.contains(PASSPHRASE),
            "{label}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty(), "{label}: {}", out.stdout);
    }
    assert!(
        browser_log(&place.browser_log("fabrikam")).is_empty(),
        "the key is checked before the sign-in"
    );
    let after = snapshot(&place.vault());
    assert_eq!(before, after, "nothing in the vault changed");
    assert!(
        refresh_token_works(&sb, &tenant_id(&sb), s(&login["refresh_token"])),
        "nothing was redeemed"
    );
}

#[test]
fn a_changed_age_file_is_exit_7_naming_it_and_the_others_go_on() {
    let sb = Sandbox::start();
    let place = Place::new();
    let store = ["--store", "encrypted"];
    let pass = [("MSSP_TOKEN_PASSPHRASE", PASSPHRASE)];
    place.login(&sb, None, "contoso", &store, &pass);
    place.login(&sb, None, "fabrikam", &store, &pass);
    let vault = place.vault();
    let flip = |path: &Path, at: usize| {
        let mut b = std::fs::read(path).unwrap();
        let i = at.min(b.len() - 1);
        b[i] ^= 0x20;
        std::fs::write(path, b).unwrap();
    };
    let inspect = |name: &str| {
        let mut c = place.cmd(None, None, &["inspect", "--profile", name]);
        c.args(store).env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
        run(&mut c)
    };
    let file = vault.join("contoso.age");
    let original = std::fs::read(&file).unwrap();
    // A byte of the encrypted payload (the end of the file), then one of the header.
    for (label, at) in [("payload", original.len() - 20), ("header", 40)] {
        std::fs::write(&file, &original).unwrap();
        flip(&file, at);
        let out = inspect("contoso");
        assert_eq!(out.code, 7, "{label}: {}", out.stderr);
        assert!(
            out.stderr.contains(&file.display().to_string()),
            "{label}: names the file: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains("damaged") || out.stderr.contains("changed"),
            "{label}: {}",
            out.stderr
        );
    }
    // The other profile still opens, and refresh --all refreshes it and reports the damaged
    // one (exit 8).
    assert_eq!(inspect("fabrikam").code, 0);
    let mut c = place.cmd(Some(&sb), None, &["refresh", "--all"]);
    c.args(store).env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
    let out = run(&mut c);
    assert_eq!(out.code, 8, "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<Value> = out
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let line = |n: &str| lines.iter().find(|l| l["profile"] == n).unwrap().clone();
    assert_eq!(line("fabrikam")["status"], "ok");
    assert_eq!(line("contoso")["status"], "failed");
    assert!(
        s(&line("contoso")["error"]).contains("contoso.age"),
        "{:?}",
        line("contoso")
    );

    // A changed identity.age: every profile is out of reach, and the message names the file.
    std::fs::write(&file, &original).unwrap();
    let id = vault.join("identity.age");
    let id_len = std::fs::read(&id).unwrap().len();
    flip(&id, id_len - 10);
    let out = inspect("fabrikam");
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains(&id.display().to_string()),
        "{}",
        out.stderr
    );
}

#[test]
fn a_failed_save_leaves_the_old_encrypted_profile_whole() {
    let sb = Sandbox::start();
    let place = Place::new();
    let store = ["--store", "encrypted"];
    let login = place.login(
        &sb,
        None,
        "contoso",
        &store,
        &[("MSSP_TOKEN_PASSPHRASE", PASSPHRASE)],
    );
    let before = snapshot(&place.vault());
    // Every write fails (EFBIG) whoever runs it: a file-size limit of 0.
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 0; exec \"$MSSP\" refresh --profile contoso --store encrypted -o json")
        .env("MSSP", bin());
    place.env(Some(&sb), None, &mut c);
    c.env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
    let out = run(&mut c);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(
        snapshot(&place.vault()),
        before,
        "the old files are whole, nothing half-written is left"
    );
    // The rotated tokens are not lost: the message says where they are.
    assert!(out.stderr.contains("NEW tokens"), "{}", out.stderr);
    let printed: Value = serde_json::from_str(out.stdout.trim()).expect("printed as JSON");
    assert_ne!(printed["refresh_token"], login["refresh_token"]);

    // A new store whose key cannot be written (importing the printed tokens into it): no
    // identity.age, no profile, nothing half-written left.
    let saved = place.path().join("printed.json");
    std::fs::write(&saved, printed.to_string()).unwrap();
    set_mode(&saved, 0o600);
    let fresh = Place::new();
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 0; exec \"$MSSP\" refresh --from \"$FROM\" --profile imported --store encrypted")
        .env("MSSP", bin())
        .env("FROM", &saved);
    fresh.env(Some(&sb), None, &mut c);
    c.env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
    let out = run(&mut c);
    assert_eq!(out.code, 7, "{}", out.stderr);
    let left: Vec<PathBuf> = files_under(&fresh.vault())
        .into_iter()
        .filter(|f| !f.file_name().unwrap().to_string_lossy().ends_with(".lock"))
        .collect();
    assert!(left.is_empty(), "nothing half-written: {left:?}");
    assert!(
        refresh_token_works(&sb, &tenant_id(&sb), s(&printed["refresh_token"])),
        "nothing was redeemed"
    );
}

#[test]
fn rescued_tokens_of_the_encrypted_store_stay_encrypted() {
    let sb = Sandbox::start();
    let place = Place::new();
    let key = place.path().join("key.txt");
    age_keygen(&key);
    let key_s = key.to_str().unwrap();
    let store = ["--store", "encrypted"];
    let login = place.login(
        &sb,
        None,
        "contoso",
        &store,
        &[("MSSP_TOKEN_IDENTITY", key_s)],
    );
    // The profile's index cannot be replaced (a folder stands at its path), so the renewed
    // profile cannot be stored whole: the rotated tokens are rescued beside it.
    let index = place.vault().join("contoso.meta.json");
    std::fs::remove_file(&index).unwrap();
    std::fs::create_dir(&index).unwrap();
    let mut c = place.cmd(
        Some(&sb),
        None,
        &["refresh", "--profile", "contoso", "-o", "json"],
    );
    c.args(store).env("MSSP_TOKEN_IDENTITY", key_s);
    let out = run(&mut c);
    assert_eq!(out.code, 7, "{}", out.stderr);
    let rescued: Vec<PathBuf> = files_under(&place.vault())
        .into_iter()
        .filter(|f| f.to_string_lossy().contains(".rescued-"))
        .collect();
    assert_eq!(
        rescued.len(),
        1,
        "one rescued file: {:?}",
        files_under(&place.vault())
    );
    let rescued = &rescued[0];
    assert!(
        rescued.to_string_lossy().contains("contoso.age.rescued-"),
        "{}",
        rescued.display()
    );
    assert!(
        out.stderr.contains(&rescued.display().to_string()),
        "says where: {}",
        out.stderr
    );
    assert_eq!(mode(rescued), 0o600);
    assert!(std::fs::read(rescued)
        .unwrap()
        .starts_with(b"age-encryption.org/v1\n"));
    let opened = age_decrypt(&key, rescued);
    assert_ne!(
        opened["refresh_token"], login["refresh_token"],
        "the NEW tokens"
    );
    let mut all = token_strings(&login);
    all.extend(token_strings(&opened));
    assert_no_file_holds(&place.data(), &all, "the vault, rescued file included");
    assert!(
        out.stdout.trim().is_empty() || !out.stdout.contains("refresh_token"),
        "{}",
        out.stdout
    );
}

#[test]
fn key_problems_name_where_the_key_came_from() {
    let place = Place::new();
    let ask = |env: &[(&str, &str)], extra: &[&str]| {
        let mut c = place.cmd(
            None,
            None,
            &["inspect", "--profile", "contoso", "--store", "encrypted"],
        );
        c.args(extra);
        for (k, v) in env {
            c.env(k, v);
        }
        run(&mut c)
    };
    let out = ask(&[("MSSP_TOKEN_PASSPHRASE", "short")], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("MSSP_TOKEN_PASSPHRASE: the passphrase is shorter than 8"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("--passphrase-file") && !out.stderr.contains("short\n"),
        "{}",
        out.stderr
    );
    let missing = place.path().join("missing.txt");
    let out = ask(&[], &["--passphrase-file", missing.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "--passphrase-file {}: cannot be read",
            missing.display()
        )),
        "{}",
        out.stderr
    );
    let empty = place.path().join("empty.txt");
    std::fs::write(&empty, "\n").unwrap();
    let out = ask(&[], &["--passphrase-file", empty.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("the passphrase is empty"),
        "{}",
        out.stderr
    );
    let out = ask(&[], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("MSSP_TOKEN_PASSPHRASE") && out.stderr.contains("MSSP_TOKEN_IDENTITY"),
        "{}",
        out.stderr
    );
    let out = ask(&[("MSSP_TOKEN_IDENTITY", missing.to_str().unwrap())], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!(
            "MSSP_TOKEN_IDENTITY {}: cannot be read",
            missing.display()
        )),
        "{}",
        out.stderr
    );
}

#[test]
fn a_store_switched_between_runs_says_where_the_profile_is() {
    let sb = Sandbox::start();
    let ks = KeyringSession::start();
    let place = Place::new();
    place.login(&sb, None, "in-file", &[], &[]);
    place.login(
        &sb,
        None,
        "in-vault",
        &["--store", "encrypted"],
        &[("MSSP_TOKEN_PASSPHRASE", PASSPHRASE)],
    );
    place.login(&sb, Some(&ks), "in-keyring", &["--store", "keyring"], &[]);
    let ask = |name: &str, store: &str| {
        let mut c = place.cmd(
            None,
            Some(&ks),
            &["inspect", "--profile", name, "--store", store],
        );
        c.env("MSSP_TOKEN_PASSPHRASE", PASSPHRASE);
        run(&mut c)
    };
    for (name, asked, home, folder) in [
        ("in-file", "encrypted", "file", "profiles"),
        ("in-file", "keyring", "file", "profiles"),
        ("in-vault", "file", "encrypted", "vault"),
        ("in-vault", "keyring", "encrypted", "vault"),
        ("in-keyring", "file", "keyring", "keyring"),
        ("in-keyring", "encrypted", "keyring", "keyring"),
    ] {
        let out = ask(name, asked);
        assert_eq!(out.code, 7, "{name} asked in {asked}: {}", out.stderr);
        let want = format!("is in the {home} store");
        assert!(
            out.stderr.contains(&want),
            "{name} asked in {asked}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&format!("--store {home}")),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr
                .contains(&place.data().join(folder).display().to_string()),
            "{}",
            out.stderr
        );
    }
}
