//! `mssp-token refresh`: redeem a saved refresh token, rotate the file, explain a dead token.

use crate::support::{bin, browser_log, claims, run, Sandbox};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

fn login_saved(sb: &Sandbox, dir: &Path, extra: &[&str]) -> std::path::PathBuf {
    let file = dir.join("contoso.json");
    let out = run(sb
        .login(&dir.join("browser.log"), extra)
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

fn refresh(sb: &Sandbox, file: &Path, extra: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("refresh")
        .arg("--from")
        .arg(file)
        .arg("--authority")
        .arg(sb.authority())
        .args(extra)
        .env(
            "AZURE_CLIENT_SECRET",
            sb.app()["client_secret"].as_str().unwrap(),
        )
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::null());
    c
}

fn read(file: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap()
}

#[test]
fn refresh_rotates_the_saved_file_and_the_old_token_dies() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let before = read(&file);
    let old_copy = dir.path().join("old.json");
    std::fs::copy(&file, &old_copy).unwrap();

    let out = run(&mut refresh(&sb, &file, &["-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let after = read(&file);
    let printed: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(printed["refresh_token"], after["refresh_token"]);
    assert_ne!(before["refresh_token"], after["refresh_token"], "rotated");
    assert_eq!(after["tenant_id"], before["tenant_id"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // The rotated-out refresh token no longer works: exit 3 and the login command to run.
    let out = run(&mut refresh(&sb, &old_copy, &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS70008"), "{}", out.stderr);
    assert!(
        out.stderr.contains("mssp-token login --tenant"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains(old_copy.to_str().unwrap()),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn a_v1_refresh_token_is_redeemed_for_another_resource() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let out = run(&mut refresh(
        &sb,
        &file,
        &[
            "--resource",
            "https://api.security.microsoft.com",
            "-o",
            "json",
        ],
    ));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["resource"], "https://api.security.microsoft.com");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["aud"],
        "https://api.security.microsoft.com"
    );
}

#[test]
fn a_v2_file_refreshes_on_v2() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(
        &sb,
        dir.path(),
        &[
            "--scope",
            "https://api.securitycenter.microsoft.com/Alert.Read",
        ],
    );
    let out = run(&mut refresh(&sb, &file, &["-o", "json"]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["endpoint"], "v2");
    assert!(v["refresh_token"].is_string());
}

#[test]
fn revoked_sessions_say_sign_in_again() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let tenant = read(&file)["tenant_id"].as_str().unwrap().to_string();
    let status = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"])
        .arg(format!("{}/sandbox/revoke-sessions", sb.authority()))
        .arg("--data-urlencode")
        .arg(format!("tenant={tenant}"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&status.stdout), "200");
    let out = run(&mut refresh(&sb, &file, &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS50173"), "{}", out.stderr);
    assert!(out.stderr.contains("sign in again"), "{}", out.stderr);
}

#[test]
fn bad_token_files_are_named() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, i32, &str); 4] = [
        ("garbage.json", "not json at all", 2, "not valid JSON"),
        (
            "no-rt.json",
            r#"{"token_type":"Bearer","access_token":"a","expires_in":1,"expires_on":1,"expires_at":"x","tenant_id":"9ed38d36-d1a6-4200-9985-86bb0271d957","client_id":"b64a329e-a098-404b-99fd-26066cccda7e","resource":"https://x","endpoint":"v1"}"#,
            2,
            "holds no refresh_token",
        ),
        (
            "missing.json",
            r#"{"token_type":"Bearer"}"#,
            2,
            "missing field",
        ),
        ("empty.json", "", 2, "not valid JSON"),
    ];
    for (name, content, code, needle) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        let out = run(&mut refresh(&sb, &f, &[]));
        assert_eq!(out.code, code, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
    }
    let out = run(&mut refresh(&sb, &dir.path().join("absent.json"), &[]));
    assert_eq!(out.code, 7, "{}", out.stderr);
}

// ---- Issue 9 item 6: the rotated refresh token is never lost ----

/// Runs a command to completion with stdout and stderr collected (support::run's checks).
fn outcome(child: std::process::Child) -> crate::support::Output {
    let out = child.wait_with_output().unwrap();
    let o = crate::support::Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    o
}

#[test]
fn concurrent_refreshes_of_one_file_all_succeed() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let children: Vec<_> = (0..6)
        .map(|_| {
            refresh(&sb, &file, &["-o", "json"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let results: Vec<_> = children.into_iter().map(outcome).collect();
    let mut rotated = Vec::new();
    for r in &results {
        assert_eq!(
            r.code, 0,
            "every refresh succeeds (the loser waits for the lock and redeems the newest token), never a sign-in:\n{}",
            r.stderr
        );
        let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        rotated.push(v["refresh_token"].as_str().unwrap().to_string());
    }
    let mut unique = rotated.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        6,
        "each run redeemed the token the previous one saved"
    );
    let saved = read(&file);
    assert!(rotated.iter().any(|r| saved["refresh_token"] == *r));
    // And the file still works.
    let out = run(&mut refresh(&sb, &file, &[]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// `sh -c 'trap "" XFSZ; ulimit -f 0; exec mssp-token refresh --from FILE -o json'`: every
/// write to a file fails with EFBIG (root or not), after Entra has rotated the token.
fn refresh_without_file_writes(sb: &Sandbox, file: &Path) -> Command {
    let inner = refresh(sb, file, &["-o", "json"]);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg("trap '' XFSZ; ulimit -f 0; exec \"$0\" \"$@\"")
        .arg(inner.get_program())
        .args(inner.get_args())
        .stdin(Stdio::null());
    for (k, v) in inner.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh
}

fn stray_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp") || n.contains(".rescued-"))
        .collect()
}

#[test]
fn a_refresh_that_cannot_write_anywhere_prints_the_new_tokens() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let old = std::fs::read(&file).unwrap();

    let out = run(&mut refresh_without_file_writes(&sb, &file));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("printed on standard output"),
        "says where the new tokens are:\n{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&file).unwrap(), old, "the old file is intact");
    assert_eq!(stray_files(dir.path()), Vec::<String>::new());
    let printed: Value = serde_json::from_str(out.stdout.trim()).expect("the new tokens as JSON");
    let old: Value = serde_json::from_slice(&old).unwrap();
    assert_ne!(printed["refresh_token"], old["refresh_token"]);

    // The printed set is a working token file: saved by hand, it refreshes.
    let kept = dir.path().join("kept.json");
    std::fs::write(&kept, out.stdout.trim()).unwrap();
    let out = run(&mut refresh(&sb, &kept, &[]));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// Base64url without padding.
fn b64(v: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

const TID: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";
const CID: &str = "b64a329e-a098-404b-99fd-26066cccda7e";
const RESOURCE: &str = "https://api.securitycenter.microsoft.com";

/// A login host whose token endpoint runs `hook` on every request and then answers a rotated
/// token set for [`TID`] (refresh token `0.rotated-N`). Returns its URL and the request count.
fn hooked_authority(
    hook: impl Fn() + Send + 'static,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            let mut sink = Vec::new();
            let _ = req.as_reader().read_to_end(&mut sink);
            hook();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
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
            let resp = tiny_http::Response::from_data(body.into_bytes()).with_header(
                tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap(),
            );
            let _ = req.respond(resp);
        }
    });
    (format!("http://127.0.0.1:{port}"), hits)
}

/// A token file as a newer mssp-token saves it, obtained at `authority`.
fn token_file(path: &Path, authority: &str) {
    let v = serde_json::json!({
        "token_type": "Bearer",
        "access_token": format!("{}.{}.c2ln", b64(r#"{"alg":"none"}"#), b64(&format!(r#"{{"tid":"{TID}"}}"#))),
        "refresh_token": "0.the-saved-one",
        "expires_in": 3599, "expires_on": 1, "expires_at": "1970-01-01T00:00:01Z",
        "tenant_id": TID, "client_id": CID, "resource": RESOURCE, "endpoint": "v1",
        "authority": authority, "cloud": null,
    });
    std::fs::write(path, v.to_string()).unwrap();
}

fn refresh_at(file: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args(["refresh", "-o", "json", "--from"])
        .arg(file)
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_AUTHORITY_HOST")
        .stdin(Stdio::null());
    c
}

#[test]
fn a_file_that_cannot_be_replaced_after_redeeming_keeps_the_new_tokens_beside_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contoso.json");
    // While Entra answers, the token file becomes a folder: the rename cannot happen.
    let sabotaged = file.clone();
    let (authority, hits) = hooked_authority(move || {
        std::fs::remove_file(&sabotaged).unwrap();
        std::fs::create_dir(&sabotaged).unwrap();
    });
    token_file(&file, &authority);

    let out = run(&mut refresh_at(&file));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
    let rescued: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("contoso.json.rescued-"))
        .collect();
    assert_eq!(rescued.len(), 1, "one rescue file beside it: {rescued:?}");
    assert!(
        out.stderr.contains(rescued[0].to_str().unwrap()),
        "stderr says where:\n{}",
        out.stderr
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&rescued[0]).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let kept = read(&rescued[0]);
    assert_eq!(kept["refresh_token"], "0.rotated-1");
    assert_eq!(kept["tenant_id"], TID);
    assert_eq!(kept["authority"], authority.as_str());
    assert!(out.stdout.is_empty(), "{}", out.stdout);
}

#[test]
fn a_file_that_cannot_be_written_stops_the_refresh_before_the_token_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, hits) = hooked_authority(|| {});
    // A folder where no file can be created, whoever runs the test: a read-only tmpfs as root
    // (when the machine lets the test mount one), a 0555 folder otherwise.
    let folder = dir.path().join("ro");
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("contoso.json");
    token_file(&file, &authority);
    let old = std::fs::read(&file).unwrap();
    let root = crate::support::running_as_root();
    let mounted = root && {
        let copy = std::fs::read(&file).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&folder)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            std::fs::write(&file, &copy).unwrap();
            let ro = Command::new("mount")
                .args(["-o", "remount,ro"])
                .arg(&folder)
                .status()
                .unwrap();
            assert!(ro.success());
        }
        ok
    };
    if root && !mounted {
        eprintln!("skipped: running as root without permission to mount a tmpfs");
        return;
    }
    if !root {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
    }
    let out = run(&mut refresh_at(&file));
    if mounted {
        let _ = Command::new("umount").arg(&folder).status();
    } else {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(
        out.stderr.contains("Nothing was redeemed") && out.stderr.contains("still works"),
        "{}",
        out.stderr
    );
    assert_eq!(
        hits.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the refresh token was not sent"
    );
    if !mounted {
        assert_eq!(std::fs::read(&file).unwrap(), old);
    }
}

// ---- Issue 9 item 11: token files record where they came from ----

#[test]
fn a_saved_file_records_its_authority_and_refresh_goes_back_there() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let saved = read(&file);
    assert_eq!(saved["authority"], sb.authority().as_str());
    assert!(saved["cloud"].is_null(), "a custom authority has no cloud");

    // No --authority: refresh goes to the sandbox the file names, not the commercial cloud.
    let c = refresh(&sb, &file, &["-o", "json"]);
    let args: Vec<_> = c
        .get_args()
        .map(|a| a.to_os_string())
        .filter(|a| a != "--authority" && *a != *sb.authority())
        .collect();
    let mut bare = Command::new(c.get_program());
    bare.args(args).stdin(Stdio::null());
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => bare.env(k, v),
            None => bare.env_remove(k),
        };
    }
    let out = run(&mut bare);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(
        v["authority"],
        sb.authority().as_str(),
        "-o json says where"
    );
    assert!(v["cloud"].is_null());
    assert_eq!(read(&file)["authority"], sb.authority().as_str());
}

#[test]
fn a_flag_that_contradicts_the_file_is_refused_and_nothing_is_sent() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let (elsewhere, hits) = crate::support::static_authority(500, "text/plain", b"no".to_vec());
    let mut c = refresh(&sb, &file, &[]);
    // The same command with another --authority than the file's.
    let mut other = Command::new(bin());
    other
        .args(["refresh", "--from"])
        .arg(&file)
        .args(["--authority", &elsewhere]);
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => other.env(k, v),
            None => other.env_remove(k),
        };
    }
    let out = run(other.stdin(Stdio::null()));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("contradicts"), "{}", out.stderr);
    assert!(
        out.stderr.contains(&sb.authority()),
        "names where the token came from:\n{}",
        out.stderr
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

    let out = run(c.args(["--cloud", "usgov"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--cloud usgov contradicts"),
        "{}",
        out.stderr
    );
}

/// A raw TCP listener standing in for an HTTPS proxy: records the first request line of each
/// connection (the CONNECT host) and refuses it.
fn recording_proxy() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            let _ = BufReader::new(&conn).read_line(&mut line);
            log.lock().unwrap().push(line.trim().to_string());
            let _ = conn.write_all(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

#[test]
fn a_gcc_high_token_is_refreshed_in_gcc_high() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gov.json");
    token_file(&file, "https://login.microsoftonline.us");
    let mut v = read(&file);
    v["cloud"] = "usgov".into();
    std::fs::write(&file, v.to_string()).unwrap();
    let (proxy, seen) = recording_proxy();
    let out = run(refresh_at(&file)
        .env("HTTPS_PROXY", &proxy)
        .env("https_proxy", &proxy)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .env("MSSP_TOKEN_TIMEOUT", "5"));
    assert_ne!(out.code, 0, "the proxy refuses: {}", out.stderr);
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "a request went through the proxy");
    assert!(
        seen.iter()
            .all(|l| l.contains("login.microsoftonline.us:443")),
        "only GCC High's login host is asked: {seen:?}"
    );

    let out = run(refresh_at(&file).args(["--cloud", "public"]));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the usgov cloud (https://login.microsoftonline.us)"),
        "{}",
        out.stderr
    );
}

#[test]
fn a_file_from_an_older_version_falls_back_to_the_flags_with_a_warning() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let mut v = read(&file);
    v.as_object_mut().unwrap().remove("authority");
    v.as_object_mut().unwrap().remove("cloud");
    std::fs::write(&file, v.to_string()).unwrap();
    let out = run(&mut refresh(&sb, &file, &[]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("does not record where its token came from"),
        "{}",
        out.stderr
    );
    assert_eq!(read(&file)["authority"], sb.authority().as_str());
}

#[test]
fn the_sign_in_again_command_names_the_authority() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = login_saved(&sb, dir.path(), &[]);
    let saved = read(&file);
    let old_copy = dir.path().join("old.json");
    std::fs::copy(&file, &old_copy).unwrap();
    let out = run(&mut refresh(&sb, &file, &[]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(&mut refresh(&sb, &old_copy, &[]));
    assert_eq!(out.code, 3, "{}", out.stderr);
    let expected = format!(
        "mssp-token login --tenant {} --client-id {} --authority {} --resource {} --save {}",
        saved["tenant_id"].as_str().unwrap(),
        saved["client_id"].as_str().unwrap(),
        sb.authority(),
        saved["resource"].as_str().unwrap(),
        old_copy.display()
    );
    assert!(
        out.stderr.contains(&expected),
        "expected\n  {expected}\nin:\n{}",
        out.stderr
    );
}
