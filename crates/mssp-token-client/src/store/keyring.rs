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
//!
//! A secret longer than one entry may hold is split over several (Windows' Credential Manager
//! keeps at most 2560 bytes, 1280 UTF-16 units, per password; a profile with its tokens is
//! 3 to 5 KB). Entries are measured in UTF-16 units: at most 1200 per entry on Windows, 64 Ki
//! elsewhere (Keychain and the Secret Service have no limit that matters). A split secret is:
//!
//! - `ACCOUNT`: the header `mssp-token-chunks:v1:SLOT:N:SHA256`, SHA256 the hex digest of the
//!   whole secret, SLOT `a` or `b`;
//! - `ACCOUNT#SLOT.1` .. `ACCOUNT#SLOT.N`: the parts, in order.
//!
//! A write puts the new parts in the slot the header does not name, then switches the header
//! in one write, then deletes the old slot's parts: a reader sees the old secret or the new
//! one, never a mix, and checks the digest (a part that is missing or does not add up is a
//! damaged entry, exit 7; if the header changed meanwhile it reads again). A write that fails
//! before the switch leaves the old secret whole (the unused slot's leftovers are overwritten
//! by the next write and deleted by [`Keyring::delete`], which empties both slots, parts
//! first, then the header). A secret that fits in one entry is written as is, so entries
//! written before splitting existed still read. MSSP_TOKEN_KEYRING_CHUNK_CHARS lowers the
//! limit (16 or more; for tests, and for a credential store with a smaller limit); it never
//! raises it. Each call to the keyring is bounded by the timeout, one after the other.

use crate::error::{fail, Exit};
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::sync::mpsc;
use std::time::Duration;

/// Entries live under this service name; the account is `profile:NAME`.
pub const SERVICE: &str = "mssp-token";

const DEFAULT_TIMEOUT_SECS: u64 = 5;

/// The most UTF-16 units one entry takes: Credential Manager's 1280 less a margin.
#[cfg(windows)]
const MAX_CHUNK_UNITS: usize = 1200;
/// The most UTF-16 units one entry takes: Keychain and the Secret Service hold far more.
#[cfg(not(windows))]
const MAX_CHUNK_UNITS: usize = 64 * 1024;

/// The least MSSP_TOKEN_KEYRING_CHUNK_CHARS may ask for.
const MIN_CHUNK_UNITS: usize = 16;

/// The most parts a split secret has (a bound on every loop over them).
const MAX_PARTS: usize = 1024;

/// How often a reader starts again when the header changed while it read the parts.
const READ_ATTEMPTS: usize = 3;

/// What a split secret's header starts with.
const HEADER_PREFIX: &str = "mssp-token-chunks:v1:";

/// The two slots a split secret's parts alternate between.
const SLOTS: [char; 2] = ['a', 'b'];

/// What every keyring error ends with: the way out that needs no keyring.
const OR_ENCRYPTED: &str = "or choose --store encrypted (MSSP_TOKEN_STORE=encrypted, with MSSP_TOKEN_PASSPHRASE or MSSP_TOKEN_IDENTITY)";

