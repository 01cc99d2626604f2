//! Storage faults: parallel writers, failed writes, and file modes under a permissive umask.
//!
//! - 16 processes saving to the same --save file, and 16 sharing one cache key, leave valid JSON
//!   (and no temporary files behind).
//! - A write that fails leaves the previous token file as it was: exit 7, the path named.
//!   The failures used, because the tests may run as root (where a 0555 folder does not stop a
//!   write): a file-size limit of 0 (`ulimit -f 0`, SIGXFSZ ignored: every write fails with
//!   EFBIG, root or not), a full tmpfs and a read-only tmpfs when this machine lets the test
//!   mount one (root in a container), and a 0555 folder when not running as root.
//! - Token files are 0600 and folders 0700 even under `umask 000`.

use crate::support::{self, bin, clean_cmd, files_under, running_as_root, Sandbox};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

const CONTOSO: &str = "contoso.onmicrosoft.com";

/// `mssp-token token` for Contoso with the main app, stdout piped.
fn token_cmd(sb: &Sandbox, cache: &Path) -> Command {
    let app = sb.app();
    let mut c = clean_cmd(cache);
    c.args(["token", "--authority", &sb.authority(), "--tenant", CONTOSO])
        .args([
            "--client-id",
            app["client_id"].as_str().unwrap(),
            "-o",
            "raw",
        ])
        .env(
            "AZURE_CLIENT_SECRET",
            app["client_secret"].as_str().unwrap(),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

fn text(o: &Output) -> (i32, String, String) {
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "mssp-token panicked:\n{stderr}"
    );
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr,
    )
}

fn wait_all(children: Vec<Child>) -> Vec<(i32, String, String)> {
    children
        .into_iter()
        .map(|c| text(&c.wait_with_output().unwrap()))
        .collect()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

fn leftovers(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(".mssp-token-") || n.ends_with(".tmp")
        })
        .collect()
}

#[test]
fn sixteen_processes_saving_the_same_file_leave_valid_json() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contoso.json");
    let children: Vec<Child> = (0..16)
        .map(|_| {
            token_cmd(&sb, &dir.path().join("cache"))
                .arg("--no-cache")
                .arg("--save")
                .arg(&file)
                .spawn()
                .unwrap()
        })
        .collect();
    let results = wait_all(children);
    let printed: Vec<String> = results
        .iter()
        .map(|(code, stdout, stderr)| {
            assert_eq!(*code, 0, "{stderr}");
            stdout.trim().to_string()
        })
        .collect();
    let saved: Value = serde_json::from_slice(&std::fs::read(&file).unwrap())
        .expect("the saved file is one whole JSON object");
    let at = saved["access_token"].as_str().expect("an access_token");
    assert!(
        printed.iter().any(|p| p == at),
        "the file holds one of the tokens that were printed"
    );
    assert_eq!(mode(&file), 0o600);
    assert_eq!(leftovers(dir.path()), Vec::<PathBuf>::new());
}

#[test]
fn sixteen_processes_sharing_a_cache_key_all_succeed_with_one_token() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    // The cache folder does not exist yet: the 16 also race to create it.
    let cache = dir.path().join("cache").join("mssp-token");
    let children: Vec<Child> = (0..16)
        .map(|_| token_cmd(&sb, &cache).spawn().unwrap())
        .collect();
    let results = wait_all(children);
    for (code, stdout, stderr) in &results {
        assert_eq!(*code, 0, "{stderr}");
        assert!(!stdout.trim().is_empty());
    }
    let first = results[0].1.trim();
    assert!(
        results.iter().all(|(_, s, _)| s.trim() == first),
        "the key's lock makes one request; the others read the cache"
    );
    // (tenant-*.json: the domain's tenant ID, remembered beside the token entries.)
    let entries: Vec<PathBuf> = files_under(&cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tenant-")
        })
        .collect();
    assert_eq!(entries.len(), 1, "one cache entry: {entries:?}");
    let v: Value = serde_json::from_slice(&std::fs::read(&entries[0]).unwrap())
        .expect("the cache entry is valid JSON");
    assert_eq!(v["access_token"].as_str(), Some(first));
    assert_eq!(leftovers(&cache), Vec::<PathBuf>::new());
    // And a 17th run is served from it.
    let again = text(&token_cmd(&sb, &cache).output().unwrap());
    assert_eq!(again.1.trim(), first, "{}", again.2);
}

