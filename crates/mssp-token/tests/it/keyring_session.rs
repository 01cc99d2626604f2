//! A real Secret Service for one test: a private D-Bus session (`dbus-daemon`) with
//! `gnome-keyring-daemon` on it, unlocked with a test password on its standard input, HOME and
//! the XDG folders in a temporary folder. Nothing is set in this process's environment (tests
//! run in parallel): [`KeyringSession::env`] gives a command the session's variables.
//!
//! The bus has no service directories, so nothing is started behind the test's back (no
//! auto-activated second keyring, no password prompter): what runs is what the test started,
//! and both processes are killed and reaped on drop. A missing program fails the test with the
//! Debian package to install (.ci/setup installs them); nothing is skipped.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The test keyring's password.
pub const KEYRING_PASSWORD: &str = "keyring-test-password";

/// How long the daemons get to come up (a bound on a wait, not a timed assertion).
const START_WAIT: Duration = Duration::from_secs(30);

pub struct KeyringSession {
    root: tempfile::TempDir,
    bus: Option<Child>,
    keyring: Option<Child>,
    address: String,
    paused: bool,
}

/// Starts `program`, or fails the test naming the Debian package that provides it.
fn spawn(cmd: &mut Command, package: &str) -> Child {
    let program = cmd.get_program().to_string_lossy().into_owned();
    cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start {program} ({e}): install the Debian package {package} (.ci/setup does)"
        )
    })
}

impl KeyringSession {
    /// A session bus with an unlocked gnome-keyring on it.
    pub fn start() -> KeyringSession {
        let mut s = Self::bus_only();
        s.start_keyring(true);
        s
    }

    /// A session bus with no Secret Service on it.
    pub fn bus_only() -> KeyringSession {
        let root = tempfile::Builder::new()
            .prefix("kr")
            .tempdir()
            .expect("a temporary folder");
        for d in ["home", "data", "config", "cache", "run"] {
            let p = root.path().join(d);
            std::fs::create_dir_all(&p).unwrap();
            set_mode(&p, 0o700);
        }
        let socket = root.path().join("bus");
        let config = root.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .unwrap();
        let mut cmd = Command::new("dbus-daemon");
        cmd.arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address=1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut bus = spawn(&mut cmd, "dbus-daemon (dbus)");
        // The address is printed once the bus listens.
        let mut line = String::new();
        BufReader::new(bus.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("read the bus address");
        let address = line.trim().to_string();
        assert!(
            address.starts_with("unix:path="),
            "dbus-daemon printed no address: {line:?}"
        );
        KeyringSession {
            root,
            bus: Some(bus),
            keyring: None,
            address,
            paused: false,
        }
    }

    /// Gives `cmd` this session: its bus, HOME and XDG folders.
    pub fn env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        let p = |d: &str| self.root.path().join(d);
        cmd.env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("HOME", p("home"))
            .env("XDG_DATA_HOME", p("data"))
            .env("XDG_CONFIG_HOME", p("config"))
            .env("XDG_CACHE_HOME", p("cache"))
            .env("XDG_RUNTIME_DIR", p("run"))
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
    }

    /// Starts gnome-keyring's Secret Service on the bus, unlocked (`--unlock`, the password on
    /// its standard input, which creates the login keyring the first time) or not; waits until
    /// it owns org.freedesktop.secrets (and, unlocked, until its default collection is open).
    pub fn start_keyring(&mut self, unlock: bool) {
        assert!(self.keyring.is_none(), "a keyring is running already");
        let mut cmd = Command::new("gnome-keyring-daemon");
        cmd.args(["--foreground", "--components=secrets"]);
        if unlock {
            cmd.arg("--unlock");
        }
        self.env(&mut cmd)
            .stdin(if unlock {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(self.root.path().join("gnome-keyring.log")).unwrap(),
            ));
        let mut child = spawn(&mut cmd, "gnome-keyring");
        if unlock {
            let mut stdin = child.stdin.take().unwrap();
            stdin.write_all(KEYRING_PASSWORD.as_bytes()).unwrap();
        }
        self.keyring = Some(child);
        self.wait_until("gnome-keyring owns org.freedesktop.secrets", |s| {
            s.dbus_send(&[
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .is_some_and(|o| o.contains("boolean true"))
        });
        if unlock {
            self.wait_until("the default collection is unlocked", |s| {
                s.default_collection_locked() == Some(false)
            });
        }
    }

    /// Stops the Secret Service (the bus stays).
    pub fn stop_keyring(&mut self) {
        if let Some(mut k) = self.keyring.take() {
            if self.paused {
                self.resume_pid(k.id());
            }
            let _ = k.kill();
            let _ = k.wait();
        }
        self.wait_until("org.freedesktop.secrets is gone", |s| {
            s.dbus_send(&[
                "--dest=org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus.NameHasOwner",
                "string:org.freedesktop.secrets",
            ])
            .is_some_and(|o| o.contains("boolean false"))
        });
    }

    /// Locks the login collection through the Secret Service's own D-Bus method (what a desktop
    /// does on a screen lock), and checks that it is locked.
    pub fn lock(&self) {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ]);
        assert!(out.is_some(), "the Lock call failed");
        assert_eq!(
            self.default_collection_locked(),
            Some(true),
            "the login collection is locked"
        );
    }

