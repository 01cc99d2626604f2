//! Opening the sign-in page: `--browser-command`, else `$BROWSER`, else the system default
//! (the platform's opener: xdg-open and its kin, `open`, url.dll). The URL is always printed
//! too, since a browser command can "succeed" without showing anything.
//!
//! Whatever is started gets our environment without a single credential: the browser and the
//! opener need none, and they may log, crash-report or hand on their environment.

use crate::error::usage;
use anyhow::Result;
use std::process::{Command, Stdio};

/// How the sign-in page was opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Opened {
    Command(String),
    SystemDefault,
}

/// Is there a way to show a browser at all? (No display on a headless Linux box, no $BROWSER.)
pub fn available(browser_command: Option<&str>) -> bool {
    if browser_command.is_some() || std::env::var_os("BROWSER").is_some_and(|b| !b.is_empty()) {
        return true;
    }
    if cfg!(any(target_os = "windows", target_os = "macos")) {
        return true;
    }
    std::env::var_os("DISPLAY").is_some_and(|d| !d.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|d| !d.is_empty())
}

/// Opens `url`. The command (from `--browser-command` or `$BROWSER`) is split like a shell would
/// (no shell is run); `%s` is replaced by the URL, otherwise the URL is the last argument.
/// `$BROWSER` may list several commands separated by ':'; the first that starts is used.
pub fn open(url: &str, browser_command: Option<&str>) -> Result<Opened> {
    if let Some(cmd) = browser_command {
        spawn(cmd, url).map_err(|e| {
            usage(format!(
                "--browser-command '{}': cannot start it ({e}); give a command on PATH, e.g. --browser-command 'firefox -P customer1'",
                crate::authority::printable(cmd)
            ))
        })?;
        return Ok(Opened::Command(cmd.to_string()));
    }
    if let Ok(list) = std::env::var("BROWSER") {
        let mut errors = Vec::new();
        for cmd in list.split(':').filter(|c| !c.trim().is_empty()) {
            match spawn(cmd, url) {
                Ok(()) => return Ok(Opened::Command(cmd.to_string())),
                Err(e) => errors.push(format!("{cmd}: {e}")),
            }
        }
        if !errors.is_empty() {
            crate::warn!(
                "$BROWSER could not be started ({}); trying the system default",
                errors.join("; ")
            );
        }
    }
    let opener = system_opener(url)?;
    crate::verbose!("opening the page with the system opener '{opener}'");
    Ok(Opened::SystemDefault)
}

/// The platform's "open this URL" commands, in the order tried.
fn system_openers() -> &'static [&'static [&'static str]] {
    if cfg!(target_os = "windows") {
        // ShellExecute through url.dll: no shell parses the URL.
        &[&["rundll32.exe", "url.dll,FileProtocolHandler"]]
    } else if cfg!(target_os = "macos") {
        &[&["/usr/bin/open"]]
    } else {
        &[
            &["xdg-open"],
            &["gio", "open"],
            &["kde-open"],
            &["kde-open5"],
            &["exo-open"],
            &["gnome-open"],
            &["wslview"],
            &["x-www-browser"],
        ]
    }
}

/// Starts the first system opener that exists, with the scrubbed environment; its exit is
/// watched on a thread of its own, and a failure is a warning (the URL is printed already).
fn system_opener(url: &str) -> Result<String> {
    let mut tried = Vec::new();
    for words in system_openers() {
        let mut cmd = Command::new(words[0]);
        cmd.args(&words[1..]).arg(url);
        match start(cmd) {
            Ok(mut child) => {
                let name = words.join(" ");
                let shown = name.clone();
                std::thread::spawn(move || {
                    if let Ok(status) = child.wait() {
                        if !status.success() {
                            crate::warn!(
                                "'{shown}' could not open a browser ({status}); open the URL above yourself, or use --browser-command"
                            );
                        }
                    }
                });
                return Ok(name);
            }
            Err(e) => tried.push(format!("{}: {e}", words[0])),
        }
    }
    Err(usage(format!(
        "cannot open a browser ({}); open the URL above yourself, or use --browser-command or --no-browser",
        tried.join("; ")
    )))
}

/// Variables a browser or an opener never gets: our credentials (read or not), and anything
/// named like a credential. Any variable whose value holds a secret this process has seen is
/// dropped too, whatever its name.
fn is_credential_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    // Window-focus hand-offs from the desktop, meant for the program started.
    if matches!(n.as_str(), "XDG_ACTIVATION_TOKEN" | "DESKTOP_STARTUP_ID") {
        return false;
    }
    const PREFIXES: [&str; 4] = ["AZURE_", "MSSP_TOKEN_", "MSSP_ACCESS_", "MSSP_REFRESH_"];
    const WORDS: [&str; 9] = [
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASSPHRASE",
        "TOKEN",
        "CREDENTIAL",
        "API_KEY",
        "APIKEY",
        "PRIVATE_KEY",
    ];
    PREFIXES.iter().any(|p| n.starts_with(p)) || WORDS.iter().any(|w| n.contains(w))
}

/// The environment a child gets: ours, less every credential (see [`is_credential_name`]).
fn scrub_env(cmd: &mut Command) {
    for (name, value) in std::env::vars_os() {
        let drop = is_credential_name(&name.to_string_lossy())
            || crate::redacted::contains_secret(&value.to_string_lossy());
        if drop {
            cmd.env_remove(&name);
        }
    }
}

/// Spawns `cmd` detached from our terminal, with the scrubbed environment.
fn start(mut cmd: Command) -> std::io::Result<std::process::Child> {
    scrub_env(&mut cmd);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

fn spawn(cmd: &str, url: &str) -> std::io::Result<()> {
    let mut words = shell_words::split(cmd)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    if words.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty command",
        ));
    }
    if words.iter().any(|w| w.contains("%s")) {
        for w in words.iter_mut() {
            *w = w.replace("%s", url);
        }
    } else {
        words.push(url.to_string());
    }
    let mut command = Command::new(&words[0]);
    command.args(&words[1..]);
    let mut child = start(command)?;
    // Reap it whenever it exits, so no zombie is left behind.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_known_by_name() {
        for name in [
            "AZURE_CLIENT_SECRET",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            "AZURE_FEDERATED_TOKEN",
            "AZURE_FEDERATED_TOKEN_FILE",
            "MSSP_TOKEN_PASSPHRASE",
            "MSSP_ACCESS_TOKEN",
            "GITHUB_TOKEN",
            "AWS_SECRET_ACCESS_KEY",
            "my_api_key",
        ] {
            assert!(is_credential_name(name), "{name}");
        }
        for name in [
            "PATH",
            "HOME",
            "DISPLAY",
            "WAYLAND_DISPLAY",
            "XAUTHORITY",
            "DBUS_SESSION_BUS_ADDRESS",
            "XDG_RUNTIME_DIR",
            "XDG_ACTIVATION_TOKEN",
            "LANG",
        ] {
            assert!(!is_credential_name(name), "{name}");
        }
    }
}
