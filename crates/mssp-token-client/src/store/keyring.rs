//! The OS credential store through the `keyring` crate: Secret Service on Linux (over D-Bus,
//! gnome-keyring or KeePassXC), Keychain on macOS, Credential Manager on Windows.
//!
//! Every call runs on its own thread and is waited for at most MSSP_TOKEN_KEYRING_TIMEOUT_SECS
//! (default 5): a locked keyring that waits for a password prompt nobody will answer, or a
//! D-Bus that never replies, becomes a clear exit 7, never a hang. The thread left behind ends
//! with the process. (The thread is also what the keyring crate's zbus backend needs: it runs
//! its own tokio runtime on the calling thread, which must not be one of the command's runtime
//! threads.) There is no fallback to plaintext: an unreachable keyring is an error that names
//! the fix.
//!
//! [`Keyring::probe`] asks the keyring, before anything irreversible happens (a person signing
//! in, a refresh token being redeemed), whether a write would work: on Linux, that a Secret
//! Service answers on the session D-Bus and that its default collection exists and is unlocked
//! (or can be unlocked).

use crate::error::{fail, Exit};
use anyhow::Result;
use std::sync::mpsc;
use std::time::Duration;

/// Entries live under this service name; the account is `profile:NAME`.
pub const SERVICE: &str = "mssp-token";

const DEFAULT_TIMEOUT_SECS: u64 = 5;

/// What every keyring error ends with: the way out that needs no keyring.
const OR_ENCRYPTED: &str = "or choose --store encrypted (MSSP_TOKEN_STORE=encrypted, with MSSP_TOKEN_PASSPHRASE or MSSP_TOKEN_IDENTITY)";

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

    /// Whether the keyring can take a write now (see the module's doc); exit 7 naming the fix
    /// if not. A no-op where the platform's store needs no session (macOS, Windows).
    pub fn probe(&self) -> Result<()> {
        #[cfg(target_os = "linux")]
        {
            let answer = self
                .bounded("reach", "the OS keyring", probe_secret_service)
                .map_err(|e| crate::error::at("keyring store:", e))?;
            match answer {
                Ok(()) => Ok(()),
                Err(e) => Err(fail(
                    Exit::Storage,
                    format!("keyring store: {}", explain_secret_service(&e)),
                )),
            }
        }
        #[cfg(not(target_os = "linux"))]
        {
            Ok(())
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
        let service = self.service.clone();
        let acct = account.to_string();
        self.bounded(what, &format!("{account} in the OS keyring"), move || {
            keyring::Entry::new(&service, &acct).and_then(|e| f(&e))
        })
    }

    /// Runs `f` on a thread of its own and waits at most the timeout for it.
    fn bounded<T: Send + 'static>(
        &self,
        what: &str,
        subject: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("keyring".into())
            .spawn(move || {
                let _ = tx.send(f());
            })
            .map_err(|_| fail(Exit::Storage, "cannot start a thread for the keyring call"))?;
        rx.recv_timeout(self.timeout).map_err(|_| {
            fail(
                Exit::Storage,
                format!(
                    "cannot {what} {subject}: the keyring did not answer within {} s (MSSP_TOKEN_KEYRING_TIMEOUT_SECS): it may be locked and waiting for a password prompt nobody sees, or its service is stuck. Unlock it or restart it, raise MSSP_TOKEN_KEYRING_TIMEOUT_SECS, {OR_ENCRYPTED}",
                    self.timeout.as_secs()
                ),
            )
        })
    }

    fn explain(&self, account: &str, what: &str, e: &keyring::Error) -> anyhow::Error {
        let msg = match e {
            keyring::Error::PlatformFailure(inner) | keyring::Error::NoStorageAccess(inner) => {
                platform_reason(inner.as_ref(), matches!(e, keyring::Error::NoStorageAccess(_)))
            }
            keyring::Error::BadEncoding(_) => format!(
                "the entry is not UTF-8 text, so mssp-token did not write it: remove it (`mssp-token logout --profile NAME --store keyring`, or `secret-tool clear service {} username {account}`) and sign in again",
                self.service
            ),
            keyring::Error::TooLong(field, limit) => format!(
                "the keyring refused the entry: its {field} is longer than {limit}; {OR_ENCRYPTED}"
            ),
            keyring::Error::Invalid(field, reason) => {
                format!("the keyring refused the entry: {field} {reason}")
            }
            keyring::Error::Ambiguous(_) => format!(
                "the keyring holds several entries for it; delete them with your keyring tool (e.g. `secret-tool clear service {} username {account}`) and sign in again",
                self.service
            ),
            keyring::Error::NoEntry => "there is no such entry".to_string(),
            _ => format!("the OS keyring failed; {OR_ENCRYPTED}"),
        };
        fail(
            Exit::Storage,
            format!("cannot {what} {account} in the OS keyring: {msg}"),
        )
    }
}

