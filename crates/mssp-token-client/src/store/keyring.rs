//! The OS credential store through the `keyring` crate: Secret Service on Linux (over D-Bus,
//! gnome-keyring or KeePassXC), Keychain on macOS, Credential Manager on Windows.
//!
//! Every call runs on its own thread and is waited for at most MSSP_TOKEN_KEYRING_TIMEOUT_SECS
//! (default 5): a locked keyring that waits for a password prompt nobody will answer, or a
//! D-Bus that never replies, becomes a clear exit 7, never a hang. The thread left behind ends
//! with the process. There is no fallback to plaintext: an unreachable keyring is an error
//! that names the fix.

use crate::error::{fail, Exit};
use anyhow::Result;
use std::sync::mpsc;
use std::time::Duration;

/// Entries live under this service name; the account is `profile:NAME`.
pub const SERVICE: &str = "mssp-token";

const DEFAULT_TIMEOUT_SECS: u64 = 5;

/// The OS keyring, bounded.
#[derive(Clone)]
pub struct Keyring {
    service: String,
    timeout: Duration,
}

impl Default for Keyring {
    fn default() -> Self {
        Keyring::new(SERVICE)
    }
}

impl Keyring {
    pub fn new(service: &str) -> Keyring {
        let secs = std::env::var("MSSP_TOKEN_KEYRING_TIMEOUT_SECS")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|s| (1..=300).contains(s))
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        Keyring {
            service: service.to_string(),
            timeout: Duration::from_secs(secs),
        }
    }

    /// The secret stored for `account`, `None` if there is none.
    pub fn get(&self, account: &str) -> Result<Option<String>> {
        match self.call(account, "read", |e| e.get_password())? {
            Ok(s) => {
                crate::redacted::register(&s);
                Ok(Some(s))
            }
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.explain(account, "read", &e)),
        }
    }

    /// Stores `secret` for `account`, replacing what was there.
    pub fn set(&self, account: &str, secret: &str) -> Result<()> {
        let secret = secret.to_string();
        match self.call(account, "write", move |e| e.set_password(&secret))? {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain(account, "write", &e)),
        }
    }

    /// Deletes `account`'s secret; `false` if there was none.
    pub fn delete(&self, account: &str) -> Result<bool> {
        match self.call(account, "delete", |e| e.delete_credential())? {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.explain(account, "delete", &e)),
        }
    }

    /// Runs `f` on the entry on a thread of its own, waiting at most the timeout.
    fn call<T: Send + 'static>(
        &self,
        account: &str,
        what: &str,
        f: impl FnOnce(&keyring::Entry) -> keyring::Result<T> + Send + 'static,
    ) -> Result<keyring::Result<T>> {
        let (tx, rx) = mpsc::channel();
        let service = self.service.clone();
        let acct = account.to_string();
        std::thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                let r = keyring::Entry::new(&service, &acct).and_then(|e| f(&e));
                let _ = tx.send(r);
            })
            .map_err(|_| fail(Exit::Storage, "cannot start a thread for the keyring call"))?;
        rx.recv_timeout(self.timeout).map_err(|_| {
            fail(
                Exit::Storage,
                format!(
                    "the OS keyring did not answer within {} s ({what} of {account}): it may be locked and waiting for a password prompt nobody sees. Unlock it (e.g. `gnome-keyring-daemon --unlock`), raise MSSP_TOKEN_KEYRING_TIMEOUT_SECS, or choose --store encrypted",
                    self.timeout.as_secs()
                ),
            )
        })
    }

    fn explain(&self, account: &str, what: &str, e: &keyring::Error) -> anyhow::Error {
        let fix = "start a Secret Service on the session D-Bus (gnome-keyring or KeePassXC; over SSH or in CI: `dbus-run-session` with `gnome-keyring-daemon --unlock`), or choose --store encrypted (MSSP_TOKEN_STORE=encrypted)";
        let msg = match e {
            keyring::Error::PlatformFailure(inner) => format!(
                "the OS keyring is not reachable ({}): {fix}",
                printable(&inner.to_string())
            ),
            keyring::Error::NoStorageAccess(inner) => format!(
                "the OS keyring refused access ({}): unlock it or allow mssp-token, or {fix}",
                printable(&inner.to_string())
            ),
            keyring::Error::BadEncoding(_) => format!(
                "the keyring entry {account} of service {} is not UTF-8 text; it was not written by mssp-token: delete it (`mssp-token logout`) and sign in again",
                self.service
            ),
            keyring::Error::TooLong(field, limit) => format!(
                "the keyring refused the entry {account}: its {field} is longer than {limit}; choose --store encrypted"
            ),
            keyring::Error::Invalid(field, reason) => {
                format!("the keyring refused the entry {account}: {field} {reason}")
            }
            keyring::Error::Ambiguous(_) => format!(
                "the keyring holds several entries for {account} of service {}; delete them with your keyring tool (e.g. `secret-tool clear service {} username {account}`) and sign in again",
                self.service, self.service
            ),
            keyring::Error::NoEntry => format!("no keyring entry {account}"),
            _ => "the OS keyring failed".to_string(),
        };
        fail(
            Exit::Storage,
            format!("cannot {what} {account} in the OS keyring: {msg}"),
        )
    }
}

/// A platform error's text, without control characters, bounded.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}
