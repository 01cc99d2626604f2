//! [`run()`]: the `mssp-token sandbox` command. Starts a sandbox with the access log on, prints the
//! info line and the banner, and serves until a signal arrives.

use crate::banner::banner;
use crate::options::SandboxOptions;
use crate::sandbox::Sandbox;
use anyhow::{Context, Result};
use std::io::Write;
use std::time::Duration;

/// `mssp-token sandbox`: start, print the info line on stdout and a banner on stderr, serve
/// until the process is killed. On SIGINT, SIGTERM or SIGHUP (Unix) the sandbox stops cleanly,
/// removing its temporary folder, and the process exits with 128 + the signal number.
pub fn run(opts: SandboxOptions) -> Result<()> {
    stop_signal::install();
    let sb = Sandbox::start_with(opts, true)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sb.info()).context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")?;
    drop(out);
    eprintln!("{}", banner(&sb));
    loop {
        if let Some(sig) = stop_signal::received() {
            drop(sb);
            eprintln!("mssp-token sandbox: stopped.");
            std::process::exit(128 + sig);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SIGINT/SIGTERM/SIGHUP set a flag (the only thing a signal handler may safely do); `run`
/// polls it so that the sandbox is dropped normally.
mod stop_signal {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    #[cfg(unix)]
    extern "C" fn on_signal(sig: libc::c_int) {
        RECEIVED.store(sig, Ordering::SeqCst);
    }

    pub fn install() {
        #[cfg(unix)]
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let handler: extern "C" fn(libc::c_int) = on_signal;
            // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
            unsafe {
                libc::signal(sig, handler as libc::sighandler_t);
            }
        }
    }

    pub fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}
