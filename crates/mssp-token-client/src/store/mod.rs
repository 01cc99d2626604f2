//! The token-store seam: where token sets are read, written and locked. Every command that
//! reads or writes tokens goes through a [`TokenStore`]:
//! - [`file::TokenFiles`]: files the user names (`--save FILE`, `refresh --from FILE`); the key
//!   is the path;
//! - [`cache::Cache`]: the per-user cache of app-only tokens; the key is a hash of what was
//!   asked.
//!
//! An OS keychain or an encrypted vault is one more implementation of the trait.

pub mod cache;
pub mod file;

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
    /// Takes the entry's lock, waiting for another process that holds it.
    fn lock(&self, key: &str) -> Result<StoreLock>;
}
