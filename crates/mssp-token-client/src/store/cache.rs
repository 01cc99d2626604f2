//! The per-user token cache for app-only tokens: a private folder of 0600 files, one per key,
//! written atomically, with a lock per key so that parallel runs make one request, not many.
//! The key is a hash of cloud/authority, tenant, client, resource or scope and credential kind;
//! never of a secret.
//!
//! The cache is trusted only when nobody else can change it. Its folder is used when it belongs
//! to this user and is not writable by group or others; in a shared sticky folder (a 1777
//! `/tmp`-like `MSSP_TOKEN_CACHE_DIR`) a private subfolder `mssp-token-<uid>` is used instead.
//! Any other folder is ignored with a warning (tokens are then fetched each time), and so is an
//! entry that is not a 0600 regular file of this user. Folders that exist are never chmod'ed;
//! only the ones this tool creates are made 0700.

use crate::error::{fail, io_reason, Exit};
use crate::store::file::AtomicWrite;
use crate::store::{paths, Pending, StoreLock, TokenStore};
use crate::token::TokenSet;
use anyhow::Result;
use sha2::{Digest, Sha256};
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

/// Tokens with less than this left are not served from the cache.
pub const MIN_REMAINING: u64 = 300;

#[derive(Clone)]
pub struct Cache {
    dir: PathBuf,
    /// False when the folder cannot be trusted: nothing is read from it or written to it.
    trusted: bool,
}

impl Cache {
    /// The cache folder: $MSSP_TOKEN_CACHE_DIR, else the platform's per-user cache folder.
    pub fn open() -> Result<Cache> {
        let base =
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
        match private_folder(&base)? {
            Ok(dir) => Ok(Cache { dir, trusted: true }),
            Err(why) => {
                crate::warn!(
                    "not using the token cache {}: {why}; tokens are fetched from Entra each time. Use a folder of your own (MSSP_TOKEN_CACHE_DIR, mode 0700) or pass --no-cache",
                    base.display()
                );
                Ok(Cache {
                    dir: base,
                    trusted: false,
                })
            }
        }
    }

    pub fn key(parts: &[&str]) -> String {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0u8]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Whether the folder is trusted and used. When it is not (a warning said why), nothing may
    /// be read from it or written to it: entries beside the tokens' (e.g. tenant IDs) check this.
    pub fn trusted(&self) -> bool {
        self.trusted
    }

    fn entry(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}.json"))
    }
}

impl TokenStore for Cache {
    fn location(&self, key: &str) -> String {
        self.entry(key).display().to_string()
    }

    /// A cached token with more than [`MIN_REMAINING`] seconds left; anything else (absent,
    /// stale, unreadable, from an older version, or not a private file of this user) is a miss.
    fn get(&self, key: &str) -> Result<Option<TokenSet>> {
        if !self.trusted {
            return Ok(None);
        }
        let path = self.entry(key);
        let bytes = match read_entry(&path) {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(why) => {
                crate::warn!(
                    "ignoring the cached token {}: {why}; fetching a new one",
                    path.display()
                );
                return Ok(None);
            }
        };
        match TokenSet::from_json(&bytes) {
            Ok(set) if set.authority.is_none() => {
                crate::verbose!(
                    "ignoring a cache entry of an older version {}",
                    path.display()
                );
                Ok(None)
            }
            Ok(set) if set.expires_on > crate::time::now_epoch() + MIN_REMAINING => Ok(Some(set)),
            Ok(_) => Ok(None),
            Err(_) => {
                crate::verbose!("ignoring an unreadable cache entry {}", path.display());
                Ok(None)
            }
        }
    }

    fn put(&self, key: &str, set: &TokenSet) -> Result<()> {
        if !self.trusted {
            return Ok(());
        }
        crate::store::file::write_atomic(&self.entry(key), set.to_json().as_bytes())
    }

    fn prepare(&self, key: &str) -> Result<Box<dyn Pending>> {
        if !self.trusted {
            return Ok(Box::new(Discard));
        }
        Ok(Box::new(AtomicWrite::prepare(&self.entry(key))?))
    }

    /// Takes the lock for `key`, waiting at most MSSP_TOKEN_LOCK_WAIT_SECS for another process.
    fn lock(&self, key: &str) -> Result<StoreLock> {
        if !self.trusted {
            return Ok(StoreLock::none());
        }
        let path = self.dir.join(format!("{key}.lock"));
        let mut options = std::fs::OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK);
        }
        let file: File = options
            .open(&path)
            .map_err(|e| storage_error(&path, "cannot open the lock file", e))?;
        if let Err(why) = private_file(&file) {
            return Err(fail(
                Exit::Storage,
                format!(
                    "token cache {}: the lock file {why}; remove it, or pass --no-cache",
                    path.display()
                ),
            ));
        }
        crate::store::lock::exclusive(&file, &path)
            .map_err(|e| crate::error::at("token cache", e))?;
        Ok(StoreLock::on(file))
    }
}

/// A write to a cache that is not used.
struct Discard;

impl Pending for Discard {
    fn write(self: Box<Self>, _set: &TokenSet) -> Result<()> {
        Ok(())
    }
}

fn storage_error(path: &Path, what: &str, e: std::io::Error) -> anyhow::Error {
    fail(
        Exit::Storage,
        format!(
            "token cache {}: {what} ({}); pass --no-cache to go without it",
            path.display(),
            io_reason(&e)
        ),
    )
}