/// A tmpfs mounted by the test (root only), unmounted on drop.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn remount_read_only(&self) {
        let ok = Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .status()
            .unwrap();
        assert!(ok.success(), "remount read-only");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// Saves over `file` in a way that fails; the old file must be intact.
fn assert_failed_save_keeps(what: &str, mut cmd: Command, file: &Path, old: &[u8]) {
    let (code, stdout, stderr) = text(&cmd.output().unwrap());
    assert_eq!(code, 7, "{what}: exit 7 (storage), stderr:\n{stderr}");
    assert!(
        stderr.contains(&file.display().to_string()),
        "{what}: the path is named:\n{stderr}"
    );
    assert!(
        stderr.contains("unchanged"),
        "{what}: says the old file is unchanged:\n{stderr}"
    );
    assert!(stdout.is_empty(), "{what}: nothing printed: {stdout}");
    assert_eq!(
        std::fs::read(file).unwrap(),
        old,
        "{what}: the previous file survives the failed write"
    );
    let dir = file.parent().unwrap();
    assert_eq!(leftovers(dir), Vec::<PathBuf>::new(), "{what}");
}

/// `sh -c '<prefix>; exec mssp-token ARGS'`, with `token_cmd`'s arguments and environment.
fn wrapped(sb: &Sandbox, cache: &Path, prefix: &str, save: &Path) -> Command {
    let app = sb.app();
    let clean = clean_cmd(cache);
    let mut sh = Command::new("sh");
    sh.arg("-c")
        .arg(format!("{prefix}; exec \"$0\" \"$@\""))
        .arg(bin())
        .args(["token", "--no-cache", "--authority", &sb.authority()])
        .args([
            "--tenant",
            CONTOSO,
            "--client-id",
            app["client_id"].as_str().unwrap(),
        ])
        .arg("--save")
        .arg(save)
        .stdin(Stdio::null());
    for (k, v) in clean.get_envs() {
        match v {
            Some(v) => sh.env(k, v),
            None => sh.env_remove(k),
        };
    }
    sh.env(
        "AZURE_CLIENT_SECRET",
        app["client_secret"].as_str().unwrap(),
    );
    sh
}

#[test]
fn a_failed_write_leaves_the_old_token_file_intact() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let mut modes_tried = Vec::new();

    // Writes fail with EFBIG whoever runs them: a file-size limit of 0 blocks.
    {
        let folder = dir.path().join("fsize");
        std::fs::create_dir_all(&folder).unwrap();
        let file = folder.join("contoso.json");
        std::fs::write(&file, b"{\"old\":true}").unwrap();
        let cmd = wrapped(&sb, &cache, "trap '' XFSZ; ulimit -f 0", &file);
        assert_failed_save_keeps("file-size limit 0", cmd, &file, b"{\"old\":true}");
        modes_tried.push("ulimit -f 0");
    }

    if running_as_root() {
        // A full disk: a tiny tmpfs, the old file in it, the rest filled up.
        let mnt = dir.path().join("full");
        if let Some(fs) = Tmpfs::mount(&mnt, "64k") {
            let file = fs.0.join("contoso.json");
            let old = format!("{{\"old\":\"{}\"}}", "x".repeat(2000)).into_bytes();
            std::fs::write(&file, &old).unwrap();
            let filler = fs.0.join("filler");
            let chunk = vec![0u8; 4096];
            let mut f = std::fs::File::create(&filler).unwrap();
            use std::io::Write;
            while f.write_all(&chunk).and_then(|_| f.sync_all()).is_ok() {}
            drop(f);
            let cmd = wrapped(&sb, &cache, "true", &file);
            assert_failed_save_keeps("full disk (tmpfs)", cmd, &file, &old);
            modes_tried.push("full tmpfs");
        }
        // A read-only file system: root cannot write there either.
        let mnt = dir.path().join("ro");
        if let Some(fs) = Tmpfs::mount(&mnt, "1m") {
            let file = fs.0.join("contoso.json");
            std::fs::write(&file, b"{\"old\":1}").unwrap();
            fs.remount_read_only();
            let cmd = wrapped(&sb, &cache, "true", &file);
            assert_failed_save_keeps("read-only file system", cmd, &file, b"{\"old\":1}");
            modes_tried.push("read-only tmpfs");
        }
    } else {
        use std::os::unix::fs::PermissionsExt;
        let folder = dir.path().join("readonly");
        std::fs::create_dir_all(&folder).unwrap();
        let file = folder.join("contoso.json");
        std::fs::write(&file, b"{\"old\":2}").unwrap();
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o555)).unwrap();
        let cmd = wrapped(&sb, &cache, "true", &file);
        assert_failed_save_keeps("read-only folder (0555)", cmd, &file, b"{\"old\":2}");
        std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o755)).unwrap();
        modes_tried.push("0555 folder");
    }
    eprintln!("failed writes simulated with: {}", modes_tried.join(", "));
}

