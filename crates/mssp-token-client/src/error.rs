//! Failures and the exit codes of the contract.
//!
//! Code anywhere returns `anyhow::Result`; a [`Failure`] somewhere in the error chain decides the
//! exit code (an [`crate::entra::EntraError`] is exit 3 or 4), anything else is exit 1.

use std::fmt;

/// The exit codes of the command-line contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Internal = 1,
    Usage = 2,
    Entra = 3,
    Interaction = 4,
    Check = 5,
    Network = 6,
    Storage = 7,
    SomeFailed = 8,
}

/// An error with a definite exit code and a message written for the user: what went wrong and
/// how to fix it.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Builds an `anyhow::Error` carrying an exit code.
pub fn fail(exit: Exit, message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        exit,
        message: message.into(),
    })
}

/// Shorthand for a usage error (exit 2).
pub fn usage(message: impl Into<String>) -> anyhow::Error {
    fail(Exit::Usage, message)
}

/// The exit code for an error chain: the first [`Failure`] or Entra error found, else 1.
pub fn exit_code_of(err: &anyhow::Error) -> i32 {
    for cause in err.chain() {
        if let Some(f) = cause.downcast_ref::<Failure>() {
            return f.exit as i32;
        }
        if let Some(e) = cause.downcast_ref::<crate::entra::EntraError>() {
            return e.exit() as i32;
        }
    }
    Exit::Internal as i32
}

/// Prints an error chain on stderr, with every known secret scrubbed from it.
pub fn report(err: &anyhow::Error) {
    let mut text = format!("mssp-token: error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{}", crate::redacted::for_terminal(&text));
}

/// An error chain on one line (for a report field): the message and its causes joined by
/// ": ", runs of blanks collapsed, lines joined by "; ", every known secret scrubbed.
pub fn one_line(e: &anyhow::Error) -> String {
    let parts: Vec<String> = e.chain().map(|c| c.to_string()).collect();
    let joined = parts.join(": ");
    let lines: Vec<String> = joined
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    crate::redacted::scrub(&lines.join("; "))
}

/// Names where a bad value came from: `at("--tenant", e)` turns "'x' is neither ..." into
/// "--tenant 'x' is neither ...", `at("tenants.toml:12: tenant", e)` into a file position. The
/// exit code is kept. Low layers never name flags; their callers use this.
pub fn at(place: &str, err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<Failure>() {
        Ok(f) => fail(f.exit, format!("{place} {}", f.message)),
        Err(other) => other.context(place.to_string()),
    }
}

/// A short reason for an I/O error, without the OS's error number.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}
