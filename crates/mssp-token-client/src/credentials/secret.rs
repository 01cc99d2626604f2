//! Reading a client secret from a file or from standard input. Errors name the file; the
//! caller names the flag or variable it came from.

use crate::error::{io_reason, usage};
use crate::redacted::SecretString;
use anyhow::Result;
use std::io::BufRead;
use std::path::Path;

/// Secrets larger than this are refused: it is the wrong file.
const MAX_SECRET_FILE: u64 = 64 * 1024;

/// A secret given as a value: trimmed, and refused when empty.
pub fn from_value(value: &str) -> Result<SecretString> {
    let v = value.trim();
    if v.is_empty() {
        return Err(usage("is empty"));
    }
    Ok(SecretString::new(v))
}

/// The secret in a file (trailing newline trimmed); warns when other users can read it.
pub fn from_file(path: &Path) -> Result<SecretString> {
    let shown = path.display();
    let meta = std::fs::metadata(path)
        .map_err(|e| usage(format!("{shown}: cannot read it ({})", io_reason(&e))))?;
    if !meta.is_file() {
        return Err(usage(format!("{shown}: not a regular file")));
    }
    if meta.len() > MAX_SECRET_FILE {
        return Err(usage(format!(
            "{shown}: {} bytes is far too large for a client secret; is it the right file?",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path)
        .map_err(|e| usage(format!("{shown}: cannot read it ({})", io_reason(&e))))?;
    let text = String::from_utf8(bytes).map_err(|_| usage(format!("{shown}: not UTF-8 text")))?;
    let secret = text.trim_end_matches(['\n', '\r']).trim();
    if secret.is_empty() {
        return Err(usage(format!(
            "{shown}: the file is empty; put the client secret's value in it"
        )));
    }
    warn_if_shared(path, &meta);
    Ok(SecretString::new(secret))
}

/// The first line of standard input.
pub fn from_stdin() -> Result<SecretString> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| usage(format!("cannot read standard input ({e})")))?;
    let secret = line.trim_end_matches(['\n', '\r']).trim();
    if secret.is_empty() {
        return Err(usage(
            "standard input was empty; pipe the secret in, e.g. `pass show mssp/app | mssp-token ... --client-secret-stdin`",
        ));
    }
    Ok(SecretString::new(secret))
}

#[cfg(unix)]
fn warn_if_shared(path: &Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        crate::warn!(
            "{} can be read by other users (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path, _meta: &std::fs::Metadata) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_is_trimmed_and_empty_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "abc-secret-value\n").unwrap();
        assert_eq!(from_file(&p).unwrap().expose(), "abc-secret-value");
        std::fs::write(&p, "\n").unwrap();
        let e = from_file(&p).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let e = from_file(&dir.path().join("nope")).unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
    }
}
