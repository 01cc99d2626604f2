//! Token files the user names (`--save FILE`, `refresh --from FILE`, `--report FILE`): written
//! atomically (a temporary file in the same folder, fsync, rename) with mode 0600, so a reader
//! never sees half a file and a failed write never damages the old one. Only regular files are
//! read or replaced (`paths.rs`: a FIFO, a device, a socket or a folder at the path is refused).
//!
//! A write can be prepared before the data exists ([`AtomicWrite::prepare`]): `refresh` makes
//! sure it can write the file before it redeems (and so invalidates) the saved refresh token.

use crate::error::{fail, io_reason, Exit};
use crate::store::{paths, Pending, StoreLock, TokenStore};
use crate::token::TokenSet;
use anyhow::Result;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically, mode 0600. An existing path must be a regular file or a
/// symlink to one (whose target is replaced; the link stays): see [`check_writable`].
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    AtomicWrite::prepare(path)?.commit(bytes)
}

/// [`write_atomic`] without the fsyncs: for cache entries whose loss is harmless (a file left
/// empty by a power cut is refused when read, and made again). A reader still never sees half a
/// file, and the mode and path checks are the same; only the durability is given up, which
/// saves two fsyncs per entry (a thousand-tenant `onboard` writes one entry per domain).
pub fn write_atomic_unsynced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut w = AtomicWrite::prepare(path)?;
    w.sync = false;
    w.commit(bytes)
}

/// Checks, before any work is done, that a token file can be written at `path`: what is there
/// is a regular file, a symlink to one, or nothing, and the folder exists. Commands call it
/// early (e.g. `onboard --report` before the first tenant); [`write_atomic`] checks again.
pub fn check_writable(path: &Path) -> Result<()> {
    let target = paths::replace_target(path)?;
    folder_of(path, &target).map(|_| ())
}

fn folder_of(shown: &Path, target: &Path) -> Result<PathBuf> {
    let dir = match target.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(fail(
            Exit::Storage,
            format!(
                "cannot write {}: the folder {} does not exist",
                shown.display(),
                dir.display()
            ),
        ));
    }
    Ok(dir)
}

/// A token-file write made ready before its data exists: the path checked, a 0600 temporary
/// file created in the target folder. [`AtomicWrite::commit`] fills it and renames it into
/// place; dropping it removes the temporary file.
pub struct AtomicWrite {
    tmp: tempfile::NamedTempFile,
    /// As the user gave it (for messages).
    shown: PathBuf,
    /// What is replaced: the path, or the file a symlink there points to.
    target: PathBuf,
    dir: PathBuf,
    /// fsync the file and its folder (false only for [`write_atomic_unsynced`]).
    sync: bool,
}

impl AtomicWrite {
    pub fn prepare(path: &Path) -> Result<AtomicWrite> {
        let target = paths::replace_target(path)?;
        let dir = folder_of(path, &target)?;
        // tempfile creates the file with mode 0600 whatever the umask.
        let tmp = tempfile::Builder::new()
            .prefix(".mssp-token-")
            .suffix(".tmp")
            .tempfile_in(&dir)
            .map_err(|e| write_error(path, "cannot create a temporary file beside it", &e))?;
        set_private(tmp.path()).map_err(|e| write_error(path, "cannot set mode 0600", &e))?;
        Ok(AtomicWrite {
            tmp,
            shown: path.to_path_buf(),
            target,
            dir,
            sync: true,
        })
    }

    /// Writes `bytes`, fsyncs and renames the file into place (checking the path again first).
    pub fn commit(mut self, bytes: &[u8]) -> Result<()> {
        let shown = self.shown.clone();
        let err = |what: &str, e: std::io::Error| write_error(&shown, what, &e);
        self.tmp
            .write_all(bytes)
            .map_err(|e| err("writing failed", e))?;
        if self.sync {
            self.tmp
                .as_file()
                .sync_all()
                .map_err(|e| err("fsync failed", e))?;
        }
        // Whatever appeared at the path since `prepare` must still be replaceable.
        if paths::replace_target(&self.shown)? != self.target {
            return Err(fail(
                Exit::Storage,
                format!(
                    "cannot write {}: it changed while the token was being fetched (now it points elsewhere); the previous file, if any, is unchanged",
                    shown.display()
                ),
            ));
        }
        self.tmp
            .persist(&self.target)
            .map_err(|e| err("rename failed", e.error))?;
        if self.sync {
            sync_dir(&self.dir);
        }
        Ok(())
    }
}

fn write_error(shown: &Path, what: &str, e: &std::io::Error) -> anyhow::Error {
    fail(
        Exit::Storage,
        format!(
            "cannot write {}: {what} ({}); the previous file, if any, is unchanged",
            shown.display(),
            io_reason(e)
        ),
    )
}

