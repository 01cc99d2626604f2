//! Secrets that cannot leak by accident.
//!
//! [`SecretString`] prints `(redacted)` through `Debug` and `Display`; the value is reached only
//! through [`SecretString::expose`]. Every secret the process learns (client secrets, tokens,
//! assertions) is also registered here, and [`scrub`] removes them from any text before it is
//! printed as an error or a log line: a second line of defence behind careful message writing.

use std::sync::Mutex;

/// A string whose value never reaches `Debug`/`Display` output.
#[derive(Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret and registers it for scrubbing.
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        register(&value);
        SecretString(value)
    }

    /// The secret itself. Call only where the value is sent to Entra or written as the result.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

impl std::fmt::Display for SecretString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("(redacted)")
    }
}

static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Remembers a secret value so that [`scrub`] can remove it from printed text.
/// Very short values (under 8 characters) are not registered: scrubbing them would mangle
/// ordinary words, and Entra never issues secrets that short.
pub fn register(value: &str) {
    if value.len() < 8 {
        return;
    }
    if let Ok(mut known) = KNOWN.lock() {
        if !known.iter().any(|k| k == value) {
            known.push(value.to_string());
        }
    }
}

/// Makes text safe for a terminal: secrets scrubbed, and control characters (escape
/// sequences from a hostile server or input) shown as '?', except newlines and tabs.
pub fn for_terminal(text: &str) -> String {
    scrub(text)
        .chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Replaces every registered secret in `text` with `(redacted)`.
pub fn scrub(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(known) = KNOWN.lock() {
        for secret in known.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "(redacted)");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = SecretString::new("canary-value-123456");
        assert_eq!(format!("{s:?}"), "(redacted)");
        assert_eq!(format!("{s}"), "(redacted)");
        assert_eq!(s.expose(), "canary-value-123456");
    }

    #[test]
    fn scrub_removes_registered_values() {
        let _s = SecretString::new("another-canary-98765");
        assert_eq!(
            scrub("failed with another-canary-98765 inside"),
            "failed with (redacted) inside"
        );
    }
}