#[test]
fn files_are_0600_and_folders_0700_even_under_umask_000() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let app = sb.app();
    let umask0 = |args: &[&str]| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg("umask 000; exec \"$0\" \"$@\"")
            .arg(bin())
            .args(args)
            .env(
                "AZURE_CLIENT_SECRET",
                app["client_secret"].as_str().unwrap(),
            )
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_AUTHORITY_HOST")
            .env_remove("SSL_CERT_FILE")
            .stdin(Stdio::null());
        c
    };
    let authority = sb.authority();
    let client = app["client_id"].as_str().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // A file that already exists with mode 0644 is replaced by a 0600 one.
    let token_file = out.join("token.json");
    std::fs::write(&token_file, "{}").unwrap();
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    // The cache folder and its parents do not exist yet.
    let cache_root = dir.path().join("cache");
    let cache = cache_root.join("a").join("mssp-token");

    let s = |p: &Path| p.display().to_string();
    let runs: Vec<(&str, Command)> = vec![
        ("token --save, cache", {
            let mut c = umask0(&["token", "--authority", &authority, "--tenant", CONTOSO]);
            c.args(["--client-id", client, "--save", &s(&token_file)])
                .env("MSSP_TOKEN_CACHE_DIR", &cache);
            c
        }),
        ("login --save", {
            let mut c = umask0(&["login", "--authority", &authority, "--tenant", CONTOSO]);
            c.args(["--client-id", client, "--wait", "20"])
                .args(["--save", &s(&out.join("login.json"))])
                .env("BROWSER", support::fake_browser())
                .env("FAKE_BROWSER_LOG", dir.path().join("browser.log"));
            c
        }),
        ("onboard --report", {
            let tenants = dir.path().join("tenants.txt");
            std::fs::write(&tenants, format!("{CONTOSO}\n")).unwrap();
            let mut c = umask0(&["onboard", "--authority", &authority, "--client-id", client]);
            c.args(["--tenants", &s(&tenants)])
                .args(["--report", &s(&out.join("report.ndjson"))]);
            c
        }),
    ];
    for (what, mut c) in runs {
        let o = text(&c.output().unwrap());
        assert_eq!(o.0, 0, "{what}: {}", o.2);
    }
    // refresh rewrites the login file under umask 000 too.
    let o = text(
        &umask0(&["refresh", "--authority", &authority])
            .args(["--from", &s(&out.join("login.json"))])
            .output()
            .unwrap(),
    );
    assert_eq!(o.0, 0, "refresh: {}", o.2);

    let mut wrong = Vec::new();
    for f in files_under(&out)
        .into_iter()
        .chain(files_under(&cache_root))
    {
        if mode(&f) != 0o600 {
            wrong.push(format!("file {} is {:o}", f.display(), mode(&f)));
        }
    }
    let mut d = cache.clone();
    while d != dir.path() {
        if mode(&d) != 0o700 {
            wrong.push(format!("folder {} is {:o}", d.display(), mode(&d)));
        }
        d = d.parent().unwrap().to_path_buf();
    }
    assert!(
        files_under(&cache)
            .iter()
            .any(|f| f.extension().is_some_and(|e| e == "json")),
        "a cache entry was written"
    );
    assert!(
        wrong.is_empty(),
        "under umask 000, files must be 0600 and folders 0700:\n  {}",
        wrong.join("\n  ")
    );
}

