//! Opening the sign-in page: `--browser-command`, else `$BROWSER`, else the system default.
//! The URL is always printed too, since a browser command can "succeed" without showing anything.

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
    webbrowser::open(url).map_err(|e| {
        usage(format!(
            "cannot open a browser ({e}); open the URL above yourself, or use --browser-command or --no-browser"
        ))
    })?;
    Ok(Opened::SystemDefault)
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
    let mut child = Command::new(&words[0])
        .args(&words[1..])
        // The browser needs none of our credentials.
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PASSWORD")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Reap it whenever it exits, so no zombie is left behind.
    std::thread::spawn(move || {
        let _ = child.wait();
    });
    Ok(())
}
