//! Token files the user names (`--save FILE`, `refresh --from FILE`): written atomically (a temporary file in the same folder, fsync, rename) with
//! mode 0600, so a reader never sees half a file and a failed write never damages the old one.

use crate::error::{fail, io_reason, Exit};
use crate::store::{StoreLock, TokenStore};
use crate::token::TokenSet;
use anyhow::Result;
use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically, mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let shown = path.display();
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    if path.is_dir() {
        return Err(fail(
            Exit::Storage,
            format!("cannot write {shown}: it is a folder; give a file name"),
        ));
    }
    if !dir.is_dir() {
        return Err(fail(
            Exit::Storage,
            format!(
                "cannot write {shown}: the folder {} does not exist",
                dir.display()
            ),
        ));
    }
    let err = |what: &str, e: std::io::Error| {
        fail(
            Exit::Storage,
            format!(
                "cannot write {shown}: {what} ({}); the previous file, if any, is unchanged",
                io_reason(&e)
            ),
        )
    };
    // tempfile creates the file with mode 0600 whatever the umask.
    let mut tmp = tempfile::Builder::new()
        .prefix(".mssp-token-")
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(|e| err("cannot create a temporary file beside it", e))?;
    set_private(tmp.path()).map_err(|e| err("cannot set mode 0600", e))?;
    tmp.write_all(bytes).map_err(|e| err("writing failed", e))?;
    tmp.as_file()
        .sync_all()
        .map_err(|e| err("fsync failed", e))?;
    tmp.persist(path)
        .map_err(|e| err("rename failed", e.error))?;
    sync_dir(&dir);
    Ok(())
}

/// Reads a file; a failure is a storage error naming it.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        fail(
            Exit::Storage,
            format!("{}: cannot read it ({})", path.display(), io_reason(&e)),
        )
    })
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

    /// Locks the file itself (no lock file is left beside it). The file is replaced by rename
    /// on every write, so after taking the lock the path must still name the locked file;
    /// otherwise the lock is taken again on the new one.
    fn lock(&self, key: &str) -> Result<StoreLock> {
        let path = Path::new(key);
        loop {
            let file = match std::fs::File::open(path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(StoreLock::none()),
                Err(e) => {
                    return Err(fail(
                        Exit::Storage,
                        format!(
                            "{}: cannot open it to lock it ({})",
                            path.display(),
                            io_reason(&e)
                        ),
                    ))
                }
            };
            file.lock().map_err(|e| {
                fail(
                    Exit::Storage,
                    format!("{}: cannot lock it ({})", path.display(), io_reason(&e)),
                )
            })?;
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
