//! Token files: written atomically (a temporary file in the same folder, fsync, rename) with
//! mode 0600, so a reader never sees half a file and a failed write never damages the old one.

use crate::credentials::io_reason;
use crate::error::{fail, Exit};
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

/// Reads a file named by `flag` (e.g. "--from"); a failure is a storage error naming it.
pub fn read(path: &Path, flag: &str) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        fail(
            Exit::Storage,
            format!(
                "{flag} {}: cannot read it ({})",
                path.display(),
                io_reason(&e)
            ),
        )
    })
}

/// The access token in a file: the JSON object `--save` writes, or the bare token.
pub fn read_access_token(path: &Path, flag: &str) -> Result<String> {
    let bytes = read(path, flag)?;
    let text = String::from_utf8_lossy(&bytes);
    let token = if text.trim_start().starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
            crate::error::usage(format!("{flag} {}: not valid JSON", path.display()))
        })?;
        v.get("access_token")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| {
                crate::error::usage(format!(
                    "{flag} {}: no access_token in it (expected a file saved with --save)",
                    path.display()
                ))
            })?
    } else {
        text.trim().to_string()
    };
    if token.is_empty() {
        return Err(crate::error::usage(format!(
            "{flag} {}: the file is empty",
            path.display()
        )));
    }
    crate::redacted::register(&token);
    Ok(token)
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
