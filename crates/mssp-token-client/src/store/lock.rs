//! Taking a store lock with a deadline: another process holding it longer than
//! `MSSP_TOKEN_LOCK_WAIT_SECS` (default 30 s) is an error naming it (exit 7), never an endless
//! wait.

use crate::error::{fail, io_reason, Exit};
use anyhow::Result;
use std::fs::File;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long to wait for a lock held by another process, unless MSSP_TOKEN_LOCK_WAIT_SECS says.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The bound on a lock wait: MSSP_TOKEN_LOCK_WAIT_SECS (seconds, 0 to 3600) or 30 s.
pub fn wait_limit() -> Duration {
    std::env::var("MSSP_TOKEN_LOCK_WAIT_SECS")
        .ok()
        .and_then(|v| v.trim().parse::<f64>().ok())
        .filter(|s| (0.0..=3600.0).contains(s))
        .map(Duration::from_secs_f64)
        .unwrap_or(DEFAULT_WAIT)
}

/// Takes the exclusive lock on `file` (opened at `path`), waiting at most [`wait_limit`].
pub fn exclusive(file: &File, path: &Path) -> Result<()> {
    let limit = wait_limit();
    let started = Instant::now();
    let mut pause = Duration::from_millis(5);
    let mut told = false;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(fail(
                    Exit::Storage,
                    format!("{}: cannot lock it ({})", path.display(), io_reason(&e)),
                ))
            }
        }
        let waited = started.elapsed();
        if waited >= limit {
            return Err(fail(
                Exit::Storage,
                format!(
                    "{}: locked by {} for {} s; is it stuck? Let it finish or stop it, or raise MSSP_TOKEN_LOCK_WAIT_SECS",
                    path.display(),
                    holder(file),
                    waited.as_secs_f64().round() as u64
                ),
            ));
        }
        if !told {
            crate::verbose!(
                "waiting for the lock on {}, held by {}",
                path.display(),
                holder(file)
            );
            told = true;
        }
        std::thread::sleep(pause.min(limit - waited));
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Who holds the lock on `file`, as far as the system says: "another mssp-token (pid 42)",
/// "another process (pid 42, python3)", or "another process".
pub fn holder(file: &File) -> String {
    match lock_holder_pid(file) {
        Some(pid) => {
            let name = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|s| s.trim().to_string())
                .unwrap_or_default();
            if name == "mssp-token" {
                format!("another mssp-token (pid {pid})")
            } else if name.is_empty() {
                format!("another process (pid {pid})")
            } else {
                format!("another process (pid {pid}, {})", printable(&name))
            }
        }
        None => "another process".to_string(),
    }
}

fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_control())
        .take(32)
        .collect::<String>()
}

/// The pid holding a lock on `file`'s inode, from /proc/locks (Linux).
#[cfg(target_os = "linux")]
fn lock_holder_pid(file: &File) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let meta = file.metadata().ok()?;
    let dev = meta.dev();
    let id = format!(
        "{:02x}:{:02x}:{}",
        libc::major(dev),
        libc::minor(dev),
        meta.ino()
    );
    let me = std::process::id();
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    locks.lines().find_map(|line| {
        // "1: FLOCK  ADVISORY  WRITE 12345 08:01:1234567 0 EOF" ("-> " marks a waiter)
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.get(1) == Some(&"->") {
            return None;
        }
        let at = fields.iter().position(|f| *f == id)?;
        let pid: u32 = fields.get(at.checked_sub(1)?)?.parse().ok()?;
        (pid != me).then_some(pid)
    })
}

#[cfg(not(target_os = "linux"))]
fn lock_holder_pid(_file: &File) -> Option<u32> {
    None
}

/// Runs `f`, which may block for a while (a lock wait, a keyring call), without stalling the
/// async runtime's other tasks: on a multi-threaded runtime the worker hands its tasks to
/// another thread first (their timers and deadlines keep running); elsewhere it just runs.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
