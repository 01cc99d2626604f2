//! Careless paths (issue 9 item 1): every file mssp-token writes or reads as a token file
//! (`--save`, `refresh --from`, `api --token-file`, `inspect --from`, `onboard --report`) is a
//! regular file or a symlink to one. A FIFO, a character device, a socket or a directory at the
//! path is refused with exit 7 naming what it is, and left as it was; reading never blocks on a
//! FIFO. A symlink to a regular file is followed: the file it points to is replaced and the link
//! stays (README "Token files").

use crate::support::{app_cmd, bin, running_as_root, Output, Sandbox};
use serde_json::Value;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const CONTOSO: &str = "contoso.onmicrosoft.com";

/// Runs `cmd`; a process still running after `limit` is killed and fails the test (it hung,
/// e.g. opening a FIFO). Not a timing assertion: the limit is far above any normal run.
fn run_bounded(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start mssp-token");
    let started = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "{cmd:?} hung (killed after {limit:?}); stderr:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let o = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stderr.contains("panicked"),
        "mssp-token panicked:\n{}",
        o.stderr
    );
    o
}

const LIMIT: Duration = Duration::from_secs(60);

fn mkfifo(p: &Path) {
    let ok = Command::new("mkfifo").arg(p).status().unwrap();
    assert!(ok.success(), "mkfifo {}", p.display());
}

/// What is not a regular file, each with the words the error must use. The socket's listener
/// is returned so that it stays bound.
struct Odd {
    path: PathBuf,
    words: &'static str,
    is_same_kind: fn(&std::fs::Metadata) -> bool,
}

fn odd_paths(dir: &Path, writing: bool) -> (Vec<Odd>, std::os::unix::net::UnixListener) {
    let fifo = dir.join("fifo.json");
    mkfifo(&fifo);
    let folder = dir.join("folder.json");
    std::fs::create_dir(&folder).unwrap();
    let sock = dir.join("socket.json");
    let listener = std::os::unix::net::UnixListener::bind(&sock).unwrap();
    // A character device: /dev/null, except for writes as root, where a failed refusal would
    // replace the real /dev/null: then a null device made in the test folder.
    let chr = if writing && running_as_root() {
        let p = dir.join("null-device");
        let ok = Command::new("mknod")
            .arg(&p)
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(ok.success(), "mknod");
        p
    } else {
        PathBuf::from("/dev/null")
    };
    let odd = vec![
        Odd {
            path: fifo,
            words: "it is a FIFO",
            is_same_kind: |m| m.file_type().is_fifo(),
        },
        Odd {
            path: folder,
            words: "it is a directory",
            is_same_kind: |m| m.is_dir(),
        },
        Odd {
            path: sock,
            words: "it is a socket",
            is_same_kind: |m| m.file_type().is_socket(),
        },
        Odd {
            path: chr,
            words: "it is a character device",
            is_same_kind: |m| m.file_type().is_char_device(),
        },
    ];
    (odd, listener)
}

fn token_cmd(sb: &Sandbox, cache: &Path) -> Command {
    let mut c = app_cmd(sb, "token", cache);
    c.args(["--tenant", CONTOSO, "--no-cache", "-o", "raw"]);
    c
}

#[test]
fn save_refuses_a_fifo_a_device_a_socket_and_a_directory() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (odd, _listener) = odd_paths(dir.path(), true);
    for o in &odd {
        let out = run_bounded(token_cmd(&sb, &cache).arg("--save").arg(&o.path), LIMIT);
        let what = o.path.display();
        assert_eq!(out.code, 7, "--save {what}: exit 7\n{}", out.stderr);
        assert!(
            out.stderr.contains(o.words) && out.stderr.contains(&what.to_string()),
            "--save {what}: names the path and says '{}':\n{}",
            o.words,
            out.stderr
        );
        assert!(out.stdout.is_empty(), "nothing printed: {}", out.stdout);
        let after = std::fs::symlink_metadata(&o.path).unwrap();
        assert!(
            (o.is_same_kind)(&after),
            "--save {what}: left as it was, not replaced by a file"
        );
    }
    // And no temporary file was left beside them.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(names.is_empty(), "{names:?}");
}