// ---- Issue 9 items 8 and 4 (cache part): existing folders are not chmod'ed; a cache others
// can change is not trusted ----

fn mode_bits(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The token entries of a cache folder (not the tenant-ID entries kept beside them).
fn cache_entries(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .filter(|p| {
            !p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("tenant-")
        })
        .collect()
}

fn uid() -> String {
    let o = Command::new("id").arg("-u").output().unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn an_existing_cache_folder_keeps_its_mode_and_a_shared_one_its_sticky_bit() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();

    // A shared 1777 folder (like /tmp) as MSSP_TOKEN_CACHE_DIR: untouched; the tokens go to a
    // private subfolder.
    let shared = dir.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    set_mode(&shared, 0o1777);
    let first = text(&token_cmd(&sb, &shared).output().unwrap());
    assert_eq!(first.0, 0, "{}", first.2);
    assert_eq!(mode_bits(&shared), 0o1777, "mode and sticky bit kept");
    let own = shared.join(format!("mssp-token-{}", uid()));
    assert_eq!(mode_bits(&own), 0o700, "the private subfolder it made");
    assert_eq!(cache_entries(&own).len(), 1);
    let again = text(&token_cmd(&sb, &shared).output().unwrap());
    assert_eq!(again.1, first.1, "served from the cache: {}", again.2);

    // A folder of the user's own with mode 0755: used as it is, not chmod'ed.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).unwrap();
    set_mode(&mine, 0o755);
    let out = text(&token_cmd(&sb, &mine).output().unwrap());
    assert_eq!(out.0, 0, "{}", out.2);
    assert_eq!(mode_bits(&mine), 0o755);
    let entries = cache_entries(&mine);
    assert_eq!(entries.len(), 1);
    assert_eq!(mode_bits(&entries[0]), 0o600);
}

#[test]
fn a_cache_folder_or_entry_others_can_change_is_ignored_with_a_warning() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");

    // A working cache first.
    let first = text(&token_cmd(&sb, &cache).output().unwrap());
    assert_eq!(first.0, 0, "{}", first.2);
    let entry = cache_entries(&cache).pop().expect("a cache entry");

    // An entry readable and writable by others: not used (a new token), and replaced by a
    // private one.
    set_mode(&entry, 0o666);
    let out = text(&token_cmd(&sb, &cache).output().unwrap());
    assert_eq!(out.0, 0, "{}", out.2);
    assert!(
        out.2.contains("ignoring the cached token") && out.2.contains("mode 666"),
        "{}",
        out.2
    );
    assert_ne!(out.1, first.1, "the entry was not trusted");
    assert_eq!(mode_bits(&entry), 0o600, "replaced by a private entry");
    let cached = out.1.clone();

    // A folder writable by everyone (no sticky bit): not used at all, and not chmod'ed.
    set_mode(&cache, 0o777);
    let out = text(&token_cmd(&sb, &cache).output().unwrap());
    assert_eq!(out.0, 0, "{}", out.2);
    assert!(
        out.2.contains("not using the token cache")
            && out.2.contains("writable by group or others (mode 777)"),
        "{}",
        out.2
    );
    assert_ne!(out.1, cached, "the cache was bypassed");
    assert_eq!(mode_bits(&cache), 0o777, "not chmod'ed");
    assert_eq!(
        std::fs::read(&entry)
            .map(|b| serde_json::from_slice::<Value>(&b).unwrap()["access_token"].clone())
            .unwrap(),
        Value::String(cached.trim().to_string()),
        "nothing was written to the untrusted folder"
    );
    set_mode(&cache, 0o700);

    if running_as_root() {
        // Owned by another user: as root, chown them to nobody.
        std::os::unix::fs::chown(&entry, Some(65534), Some(65534)).unwrap();
        let out = text(&token_cmd(&sb, &cache).output().unwrap());
        assert_eq!(out.0, 0, "{}", out.2);
        assert!(
            out.2.contains("belongs to another user (uid 65534)"),
            "{}",
            out.2
        );
        assert_ne!(out.1, cached);
        let other = dir.path().join("theirs");
        std::fs::create_dir(&other).unwrap();
        set_mode(&other, 0o700);
        std::os::unix::fs::chown(&other, Some(65534), Some(65534)).unwrap();
        let out = text(&token_cmd(&sb, &other).output().unwrap());
        assert_eq!(out.0, 0, "{}", out.2);
        assert!(
            out.2.contains("not using the token cache")
                && out.2.contains("belongs to another user (uid 65534)"),
            "{}",
            out.2
        );
        assert!(cache_entries(&other).is_empty());
    }
}

