//! Lines on stderr, every one scrubbed of every known secret and of control characters:
//! `verbose!` (only with `--verbose`), `info!` (prompts, hints) and `warn!`.

use std::sync::atomic::{AtomicBool, Ordering};

static VERBOSE: AtomicBool = AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

pub fn is_verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// `--verbose` progress: what is sent where, never a secret or a token.
#[macro_export]
macro_rules! verbose {
    ($($arg:tt)*) => {
        if $crate::log::is_verbose() {
            $crate::log::emit_verbose(&format!($($arg)*));
        }
    };
}

/// A line the user should always see on stderr (prompts, hints, results of side effects).
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => {
        $crate::log::emit_info(&format!($($arg)*))
    };
}

/// A warning on stderr.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => {
        $crate::log::emit_warn(&format!($($arg)*))
    };
}

#[doc(hidden)]
pub fn emit_verbose(msg: &str) {
    eprintln!("mssp-token: {}", crate::redacted::for_terminal(msg));
}

#[doc(hidden)]
pub fn emit_info(msg: &str) {
    eprintln!("{}", crate::redacted::for_terminal(msg));
}

#[doc(hidden)]
pub fn emit_warn(msg: &str) {
    eprintln!(
        "mssp-token: warning: {}",
        crate::redacted::for_terminal(msg)
    );
}
