//! The token-store seam: where token sets are read, written and locked. Every command that
//! reads or writes tokens goes through a [`TokenStore`]:
//! - [`file::TokenFiles`]: files the user names (`--save FILE`, `refresh --from FILE`); the key
//!   is the path;
//! - [`cache::Cache`]: the per-user cache of app-only tokens; the key is a hash of what was
//!   asked.
//!
//! Both read and write only regular files (`paths.rs`) and wait for a lock at most
//! MSSP_TOKEN_LOCK_WAIT_SECS (`lock.rs`). An OS keychain or an encrypted vault is one more
//! implementation of the trait.

pub mod cache;
pub mod file;
pub mod keyring;
pub mod lock;
pub mod paths;
pub mod profiles;
pub mod tenants;
pub mod vault;

use crate::token::TokenSet;
use anyhow::Result;

/// Held while an entry is read, renewed and written back; dropping it releases the lock.
pub struct StoreLock {
    _file: Option<std::fs::File>,
}

impl StoreLock {
    /// A lock on nothing (an entry that does not exist yet has nothing to protect).
    pub fn none() -> StoreLock {
        StoreLock { _file: None }
    }

    pub(crate) fn on(file: std::fs::File) -> StoreLock {
        StoreLock { _file: Some(file) }
    }
}

pub trait TokenStore: Send + Sync {
    /// Where `key` lives, for messages (a path; never a secret).
    fn location(&self, key: &str) -> String;
    /// The entry, `Ok(None)` when there is none to use.
    fn get(&self, key: &str) -> Result<Option<TokenSet>>;
    /// Writes the entry whole (never half-written).
    fn put(&self, key: &str, set: &TokenSet) -> Result<()>;
    /// Takes the entry's lock, waiting (a bounded time) for another process that holds it.
    fn lock(&self, key: &str) -> Result<StoreLock>;
    /// Makes a write of the entry ready before its data exists (the place checked, a temporary
    /// file created), so that a caller about to do something irreversible (redeem a refresh
    /// token) learns now that the write would fail.
    fn prepare(&self, key: &str) -> Result<Box<dyn Pending>>;
    /// The flags of a `login` command that saves into this entry (`--save FILE` by default).
    fn sign_in_flags(&self, key: &str) -> String {
        format!("--save {}", shell_words::quote(&self.location(key)))
    }
    /// What to do with the copy [`TokenStore::rescue`] kept at `place`, once the problem is
    /// fixed (for the message).
    fn restore_hint(&self, key: &str, place: &str) -> String {
        let _ = place;
        format!(
            "Move that file over {} once the problem is fixed.",
            self.location(key)
        )
    }
    /// Keeps `set` somewhere else when the entry itself could not be written; returns where
    /// (for the message). By default there is no such place.
    fn rescue(&self, key: &str, set: &TokenSet) -> Result<String> {
        let _ = set;
        Err(crate::error::fail(
            crate::error::Exit::Storage,
            format!("no other place to keep {}", self.location(key)),
        ))
    }
}

/// A prepared write ([`TokenStore::prepare`]); dropping it without writing leaves the entry as
/// it was.
pub trait Pending: Send {
    /// Writes the set whole, replacing the entry.
    fn write(self: Box<Self>, set: &TokenSet) -> Result<()>;
}

impl Pending for file::AtomicWrite {
    fn write(self: Box<Self>, set: &TokenSet) -> Result<()> {
        self.commit(set.to_json().as_bytes())
    }
}