#[test]
fn a_token_file_that_is_not_a_regular_file_is_refused_without_blocking() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (odd, _listener) = odd_paths(dir.path(), false);
    let app = sb.app();
    for o in &odd {
        let p = o.path.to_str().unwrap();
        let runs: Vec<(&str, Command)> = vec![
            ("refresh --from", {
                let mut c = Command::new(bin());
                c.args(["refresh", "--authority", &sb.authority(), "--from", p])
                    .env(
                        "AZURE_CLIENT_SECRET",
                        app["client_secret"].as_str().unwrap(),
                    )
                    .env("MSSP_TOKEN_CACHE_DIR", &cache);
                c
            }),
            ("inspect --from", {
                let mut c = Command::new(bin());
                c.args(["inspect", "--from", p]);
                c
            }),
            ("api --token-file", {
                let mut c = Command::new(bin());
                c.args(["api", "/api/alerts", "--token-file", p])
                    .args(["--base-url", &sb.authority()]);
                c
            }),
        ];
        for (what, mut cmd) in runs {
            cmd.env_remove("AZURE_TENANT_ID")
                .env_remove("AZURE_CLIENT_ID")
                .env_remove("AZURE_AUTHORITY_HOST");
            let out = run_bounded(&mut cmd, LIMIT);
            assert_eq!(out.code, 7, "{what} {p}: exit 7\n{}", out.stderr);
            assert!(
                out.stderr.contains(o.words) && out.stderr.contains(p),
                "{what} {p}: names the path and says '{}':\n{}",
                o.words,
                out.stderr
            );
        }
    }
}

#[test]
fn onboard_report_refuses_a_fifo() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.txt");
    std::fs::write(&tenants, format!("{CONTOSO}\n")).unwrap();
    let report = dir.path().join("report.ndjson");
    mkfifo(&report);
    let mut c = app_cmd(&sb, "onboard", &dir.path().join("cache"));
    c.arg("--tenants")
        .arg(&tenants)
        .arg("--report")
        .arg(&report);
    let out = run_bounded(&mut c, LIMIT);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("it is a FIFO"), "{}", out.stderr);
    let m = std::fs::symlink_metadata(&report).unwrap();
    assert!(m.file_type().is_fifo(), "the FIFO is still there");
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn a_symlink_to_a_regular_file_is_followed_and_stays_a_link() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let real_dir = dir.path().join("real");
    std::fs::create_dir(&real_dir).unwrap();
    let real = real_dir.join("contoso.json");
    std::fs::write(&real, "{\"old\":true}").unwrap();
    let link = dir.path().join("contoso.json");
    std::os::unix::fs::symlink(&real, &link).unwrap();

    let out = run_bounded(token_cmd(&sb, &cache).arg("--save").arg(&link), LIMIT);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink(),
        "the link stays a link"
    );
    assert_eq!(std::fs::read_link(&link).unwrap(), real);
    let saved: Value = serde_json::from_slice(&std::fs::read(&real).unwrap()).unwrap();
    assert_eq!(saved["access_token"].as_str(), Some(out.stdout.trim()));
    assert_eq!(mode(&real), 0o600);
    let stray: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .chain(std::fs::read_dir(&real_dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");

    // A dangling link, and a link to a FIFO, are refused and left alone.
    let dangling = dir.path().join("dangling.json");
    std::os::unix::fs::symlink(dir.path().join("absent.json"), &dangling).unwrap();
    let out = run_bounded(token_cmd(&sb, &cache).arg("--save").arg(&dangling), LIMIT);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("dangling"), "{}", out.stderr);
    assert!(!dir.path().join("absent.json").exists());

    let fifo = dir.path().join("fifo");
    mkfifo(&fifo);
    let to_fifo = dir.path().join("to-fifo.json");
    std::os::unix::fs::symlink(&fifo, &to_fifo).unwrap();
    let out = run_bounded(token_cmd(&sb, &cache).arg("--save").arg(&to_fifo), LIMIT);
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("which is a FIFO"), "{}", out.stderr);
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());

    // Reading through the link works too: inspect --from follows it.
    let out = run_bounded(
        Command::new(bin())
            .args(["inspect", "--from"])
            .arg(&link)
            .args(["-o", "json"]),
        LIMIT,
    );
    assert_eq!(out.code, 0, "{}", out.stderr);

    if running_as_root() {
        // A link someone else made (the /tmp trap) is not followed.
        let theirs = dir.path().join("theirs.json");
        std::os::unix::fs::symlink(&real, &theirs).unwrap();
        std::os::unix::fs::lchown(&theirs, Some(65534), Some(65534)).unwrap();
        let before = std::fs::read(&real).unwrap();
        let out = run_bounded(token_cmd(&sb, &cache).arg("--save").arg(&theirs), LIMIT);
        assert_eq!(out.code, 7, "{}", out.stderr);
        assert!(
            out.stderr.contains("owned by another user (uid 65534)"),
            "{}",
            out.stderr
        );
        assert_eq!(
            std::fs::read(&real).unwrap(),
            before,
            "the target is untouched"
        );
    }
}
