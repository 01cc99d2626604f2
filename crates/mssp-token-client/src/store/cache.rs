//! The per-user token cache for app-only tokens: a 0700 folder of 0600 files, one per key,
//! written atomically, with a lock per key so that parallel runs make one request, not many.
//! The key is a hash of cloud/authority, tenant, client, resource or scope and credential kind;
//! never of a secret.

use crate::error::{fail, io_reason, Exit};
use crate::store::{StoreLock, TokenStore};
use crate::token::TokenSet;
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::path::PathBuf;

/// Tokens with less than this left are not served from the cache.
pub const MIN_REMAINING: u64 = 300;

#[derive(Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache folder: $MSSP_TOKEN_CACHE_DIR, else the platform's per-user cache folder.
    pub fn open() -> Result<Cache> {
        let dir =
            if let Some(d) = std::env::var_os("MSSP_TOKEN_CACHE_DIR").filter(|d| !d.is_empty()) {
                PathBuf::from(d)
            } else if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
                PathBuf::from(d).join("mssp-token")
            } else if let Some(d) = std::env::var_os("LOCALAPPDATA").filter(|d| !d.is_empty()) {
                PathBuf::from(d).join("mssp-token")
            } else if let Some(h) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
                PathBuf::from(h).join(".cache").join("mssp-token")
            } else {
                return Err(fail(
                    Exit::Storage,
                    "no cache folder: set HOME or MSSP_TOKEN_CACHE_DIR, or pass --no-cache",
                ));
            };
        create_private_dir(&dir)?;
        Ok(Cache { dir })
    }

    pub fn key(parts: &[&str]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0u8]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl TokenStore for Cache {
    fn location(&self, key: &str) -> String {
        self.dir.join(format!("{key}.json")).display().to_string()
    }

    /// A cached token with more than [`MIN_REMAINING`] seconds left; anything else (absent,
    /// stale, unreadable) is a miss.
    fn get(&self, key: &str) -> Result<Option<TokenSet>> {
        let path = self.dir.join(format!("{key}.json"));
        let Ok(bytes) = std::fs::read(&path) else {
            return Ok(None);
        };
        match TokenSet::from_json(&bytes) {
            Ok(set) if set.expires_on > crate::time::now_epoch() + MIN_REMAINING => Ok(Some(set)),
            Ok(_) => Ok(None),
            Err(_) => {
                crate::verbose!("ignoring an unreadable cache entry {}", path.display());
                Ok(None)
            }
        }
    }

    fn put(&self, key: &str, set: &TokenSet) -> Result<()> {
        let path = self.dir.join(format!("{key}.json"));
        crate::store::file::write_atomic(&path, set.to_json().as_bytes())
    }

    /// Takes the lock for `key` (waits for another process holding it).
    fn lock(&self, key: &str) -> Result<StoreLock> {
        let path = self.dir.join(format!("{key}.lock"));
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file: File = options
            .open(&path)
            .map_err(|e| storage_error(&path, "cannot open the lock file", e))?;
        file.lock()
            .map_err(|e| storage_error(&path, "cannot take the lock", e))?;
        Ok(StoreLock::on(file))
    }
}

fn storage_error(path: &std::path::Path, what: &str, e: std::io::Error) -> anyhow::Error {
    fail(
        Exit::Storage,
        format!(
            "token cache {}: {what} ({}); pass --no-cache to go without it",
            path.display(),
            io_reason(&e)
        ),
    )
}

/// Creates `dir` with mode 0700 (and tightens an existing one).
pub fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.is_dir() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| storage_error(dir, "cannot create the folder", e))?;
        }
        // DirBuilder's mode is filtered by the umask only to be stricter; set it exactly anyway.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| storage_error(dir, "cannot set mode 0700", e))?;
    }
    #[cfg(not(unix))]
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| storage_error(dir, "cannot create the folder", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_by_every_part_and_hold_no_input() {
        let a = Cache::key(&["public", "t", "c", "r"]);
        assert_ne!(a, Cache::key(&["public", "t", "c", "r2"]));
        assert_ne!(Cache::key(&["ab", "c"]), Cache::key(&["a", "bc"]));
        assert_eq!(a.len(), 64);
    }
}