/// The OS keyring, bounded.
#[derive(Clone)]
pub struct Keyring {
    service: String,
    timeout: Duration,
    /// The most UTF-16 units in one entry.
    chunk: usize,
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
        let chunk = chunk_units(
            std::env::var("MSSP_TOKEN_KEYRING_CHUNK_CHARS")
                .ok()
                .as_deref(),
        );
        Keyring {
            service: service.to_string(),
            timeout: Duration::from_secs(secs),
            chunk,
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

    /// The secret stored for `account` (joined again if it was split), `None` if there is none.
    pub fn get(&self, account: &str) -> Result<Option<String>> {
        for _ in 0..READ_ATTEMPTS {
            let Some(raw) = self.get_one(account)? else {
                return Ok(None);
            };
            let header = match Header::parse(&raw) {
                None => {
                    crate::redacted::register(&raw);
                    return Ok(Some(raw));
                }
                Some(None) => {
                    return Err(self.damaged(
                        account,
                        "it starts like the header of a split entry but is not one",
                    ))
                }
                Some(Some(h)) => h,
            };
            let mut parts = Vec::with_capacity(header.parts);
            let mut missing = None;
            for i in 1..=header.parts {
                match self.get_one(&part_account(account, header.slot, i))? {
                    Some(p) => parts.push(p),
                    None => {
                        missing = Some(i);
                        break;
                    }
                }
            }
            if missing.is_none() {
                if let Some(whole) = header.join(&parts) {
                    crate::redacted::register(&whole);
                    return Ok(Some(whole));
                }
            }
            // A write (or a delete) may have switched the header meanwhile: read it again.
            if self.get_one(account)?.as_deref() == Some(raw.as_str()) {
                let why = match missing {
                    Some(i) => format!(
                        "it is split over {} entries and part {i} ({}) is missing",
                        header.parts,
                        part_account(account, header.slot, i)
                    ),
                    None => format!(
                        "its {} parts do not add up to what was written (the SHA-256 in its header differs)",
                        header.parts
                    ),
                };
                return Err(self.damaged(account, &why));
            }
        }
        Err(self.damaged(
            account,
            &format!("it changed {READ_ATTEMPTS} times while being read"),
        ))
    }

    /// Stores `secret` for `account`, replacing what was there: in one entry if it fits, else
    /// split (see the module's doc). Once the header is switched the write has happened: the
    /// old parts are deleted as well as can be, and a failure there is not an error.
    pub fn set(&self, account: &str, secret: &str) -> Result<()> {
        let old = self.old_header(account)?;
        if !needs_split(secret, self.chunk) {
            self.set_one(account, secret)?;
            if let Some(h) = old {
                let _ = self.clear_slot(account, h.slot, Some(h.parts));
            }
            return Ok(());
        }
        let parts = split(secret, self.chunk);
        if parts.len() > MAX_PARTS {
            return Err(fail(
                Exit::Storage,
                format!(
                    "cannot write {account} in the OS keyring: it would take {} entries of {} characters (more than {MAX_PARTS}; MSSP_TOKEN_KEYRING_CHUNK_CHARS is too small?)",
                    parts.len(),
                    self.chunk
                ),
            ));
        }
        let slot = match &old {
            Some(h) if h.slot == SLOTS[0] => SLOTS[1],
            _ => SLOTS[0],
        };
        // A failure here leaves the header, so the old secret, as it was; what was written in
        // the unused slot is overwritten by the next write and deleted by `delete`.
        for (i, p) in parts.iter().enumerate() {
            self.set_one(&part_account(account, slot, i + 1), p)?;
        }
        let header = Header {
            slot,
            parts: parts.len(),
            sha256: sha256_hex(secret),
        };
        // Parts past the new end, left by a longer write that failed before its switch.
        let _ = self.clear_from(account, slot, parts.len() + 1);
        self.set_one(account, &header.text())?;
        if let Some(h) = old {
            let _ = self.clear_slot(account, h.slot, Some(h.parts));
        }
        Ok(())
    }

    /// Deletes `account`'s secret, all its parts included; `false` if there was none. The parts
    /// go first, so a delete that stops halfway leaves the header and running it again finds
    /// the rest.
    pub fn delete(&self, account: &str) -> Result<bool> {
        let old = self.old_header(account)?;
        let mut found = false;
        for slot in SLOTS {
            let known = old.as_ref().filter(|h| h.slot == slot).map(|h| h.parts);
            found |= self.clear_slot(account, slot, known)?;
        }
        found |= self.delete_one(account)?;
        Ok(found)
    }

    /// The header in `account`, if it holds one (not if it holds a secret, nothing, or text
    /// that is not UTF-8).
    fn old_header(&self, account: &str) -> Result<Option<Header>> {
        match self.call(account, "read", |e| e.get_password())? {
            Ok(s) => Ok(Header::parse(&s).flatten()),
            Err(keyring::Error::NoEntry) | Err(keyring::Error::BadEncoding(_)) => Ok(None),
            Err(e) => Err(self.explain(account, "read", &e)),
        }
    }

    /// Deletes the parts in `slot`: the `known` ones from the last down, then any after them
    /// (or, not knowing how many, from the first on) until one is missing. Writes go up and
    /// deletes go down, so what is left of a slot always starts at its first part.
    fn clear_slot(&self, account: &str, slot: char, known: Option<usize>) -> Result<bool> {
        let mut found = false;
        let known = known.unwrap_or(0).min(MAX_PARTS);
        for i in (1..=known).rev() {
            found |= self.delete_one(&part_account(account, slot, i))?;
        }
        found |= self.clear_from(account, slot, known + 1)?;
        Ok(found)
    }

    /// Deletes the parts in `slot` from `first` on, until one is missing.
    fn clear_from(&self, account: &str, slot: char, first: usize) -> Result<bool> {
        let mut found = false;
        for i in first..=MAX_PARTS {
            if !self.delete_one(&part_account(account, slot, i))? {
                break;
            }
            found = true;
        }
        Ok(found)
    }

    /// What one entry holds, as it is.
    fn get_one(&self, account: &str) -> Result<Option<String>> {
        match self.call(account, "read", |e| e.get_password())? {
            Ok(s) => Ok(Some(s)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.explain(account, "read", &e)),
        }
    }

    fn set_one(&self, account: &str, secret: &str) -> Result<()> {
        let secret = secret.to_string();
        match self.call(account, "write", move |e| e.set_password(&secret))? {
            Ok(()) => Ok(()),
            Err(e) => Err(self.explain(account, "write", &e)),
        }
    }

    fn delete_one(&self, account: &str) -> Result<bool> {
        match self.call(account, "delete", |e| e.delete_credential())? {
            Ok(()) => Ok(true),
            Err(keyring::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.explain(account, "delete", &e)),
        }
    }

    /// A split entry that cannot be joined: exit 7 naming it and the fix.
    fn damaged(&self, account: &str, why: &str) -> anyhow::Error {
        fail(
            Exit::Storage,
            format!(
                "cannot read {account} in the OS keyring: the entry is damaged: {why} (changed or deleted outside mssp-token?); remove it ({}) and sign in again",
                self.remove_hint(account)
            ),
        )
    }

    /// How to remove `account`'s entries.
    fn remove_hint(&self, account: &str) -> String {
        match account.strip_prefix("profile:") {
            Some(name) => format!("`mssp-token logout --profile {name} --store keyring`"),
            None => format!(
                "`secret-tool clear service {} username {account}` and its parts",
                self.service
            ),
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
                "the entry is not UTF-8 text, so mssp-token did not write it: remove it ({}, or `secret-tool clear service {} username {account}`) and sign in again",
                self.remove_hint(account),
                self.service
            ),
            keyring::Error::TooLong(field, limit) => format!(
                "the keyring refused the entry: its {field} is longer than {limit} (a smaller MSSP_TOKEN_KEYRING_CHUNK_CHARS splits a secret into shorter entries); {OR_ENCRYPTED}"
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

/// The most UTF-16 units in one entry: MSSP_TOKEN_KEYRING_CHUNK_CHARS (`setting`) if it is a
/// number from 16 up, never more than the platform's own limit.
fn chunk_units(setting: Option<&str>) -> usize {
    setting
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n >= MIN_CHUNK_UNITS)
        .map_or(MAX_CHUNK_UNITS, |n| n.min(MAX_CHUNK_UNITS))
}

/// Whether `secret` goes over several entries: it is longer than one may hold, or it would
/// read as a header.
fn needs_split(secret: &str, max_units: usize) -> bool {
    secret.starts_with(HEADER_PREFIX) || secret.encode_utf16().count() > max_units
}

/// `secret` in parts of at most `max_units` UTF-16 units each, never inside a character.
fn split(secret: &str, max_units: usize) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut units) = (0, 0);
    for (at, c) in secret.char_indices() {
        if units + c.len_utf16() > max_units {
            parts.push(&secret[start..at]);
            (start, units) = (at, 0);
        }
        units += c.len_utf16();
    }
    if start < secret.len() || parts.is_empty() {
        parts.push(&secret[start..]);
    }
    parts
}

/// The entry that holds part `i` (from 1) of `account`'s secret in `slot`.
fn part_account(account: &str, slot: char, i: usize) -> String {
    format!("{account}#{slot}.{i}")
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A split secret's header: where its parts are, how many, and the digest of the whole.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Header {
    slot: char,
    parts: usize,
    sha256: String,
}

impl Header {
    fn text(&self) -> String {
        format!(
            "{HEADER_PREFIX}{}:{}:{}",
            self.slot, self.parts, self.sha256
        )
    }