/// Writes `bytes` to a NEW file beside `path` (`PATH.rescued-<UTC time>`, mode 0600), for
/// tokens that must not be lost when `path` itself cannot be written. Returns its path.
pub fn write_beside(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let stamp = crate::time::rfc3339(crate::time::now_epoch()).replace([':', '-'], "");
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".rescued-{stamp}"));
    let mut candidate = PathBuf::from(&name);
    let mut n = 1;
    loop {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        match options.open(&candidate) {
            Ok(mut f) => {
                let written = set_private(&candidate)
                    .and_then(|_| f.write_all(bytes))
                    .and_then(|_| f.sync_all());
                if let Err(e) = written {
                    drop(f);
                    let _ = std::fs::remove_file(&candidate);
                    return Err(e);
                }
                if let Some(dir) = candidate.parent() {
                    sync_dir(if dir.as_os_str().is_empty() {
                        Path::new(".")
                    } else {
                        dir
                    });
                }
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                n += 1;
                let mut next = name.clone();
                next.push(format!("-{n}"));
                candidate = PathBuf::from(next);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads a token file: a regular file (or a symlink to one) of at most 1 MiB; a FIFO, a device
/// or a folder is refused (exit 7) without blocking; any failure names the file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    paths::read_regular(path)
}

/// The access token in a file: the JSON object `--save` writes, or the bare token.
pub fn read_access_token(path: &Path) -> Result<String> {
    let bytes = read(path)?;
    let text = String::from_utf8_lossy(&bytes);
    let token = if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|_| crate::error::usage(format!("{}: not valid JSON", path.display())))?;
        v.get("access_token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                crate::error::usage(format!(
                    "{}: no access_token in it (expected a file saved with --save)",
                    path.display()
                ))
            })?
    } else {
        text.trim().to_string()
    };
    if token.is_empty() {
        return Err(crate::error::usage(format!(
            "{}: the file is empty",
            path.display()
        )));
    }
    crate::redacted::register(&token);
    Ok(token)
}

/// Token files addressed by their path: the store behind `--save` and `refresh --from`.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenFiles;

impl TokenStore for TokenFiles {
    fn location(&self, key: &str) -> String {
        key.to_string()
    }

    /// The token set saved at the path; a missing or unreadable file is an error (the user
    /// named it), a file that is not a token set is a usage error.
    fn get(&self, key: &str) -> Result<Option<TokenSet>> {
        let path = Path::new(key);
        let bytes = read(path)?;
        let set = TokenSet::from_json(&bytes).map_err(|e| {
            let what = if e.is_syntax() || e.is_eof() {
                "not valid JSON".to_string()
            } else {
                // serde's message names the field ("missing field `tenant_id`"), never a value.
                let m = e.to_string();
                if m.starts_with("missing field") {
                    m.split(" at line").next().unwrap_or("").to_string()
                } else {
                    "a field has the wrong type".to_string()
                }
            };
            crate::error::usage(format!(
                "{}: not a token file saved by mssp-token ({what})",
                path.display()
            ))
        })?;
        Ok(Some(set))
    }

    fn put(&self, key: &str, set: &TokenSet) -> Result<()> {
        write_atomic(Path::new(key), set.to_json().as_bytes())
    }

    fn prepare(&self, key: &str) -> Result<Box<dyn Pending>> {
        Ok(Box::new(AtomicWrite::prepare(Path::new(key))?))
    }

    /// `FILE.rescued-<time>` beside the file, mode 0600.
    fn rescue(&self, key: &str, set: &TokenSet) -> Result<String> {
        write_beside(Path::new(key), set.to_json().as_bytes())
            .map(|p| p.display().to_string())
            .map_err(|e| {
                fail(
                    Exit::Storage,
                    format!("cannot write a file beside {key} ({})", io_reason(&e)),
                )
            })
    }

    /// Locks the file itself (no lock file is left beside it), waiting at most
    /// MSSP_TOKEN_LOCK_WAIT_SECS for another process. The file is replaced by rename on every
    /// write, so after taking the lock the path must still name the locked file; otherwise the
    /// lock is taken again on the new one.
    fn lock(&self, key: &str) -> Result<StoreLock> {
        let path = Path::new(key);
        loop {
            let file = match paths::open_regular(path) {
                Ok(f) => f,
                // Nothing at the path (not even a dangling link): nothing to protect yet.
                Err(_) if std::fs::symlink_metadata(path).is_err() => return Ok(StoreLock::none()),
                Err(e) => return Err(e),
            };
            crate::store::lock::exclusive(&file, path)?;
            if still_names(path, &file) {
                return Ok(StoreLock::on(file));
            }
        }
    }
}

/// True when `path` still names the open `file` (not replaced since it was opened).
#[cfg(unix)]
fn still_names(path: &Path, file: &std::fs::File) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn still_names(_path: &Path, _file: &std::fs::File) -> bool {
    true
}

#[cfg(unix)]
fn set_private(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn set_private(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(unix)]
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_0600_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1);
    }

    #[test]
    fn missing_folder_is_a_storage_error() {
        let e = write_atomic(Path::new("/nonexistent-dir-xyz/t.json"), b"x").unwrap_err();
        assert_eq!(crate::error::exit_code_of(&e), 7);
        assert!(e.to_string().contains("does not exist"));
    }
}