    /// Stops the Secret Service process (SIGSTOP): it still owns its name, messages to it are
    /// queued, and no answer ever comes, like a keyring waiting on a prompt nobody sees.
    pub fn pause(&mut self) {
        let pid = self.keyring.as_ref().expect("a running keyring").id();
        let ok = Command::new("kill")
            .args(["-STOP", &pid.to_string()])
            .status()
            .expect("kill")
            .success();
        assert!(ok, "SIGSTOP the keyring");
        self.paused = true;
    }

    pub fn resume(&mut self) {
        if let Some(pid) = self.keyring.as_ref().map(Child::id) {
            self.resume_pid(pid);
        }
    }

    fn resume_pid(&mut self, pid: u32) {
        let _ = Command::new("kill")
            .args(["-CONT", &pid.to_string()])
            .status();
        self.paused = false;
    }

    /// Whether the collection behind the `default` alias is locked (`None`: no answer).
    pub fn default_collection_locked(&self) -> Option<bool> {
        let out = self.dbus_send(&[
            "--dest=org.freedesktop.secrets",
            "/org/freedesktop/secrets/aliases/default",
            "org.freedesktop.DBus.Properties.Get",
            "string:org.freedesktop.Secret.Collection",
            "string:Locked",
        ])?;
        if out.contains("boolean true") {
            Some(true)
        } else if out.contains("boolean false") {
            Some(false)
        } else {
            None
        }
    }

    /// `dbus-send --session --print-reply ARGS` on this bus: its output, `None` if it failed.
    fn dbus_send(&self, args: &[&str]) -> Option<String> {
        let mut cmd = Command::new("dbus-send");
        cmd.args(["--session", "--print-reply", "--reply-timeout=5000"])
            .args(args)
            .stdin(Stdio::null());
        self.env(&mut cmd);
        let out = cmd
            .output()
            .unwrap_or_else(|e| panic!("cannot start dbus-send ({e}): install dbus-bin (dbus)"));
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn wait_until(&self, what: &str, ready: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !ready(self) {
            assert!(
                started.elapsed() < START_WAIT,
                "{what}: not within {START_WAIT:?}; gnome-keyring said: {}",
                std::fs::read_to_string(self.root.path().join("gnome-keyring.log"))
                    .unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `secret-tool ARGS` in this session.
    pub fn secret_tool(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("secret-tool");
        cmd.args(args).stdin(Stdio::null());
        self.env(&mut cmd);
        cmd
    }

    /// What the keyring holds for mssp-token's profile `name`, asked from outside with
    /// `secret-tool lookup service mssp-token username profile:NAME`.
    pub fn lookup(&self, name: &str) -> Option<String> {
        let account = format!("profile:{name}");
        let out = self
            .secret_tool(&["lookup", "service", "mssp-token", "username", &account])
            .output()
            .unwrap_or_else(|e| panic!("cannot start secret-tool ({e}): install libsecret-tools"));
        (out.status.success() && !out.stdout.is_empty())
            .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stores `value` for profile `name` from outside (`secret-tool store`), as another program
    /// (or a person) could.
    pub fn store(&self, name: &str, value: &str) {
        self.clear(name);
        let account = format!("profile:{name}");
        let mut child = self
            .secret_tool(&[
                "store",
                "--label",
                "planted by a test",
                "service",
                "mssp-token",
                "username",
                &account,
                "target",
                "default",
                "application",
                "rust-keyring",
            ])
            .stdin(Stdio::piped())
            .spawn()
            .expect("secret-tool");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(value.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "secret-tool store");
    }

    /// Removes profile `name`'s entry from outside (`secret-tool clear`).
    pub fn clear(&self, name: &str) {
        let account = format!("profile:{name}");
        let ok = self
            .secret_tool(&["clear", "service", "mssp-token", "username", &account])
            .status()
            .expect("secret-tool")
            .success();
        assert!(ok, "secret-tool clear");
    }

    /// The keyring files gnome-keyring keeps on disk (encrypted with the keyring's password).
    pub fn keyring_files(&self) -> PathBuf {
        self.root.path().join("data/keyrings")
    }
}

impl Drop for KeyringSession {
    fn drop(&mut self) {
        if let Some(mut k) = self.keyring.take() {
            if self.paused {
                let _ = Command::new("kill")
                    .args(["-CONT", &k.id().to_string()])
                    .status();
            }
            let _ = k.kill();
            let _ = k.wait();
        }
        if let Some(mut b) = self.bus.take() {
            let _ = b.kill();
            let _ = b.wait();
        }
    }
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}