/// The reason behind a platform error of the keyring crate, with the fix.
fn platform_reason(
    inner: &(dyn std::error::Error + Send + Sync + 'static),
    refused: bool,
) -> String {
    #[cfg(target_os = "linux")]
    if let Some(e) = inner.downcast_ref::<secret_service::Error>() {
        return explain_secret_service(e);
    }
    let detail = printable(&inner.to_string());
    if refused {
        format!("the OS keyring refused access ({detail}): unlock it or allow mssp-token, {OR_ENCRYPTED}")
    } else {
        format!("the OS keyring is not reachable ({detail}); {OR_ENCRYPTED}")
    }
}

/// Connects to the Secret Service and makes sure its default collection (where new entries go)
/// exists and is unlocked, unlocking it if it is locked (which may ask for a prompt: the caller
/// bounds the wait).
#[cfg(target_os = "linux")]
fn probe_secret_service() -> std::result::Result<(), secret_service::Error> {
    use secret_service::blocking::SecretService;
    use secret_service::EncryptionType;
    let ss = SecretService::connect(EncryptionType::Dh)?;
    let collection = ss.get_default_collection()?;
    if collection.is_locked()? {
        collection.unlock()?;
    }
    Ok(())
}

/// What a Secret Service error means for the user, and the fix.
#[cfg(target_os = "linux")]
fn explain_secret_service(e: &secret_service::Error) -> String {
    use secret_service::Error as E;
    let headless = "over SSH or in CI, run mssp-token inside a private session with an unlocked keyring: `dbus-run-session -- sh -c 'printf %s \"$KEYRING_PASSWORD\" | gnome-keyring-daemon --unlock --components=secrets >/dev/null; mssp-token ...'`";
    let text = printable(&e.to_string());
    let no_service = text.contains("ServiceUnknown")
        || text.contains("NameHasNoOwner")
        || text.contains("was not provided by any .service files");
    match e {
        E::Unavailable => {
            let bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").filter(|v| !v.is_empty());
            let why = match bus {
                Some(_) => "the session D-Bus named by DBUS_SESSION_BUS_ADDRESS cannot be reached".to_string(),
                None => "there is no session D-Bus (DBUS_SESSION_BUS_ADDRESS is not set and $XDG_RUNTIME_DIR/bus does not exist)".to_string(),
            };
            format!("{why}, so no Secret Service (gnome-keyring, KeePassXC) can be asked; {headless}; {OR_ENCRYPTED}")
        }
        E::Zbus(_) | E::ZbusFdo(_) if no_service => format!(
            "nothing on the session D-Bus answers as a Secret Service (org.freedesktop.secrets): start one (gnome-keyring-daemon --unlock --components=secrets, or KeePassXC with its Secret Service integration); {headless}; {OR_ENCRYPTED}"
        ),
        E::Locked | E::Prompt => format!(
            "the keyring is locked, and it could not be unlocked here (its password prompt was dismissed or cannot be shown without a desktop): unlock it (your desktop's Passwords and Keys, or start gnome-keyring-daemon with --unlock and the password on its standard input); {headless}; {OR_ENCRYPTED}"
        ),
        E::NoResult => format!(
            "the Secret Service has no default keyring (collection) to keep entries in, and creating one needs a password prompt: create the login keyring (gnome-keyring-daemon --unlock with a new password on its standard input creates it); {OR_ENCRYPTED}"
        ),
        _ => format!("the Secret Service failed ({text}); {OR_ENCRYPTED}"),
    }
}

/// A platform error's text, without control characters, bounded.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(300).collect()
}