/// Reads a cache entry: `Ok(None)` when there is none, `Err(why)` when it is there but must
/// not be trusted (not a regular file, a symlink, another user's, readable or writable by
/// others, too large).
fn read_entry(path: &Path) -> Result<Option<Vec<u8>>, String> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(
        &mut options,
        libc::O_NOFOLLOW | libc::O_NONBLOCK,
    );
    let file = match options.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        #[cfg(unix)]
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => {
            return Err("it is a symbolic link".into())
        }
        Err(e) => return Err(format!("cannot read it ({})", io_reason(&e))),
    };
    private_file(&file)?;
    let mut bytes = Vec::new();
    file.take(paths::MAX_TOKEN_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it ({})", io_reason(&e)))?;
    if bytes.len() as u64 > paths::MAX_TOKEN_FILE {
        return Err("it is too large to be a token".into());
    }
    Ok(Some(bytes))
}

/// Ok when the open `file` is a regular file of this user that nobody else may read or write.
fn private_file(file: &File) -> Result<(), String> {
    let meta = file
        .metadata()
        .map_err(|e| format!("cannot examine it ({})", io_reason(&e)))?;
    if !meta.is_file() {
        return Err(format!("is {}", paths::describe(&meta.file_type())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != paths::euid() {
            return Err(format!("belongs to another user (uid {})", meta.uid()));
        }
        if meta.mode() & 0o077 != 0 {
            return Err(format!(
                "is readable or writable by other users (mode {:o}, expected 600)",
                meta.mode() & 0o777
            ));
        }
    }
    Ok(())
}

/// The folder to keep cache entries in, given the configured `base`: `base` itself when it is
/// this user's and not writable by others (created 0700 when missing); a private subfolder in
/// a shared sticky folder; `Ok(Err(why))` when it must not be trusted; `Err` when it cannot
/// be created.
fn private_folder(base: &Path) -> Result<Result<PathBuf, String>> {
    if !base.exists() {
        create_private_dir(base)?;
        return Ok(trusted_folder(base).map(|_| base.to_path_buf()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(base)
            .map_err(|e| storage_error(base, "cannot examine the folder", e))?;
        if !meta.is_dir() {
            return Err(fail(
                Exit::Storage,
                format!(
                    "token cache {}: it is {}, not a folder; point MSSP_TOKEN_CACHE_DIR at a folder, or pass --no-cache",
                    base.display(),
                    paths::describe(&meta.file_type())
                ),
            ));
        }
        let shared_sticky = meta.mode() & 0o1002 == 0o1002;
        if shared_sticky {
            // Like /tmp: others may create names here but not touch ours.
            let own = base.join(format!("mssp-token-{}", paths::euid()));
            if !own.exists() {
                create_private_dir(&own)?;
            }
            return Ok(trusted_folder(&own)
                .map(|_| own.clone())
                .map_err(|why| format!("its subfolder {} {why}", own.display())));
        }
    }
    Ok(trusted_folder(base).map(|_| base.to_path_buf()))
}

/// Ok when `dir` (symlinks followed) is a folder of this user that group and others cannot
/// write; otherwise why not.
fn trusted_folder(dir: &Path) -> Result<(), String> {
    let meta =
        std::fs::metadata(dir).map_err(|e| format!("cannot be examined ({})", io_reason(&e)))?;
    if !meta.is_dir() {
        return Err(format!("is {}", paths::describe(&meta.file_type())));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if meta.uid() != paths::euid() {
            return Err(format!(
                "belongs to another user (uid {}), who could replace the cached tokens",
                meta.uid()
            ));
        }
        if meta.mode() & 0o022 != 0 {
            return Err(format!(
                "is writable by group or others (mode {:o}), who could replace the cached tokens",
                meta.mode() & 0o7777
            ));
        }
    }
    Ok(())
}

/// Creates `dir` and any missing parents with mode 0700 (exactly, whatever the umask). Folders
/// that already exist are left as they are: a shared folder keeps its mode and sticky bit.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        let mut missing = Vec::new();
        let mut d = dir;
        while !d.as_os_str().is_empty() && std::fs::symlink_metadata(d).is_err() {
            missing.push(d.to_path_buf());
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
        for m in missing.iter().rev() {
            match std::fs::DirBuilder::new().mode(0o700).create(m) {
                Ok(()) => std::fs::set_permissions(m, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| storage_error(m, "cannot set mode 0700", e))?,
                // Another process made it meanwhile: not ours to change.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(storage_error(m, "cannot create the folder", e)),
            }
        }
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

    #[cfg(unix)]
    #[test]
    fn existing_folders_keep_their_mode_and_shared_ones_get_a_private_subfolder() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o7777;
        let root = tempfile::tempdir().unwrap();
        let shared = root.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
        let dir = private_folder(&shared).unwrap().unwrap();
        assert_eq!(mode(&shared), 0o1777);
        assert_eq!(dir.parent().unwrap(), shared);
        assert_eq!(mode(&dir), 0o700);

        let open = root.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let why = private_folder(&open).unwrap().unwrap_err();
        assert!(why.contains("writable by group or others"), "{why}");
        assert_eq!(mode(&open), 0o777);

        let mine = root.path().join("mine");
        std::fs::create_dir(&mine).unwrap();
        std::fs::set_permissions(&mine, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(private_folder(&mine).unwrap().unwrap(), mine);
        assert_eq!(mode(&mine), 0o755);

        let new = root.path().join("a").join("b");
        assert_eq!(private_folder(&new).unwrap().unwrap(), new);
        assert_eq!(mode(&new), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
    }
}