    /// `None`: not a header (a secret of its own); `Some(None)`: it starts like one but is
    /// not (damaged); `Some(Some(h))`: a header.
    fn parse(s: &str) -> Option<Option<Header>> {
        let rest = s.strip_prefix(HEADER_PREFIX)?;
        let mut fields = rest.split(':');
        let (Some(slot), Some(parts), Some(sha256), None) =
            (fields.next(), fields.next(), fields.next(), fields.next())
        else {
            return Some(None);
        };
        let slot = match slot {
            "a" => 'a',
            "b" => 'b',
            _ => return Some(None),
        };
        let parts = match parts.parse::<usize>() {
            Ok(n) if (1..=MAX_PARTS).contains(&n) && !parts.starts_with(['0', '+']) => n,
            _ => return Some(None),
        };
        if sha256.len() != 64
            || !sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Some(None);
        }
        Some(Some(Header {
            slot,
            parts,
            sha256: sha256.to_string(),
        }))
    }

    /// The parts joined, if they are the ones this header was written with.
    fn join(&self, parts: &[String]) -> Option<String> {
        if parts.len() != self.parts {
            return None;
        }
        let whole = parts.concat();
        (sha256_hex(&whole) == self.sha256).then_some(whole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_splits_into_parts_no_longer_than_the_limit_and_joins_back() {
        let ascii: String = (0..5000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let parts = split(&ascii, 1200);
        assert_eq!(
            parts.iter().map(|p| p.len()).collect::<Vec<_>>(),
            [1200, 1200, 1200, 1200, 200]
        );
        assert_eq!(parts.concat(), ascii);
        // Exactly the limit: one part; one unit more: two.
        assert_eq!(split(&ascii[..1200], 1200), [&ascii[..1200]]);
        assert_eq!(split(&ascii[..1201], 1200).len(), 2);
        assert_eq!(split("", 16), [""]);
        // Counted in UTF-16 units (Credential Manager's measure), never cut inside a character:
        // 'é' is one unit, '😀' two.
        let mixed = "é😀x".repeat(300);
        for max in [16, 17, 33, 1200] {
            let parts = split(&mixed, max);
            assert_eq!(parts.concat(), mixed, "{max}");
            for p in &parts {
                assert!(p.encode_utf16().count() <= max, "{max}: {p}");
                assert!(!p.is_empty());
            }
        }
        assert_eq!(split("😀😀😀", 17), ["😀😀😀"]);
        assert_eq!(split(&"😀".repeat(9), 16).len(), 2);
    }

    #[test]
    fn only_a_long_secret_or_one_that_reads_as_a_header_is_split() {
        assert!(!needs_split(&"x".repeat(1200), 1200));
        assert!(needs_split(&"x".repeat(1201), 1200));
        assert!(needs_split(&"é".repeat(1201), 1200));
        assert!(!needs_split(&"é".repeat(1200), 1200));
        assert!(needs_split(&"😀".repeat(601), 1200));
        assert!(needs_split("mssp-token-chunks:v1:a:1:x", 1200));
        assert!(!needs_split("{\"profile\":\"contoso\"}", 1200));
    }

    #[test]
    fn the_chunk_size_setting_only_lowers_the_limit() {
        assert_eq!(chunk_units(None), MAX_CHUNK_UNITS);
        assert_eq!(chunk_units(Some("300")), 300);
        assert_eq!(chunk_units(Some(" 16 ")), 16);
        for ignored in ["15", "0", "-5", "", "lots", "1e3"] {
            assert_eq!(chunk_units(Some(ignored)), MAX_CHUNK_UNITS, "{ignored}");
        }
        assert_eq!(chunk_units(Some("10000000")), MAX_CHUNK_UNITS);
        #[cfg(windows)]
        assert_eq!(MAX_CHUNK_UNITS, 1200);
    }

    #[test]
    fn a_header_reads_back_and_anything_else_is_a_secret_or_damaged() {
        let secret = "{\"refresh_token\":\"0.AAAA\"}".repeat(100);
        let h = Header {
            slot: 'b',
            parts: 4,
            sha256: sha256_hex(&secret),
        };
        let text = h.text();
        assert!(text.starts_with("mssp-token-chunks:v1:b:4:"), "{text}");
        assert_eq!(text.len(), HEADER_PREFIX.len() + 4 + 64);
        assert_eq!(Header::parse(&text), Some(Some(h.clone())));
        // A secret of its own (an entry written before splitting existed): not a header.
        assert_eq!(Header::parse(&secret), None);
        assert_eq!(Header::parse("mssp-token-chunks:v2:a:1:00"), None);
        let sha = sha256_hex("x");
        for bad in [
            "mssp-token-chunks:v1:".to_string(),
            format!("mssp-token-chunks:v1:c:2:{sha}"),
            format!("mssp-token-chunks:v1:a:0:{sha}"),
            format!("mssp-token-chunks:v1:a:02:{sha}"),
            format!("mssp-token-chunks:v1:a:+2:{sha}"),
            format!("mssp-token-chunks:v1:a:1025:{sha}"),
            format!("mssp-token-chunks:v1:a:99999999999999999999999:{sha}"),
            format!("mssp-token-chunks:v1:a:2:{}", sha.to_uppercase()),
            format!("mssp-token-chunks:v1:a:2:{}", &sha[1..]),
            format!("mssp-token-chunks:v1:a:2:{sha}:"),
            format!("mssp-token-chunks:v1:a:2:{sha}x"),
            "mssp-token-chunks:v1:a:2".to_string(),
        ] {
            assert_eq!(Header::parse(&bad), Some(None), "{bad}");
        }
    }

    #[test]
    fn parts_join_only_when_they_are_the_ones_written() {
        let old = "o".repeat(100) + &"O".repeat(100);
        let new = "n".repeat(100) + &"N".repeat(100);
        let header = |s: &str| Header {
            slot: 'a',
            parts: 2,
            sha256: sha256_hex(s),
        };
        let parts =
            |s: &str| -> Vec<String> { split(s, 100).into_iter().map(String::from).collect() };
        assert_eq!(
            header(&new).join(&parts(&new)).as_deref(),
            Some(new.as_str())
        );
        // A mix of old and new parts, a part missing, one too many, one changed: refused.
        let mixed = vec![parts(&old)[0].clone(), parts(&new)[1].clone()];
        assert_eq!(header(&new).join(&mixed), None);
        assert_eq!(header(&old).join(&mixed), None);
        assert_eq!(header(&new).join(&parts(&new)[..1]), None);
        let mut more = parts(&new);
        more.push(String::new());
        assert_eq!(header(&new).join(&more), None);
        let mut changed = parts(&new);
        changed[1].replace_range(0..1, "x");
        assert_eq!(header(&new).join(&changed), None);
        // Parts are the same however the secret was cut; only the whole is checked.
        let other_cut: Vec<String> = vec![new[..50].into(), new[50..].into()];
        assert_eq!(header(&new).join(&other_cut).as_deref(), Some(new.as_str()));
    }

    #[test]
    fn parts_are_named_after_the_account_and_slot() {
        assert_eq!(
            part_account("profile:contoso", 'a', 1),
            "profile:contoso#a.1"
        );
        assert_eq!(
            part_account("profile:contoso", 'b', 12),
            "profile:contoso#b.12"
        );
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