// ---- Issue 9 item 13 (part): a lock held too long is an error, not an endless wait ----

/// A python process holding an exclusive flock on `path` until killed (returned once it holds
/// it).
struct Holder(Child);

impl Holder {
    fn lock(path: &Path) -> Holder {
        use std::io::BufRead;
        let mut child = Command::new("python3")
            .arg("-c")
            .arg("import fcntl,sys,time\nf=open(sys.argv[1],'a')\nfcntl.flock(f,fcntl.LOCK_EX)\nprint('locked',flush=True)\ntime.sleep(600)")
            .arg(path)
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "locked");
        Holder(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `cmd`, killing it (and failing) if it is still waiting after a minute.
fn run_guarded(mut cmd: Command) -> (i32, String, String) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > std::time::Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} waited for the lock without a deadline");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    text(&child.wait_with_output().unwrap())
}

#[test]
fn a_cache_lock_held_too_long_is_exit_7_naming_the_holder() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let out = text(&token_cmd(&sb, &cache).output().unwrap());
    assert_eq!(out.0, 0, "{}", out.2);
    // A miss (the entry removed) must take the key's lock, which python holds.
    for e in cache_entries(&cache) {
        std::fs::remove_file(e).unwrap();
    }
    let lock = files_under(&cache)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .expect("the key's lock file");
    let holder = Holder::lock(&lock);
    let mut cmd = token_cmd(&sb, &cache);
    cmd.env("MSSP_TOKEN_LOCK_WAIT_SECS", "1");
    let (code, stdout, stderr) = run_guarded(cmd);
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains(&format!("locked by another process (pid {}", holder.pid()))
            && stderr.contains("for 1 s")
            && stderr.contains(&lock.display().to_string()),
        "{stderr}"
    );
    assert!(stdout.is_empty());
}

#[test]
fn a_token_file_locked_too_long_is_exit_7_naming_the_holder() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("contoso.json");
    let app = sb.app();
    let login = text(
        &sb.login(&dir.path().join("browser.log"), &[])
            .arg("--save")
            .arg(&file)
            .output()
            .unwrap(),
    );
    assert_eq!(login.0, 0, "{}", login.2);
    let before = std::fs::read(&file).unwrap();
    let holder = Holder::lock(&file);
    let mut cmd = clean_cmd(&dir.path().join("cache"));
    cmd.args(["refresh", "--from"])
        .arg(&file)
        .env(
            "AZURE_CLIENT_SECRET",
            app["client_secret"].as_str().unwrap(),
        )
        .env("MSSP_TOKEN_LOCK_WAIT_SECS", "1");
    let (code, _, stderr) = run_guarded(cmd);
    assert_eq!(code, 7, "{stderr}");
    assert!(
        stderr.contains(&format!("locked by another process (pid {}", holder.pid()))
            && stderr.contains("for 1 s"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(&file).unwrap(),
        before,
        "nothing redeemed or written"
    );
    drop(holder);
    // Once it is released, the refresh goes through.
    let mut cmd = clean_cmd(&dir.path().join("cache"));
    cmd.args(["refresh", "--from"]).arg(&file).env(
        "AZURE_CLIENT_SECRET",
        app["client_secret"].as_str().unwrap(),
    );
    let (code, _, stderr) = run_guarded(cmd);
    assert_eq!(code, 0, "{stderr}");
}
