//! `--verbose` progress lines on stderr, scrubbed of every known secret.

use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn verbose(msg: &str) {
    if VERBOSE.load(Ordering::Relaxed) {
        eprintln!("mssp-token: {}", crate::redacted::for_terminal(msg));
    }
}

/// A line the user should always see on stderr (prompts, hints, warnings).
pub fn info(msg: &str) {
    eprintln!("{}", crate::redacted::for_terminal(msg));
}

pub fn warn(msg: &str) {
    eprintln!(
        "mssp-token: warning: {}",
        crate::redacted::for_terminal(msg)
    );
}
