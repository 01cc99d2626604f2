//! The encrypted store's key: the age format (https://age-encryption.org), so that the files
//! can be opened with the standard `age`/`rage` tools, the same key in hand.
//!
//! Two ways to hold the key:
//! - an age identity file (`MSSP_TOKEN_IDENTITY`, e.g. `age-keygen -o key.txt`): the profiles are
//!   encrypted to its recipients (`age -d -i key.txt NAME.age` opens one);
//! - a passphrase (`MSSP_TOKEN_PASSPHRASE` or `--passphrase-file`): the store makes an X25519
//!   identity when it first writes a profile and keeps it in `identity.age`, encrypted with the
//!   passphrase (age's scrypt recipient, about a second of work); profiles are encrypted to that
//!   identity, so a run pays for the passphrase once however many profiles it opens
//!   (`age -d -o key.txt identity.age`, then as above).
//!
//! `identity.age` is created at most once: a second process that races to create it finds the
//! first one's and uses it (or says the passphrase is wrong). A wrong passphrase, a file
//! encrypted for another key and a changed (tampered or damaged) file are told apart where age
//! allows it; each is exit 7 naming the file, none is a panic, and nothing of the key appears in
//! a message (the passphrase and every secret key are registered for scrubbing).

use crate::error::{fail, usage, Exit};
use age::secrecy::{ExposeSecret, SecretString};
use anyhow::Result;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

/// Where the key comes from.
pub enum VaultKey {
    Passphrase(SecretString),
    /// An age identity file.
    IdentityFile(PathBuf),
}

/// Passphrase and identity files are small; anything bigger is the wrong file.
const MAX_KEY_FILE: u64 = 64 * 1024;

impl VaultKey {
    /// The key given: the file `passphrase_file` (`--passphrase-file`), else MSSP_TOKEN_IDENTITY
    /// (an age identity file), else MSSP_TOKEN_PASSPHRASE; `None` when none is given. A file
    /// that cannot be read, or a passphrase too short, is a usage error (exit 2) naming where it
    /// came from.
    pub fn from_env(passphrase_file: Option<&Path>) -> Result<Option<VaultKey>> {
        if let Some(p) = passphrase_file {
            let text = read_key_file(p, "")?;
            let pass = text.trim_end_matches(['\r', '\n']).to_string();
            return Self::passphrase(pass, &p.display().to_string()).map(Some);
        }
        if let Some(p) = std::env::var_os("MSSP_TOKEN_IDENTITY").filter(|v| !v.is_empty()) {
            return Ok(Some(VaultKey::IdentityFile(PathBuf::from(p))));
        }
        if let Ok(p) = std::env::var("MSSP_TOKEN_PASSPHRASE") {
            if !p.is_empty() {
                return Self::passphrase(p, "MSSP_TOKEN_PASSPHRASE").map(Some);
            }
        }
        Ok(None)
    }

    /// `source` names where it came from, first in the messages: the file's path (the caller
    /// adds the flag) or the variable.
    fn passphrase(pass: String, source: &str) -> Result<VaultKey> {
        crate::redacted::register(&pass);
        if pass.is_empty() {
            return Err(usage(format!(
                "{source}: the passphrase is empty; put the store's passphrase in it"
            )));
        }
        if pass.chars().count() < 8 {
            return Err(usage(format!(
                "{source}: the passphrase is shorter than 8 characters; choose a longer one"
            )));
        }
        Ok(VaultKey::Passphrase(SecretString::from(pass)))
    }
}

/// A small key file's text (exit 2 when it cannot be read); warns when other users can read it.
/// Messages start with `what` (e.g. the variable that named the file) and the path.
fn read_key_file(path: &Path, what: &str) -> Result<String> {
    let shown = format!("{what}{}:", path.display());
    let meta = std::fs::metadata(path).map_err(|e| {
        usage(format!(
            "{shown} cannot be read ({})",
            crate::error::io_reason(&e)
        ))
    })?;
    if !meta.is_file() {
        return Err(usage(format!("{shown} not a regular file")));
    }
    if meta.len() > MAX_KEY_FILE {
        return Err(usage(format!(
            "{shown} {} bytes is far too large for a key; is it the right file?",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        usage(format!(
            "{shown} cannot be read ({})",
            crate::error::io_reason(&e)
        ))
    })?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            crate::warn!(
                "{shown} other users can read it (mode {:o}); chmod 600 it",
                mode & 0o777
            );
        }
    }
    String::from_utf8(bytes).map_err(|_| usage(format!("{shown} not UTF-8 text")))
}

/// The keys that open and seal the profiles.
struct Keys {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    recipients: Vec<Box<dyn age::Recipient + Send>>,
}

/// An opened vault: what encrypts and decrypts the profiles.
pub struct Vault {
    dir: PathBuf,
    /// The passphrase, with which `identity.age` is made on the first write of a new store.
    passphrase: Option<SecretString>,
    /// `None` until the store has a key (a passphrase store before its first write). Behind a
    /// mutex: age's recipients are Send but not Sync, and the first write creates the key.
    keys: Mutex<Option<Keys>>,
}

/// The file in the vault folder that holds the passphrase-protected identity.
pub const IDENTITY_FILE: &str = "identity.age";

/// scrypt's work factor (N = 2^18, about a second) for `identity.age`: the age CLI's own. A
/// fixed number, not age's default, which is measured on the machine at that moment (a busy
/// machine would then make, or refuse to open, a file another run made).
const SCRYPT_LOG_N: u8 = 18;
/// The largest work factor accepted when opening `identity.age` (N = 2^20: a few seconds and
/// 1 GiB of memory), so that a planted file cannot make a run take hours.
const MAX_SCRYPT_LOG_N: u8 = 20;

impl Vault {
    /// Opens the vault in `dir` with `key`. An identity file is read now; with a passphrase,
    /// an existing `identity.age` is opened now (so a wrong passphrase fails before anything
    /// else happens), and a new store gets one when it first writes.
    pub fn open(dir: &Path, key: &VaultKey) -> Result<Vault> {
        let (passphrase, keys) = match key {
            VaultKey::IdentityFile(path) => (None, Some(Self::from_identity_file(path)?)),
            VaultKey::Passphrase(pass) => (Some(pass.clone()), Self::sealed_identity(dir, pass)?),
        };
        Ok(Vault {
            dir: dir.to_path_buf(),
            passphrase,
            keys: Mutex::new(keys),
        })
    }

    fn from_identity_file(path: &Path) -> Result<Keys> {
        let text = read_key_file(path, "MSSP_TOKEN_IDENTITY ")?;
        Self::from_identity_text(text.as_bytes(), &path.display().to_string()).map_err(|_| {
            usage(format!(
                "MSSP_TOKEN_IDENTITY {}: not an age identity file (it must hold an AGE-SECRET-KEY-1... line: make one with `age-keygen -o FILE`; a public key age1... is not enough)",
                path.display()
            ))
        })
    }

    /// The identities and recipients of an identity file's text; every secret key in it is
    /// registered for scrubbing.
    fn from_identity_text(text: &[u8], what: &str) -> Result<Keys> {
        if let Ok(s) = std::str::from_utf8(text) {
            for line in s.lines().map(str::trim) {
                if line.starts_with("AGE-SECRET-KEY-") {
                    crate::redacted::register(line);
                }
            }
        }
        let bad = || {
            fail(
                Exit::Storage,
                format!("{what} is not an age identity file (make one with `age-keygen -o FILE`)"),
            )
        };
        let file = age::IdentityFile::from_buffer(text).map_err(|_| bad())?;
        let recipients = file.to_recipients().map_err(|_| bad())?;
        let identities = file.into_identities().map_err(|_| bad())?;
        if identities.is_empty() || recipients.is_empty() {
            return Err(bad());
        }
        Ok(Keys {
            identities,
            recipients,
        })
    }

    /// The keys in `dir/identity.age`, opened with `pass`; `None` when there is no such file.
    fn sealed_identity(dir: &Path, pass: &SecretString) -> Result<Option<Keys>> {
        let path = dir.join(IDENTITY_FILE);
        match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            _ => {}
        }
        let sealed = crate::store::paths::read_regular(&path)?;
        let mut id = age::scrypt::Identity::new(pass.clone());
        id.set_max_work_factor(MAX_SCRYPT_LOG_N);
        let text = age::decrypt(&id, &sealed).map_err(|e| match e {
            age::DecryptError::DecryptionFailed
            | age::DecryptError::KeyDecryptionFailed
            | age::DecryptError::NoMatchingKeys => fail(
                Exit::Storage,
                format!(
                    "wrong passphrase for {} (its {IDENTITY_FILE} was made with another one), or {} was changed after it was written",
                    dir.display(),
                    path.display()
                ),
            ),
            age::DecryptError::ExcessiveWork { .. } => fail(
                Exit::Storage,
                format!(
                    "{} asks for too much scrypt work to open; it was not made by mssp-token",
                    path.display()
                ),
            ),
            _ => fail(
                Exit::Storage,
                format!(
                    "{} is damaged or not an age file (changed after it was written?); without it the profiles of this store cannot be opened",
                    path.display()
                ),
            ),
        })?;
        Self::from_identity_text(&text, &path.display().to_string()).map(Some)
    }

    /// The store's keys, made now when `create` and the store has none yet (a passphrase store
    /// before its first write). Another process may have made `identity.age` since this vault
    /// was opened: it is read first, and never replaced.
    fn keys(&self, create: bool) -> Result<MutexGuard<'_, Option<Keys>>> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if keys.is_some() {
            return Ok(keys);
        }
        let Some(pass) = &self.passphrase else {
            return Ok(keys);
        };
        if let Some(found) = Self::sealed_identity(&self.dir, pass)? {
            *keys = Some(found);
            return Ok(keys);
        }
        if create {
            *keys = Some(self.create_identity(pass)?);
        }
        Ok(keys)
    }

    /// Makes the store's identity and writes it, sealed with `pass`, to `identity.age`, unless
    /// another process did first (then that one is used).
    fn create_identity(&self, pass: &SecretString) -> Result<Keys> {
        let path = self.dir.join(IDENTITY_FILE);
        let id = age::x25519::Identity::generate();
        let public = id.to_public();
        crate::redacted::register(id.to_string().expose_secret());
        let text = format!(
            "# mssp-token encrypted store key (open with `age -d -i` this file's content)\n# public key: {public}\n{}\n",
            id.to_string().expose_secret()
        );
        let mut recipient = age::scrypt::Recipient::new(pass.clone());
        recipient.set_work_factor(SCRYPT_LOG_N);
        let sealed = age::encrypt(&recipient, text.as_bytes()).map_err(|_| {
            fail(
                Exit::Storage,
                "cannot encrypt the store key with the passphrase",
            )
        })?;
        let cannot = |e: std::io::Error| {
            fail(
                Exit::Storage,
                format!(
                    "cannot write {} ({})",
                    path.display(),
                    crate::error::io_reason(&e)
                ),
            )
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(".identity.age.")
            .tempfile_in(&self.dir)
            .map_err(cannot)?;
        tmp.write_all(&sealed)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(cannot)?;
        match tmp.persist_noclobber(&path) {
            Ok(_) => {
                if let Ok(d) = std::fs::File::open(&self.dir) {
                    let _ = d.sync_all();
                }
                Ok(Keys {
                    identities: vec![Box::new(id)],
                    recipients: vec![Box::new(public)],
                })
            }
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => {
                // Another process made the store's key meanwhile: use that one.
                Self::sealed_identity(&self.dir, pass)?.ok_or_else(|| {
                    fail(
                        Exit::Storage,
                        format!("{} vanished while it was made", path.display()),
                    )
                })
            }
            Err(e) => Err(cannot(e.error)),
        }
    }

    /// The age file for `plain`.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let keys = self.keys(true)?;
        let Some(keys) = keys.as_ref() else {
            return Err(fail(Exit::Storage, "cannot encrypt: the store has no key"));
        };
        let enc = age::Encryptor::with_recipients(
            keys.recipients
                .iter()
                .map(|r| r.as_ref() as &dyn age::Recipient),
        )
        .map_err(|_| {
            fail(
                Exit::Storage,
                "cannot encrypt: the key has no usable recipient",
            )
        })?;
        let mut out = Vec::with_capacity(plain.len() + 256);
        let mut w = enc
            .wrap_output(&mut out)
            .map_err(|_| fail(Exit::Storage, "cannot encrypt"))?;
        w.write_all(plain)
            .and_then(|_| w.finish().map(|_| ()))
            .map_err(|_| fail(Exit::Storage, "cannot encrypt"))?;
        Ok(out)
    }

    /// The plain content of the age file `sealed` (read from `what`, for messages).
    pub fn open_file(&self, sealed: &[u8], what: &str) -> Result<Vec<u8>> {
        let changed = || {
            fail(
                Exit::Storage,
                format!("{what} is damaged: its authentication failed, so it was changed after it was written (restore it from a backup, or remove it with `mssp-token logout` and sign in again)"),
            )
        };
        let keys = self.keys(false)?;
        let Some(keys) = keys.as_ref() else {
            return Err(fail(
                Exit::Storage,
                format!("{what} cannot be opened with a passphrase: this store has no {IDENTITY_FILE}, so its profiles were encrypted to an age identity file (set MSSP_TOKEN_IDENTITY to it)"),
            ));
        };
        let dec = age::Decryptor::new(sealed).map_err(|e| match e {
            age::DecryptError::InvalidHeader | age::DecryptError::InvalidMac => changed(),
            _ => fail(
                Exit::Storage,
                format!("{what} is damaged or not an age file"),
            ),
        })?;
        let mut r = dec
            .decrypt(keys.identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => fail(
                    Exit::Storage,
                    format!("{what} was encrypted for another key than this store's (another MSSP_TOKEN_IDENTITY or passphrase?), or its header was changed"),
                ),
                _ => changed(),
            })?;
        let mut plain = Vec::new();
        r.read_to_end(&mut plain).map_err(|_| changed())?;
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_code_of;

    fn identity_vault(dir: &Path) -> Vault {
        let id = age::x25519::Identity::generate();
        let key = dir.join("key.txt");
        std::fs::write(&key, format!("{}\n", id.to_string().expose_secret())).unwrap();
        Vault::open(dir, &VaultKey::IdentityFile(key)).unwrap()
    }

    #[test]
    fn every_changed_byte_is_exit_7_naming_the_file_never_a_panic() {
        let dir = tempfile::tempdir().unwrap();
        let v = identity_vault(dir.path());
        let plain = br#"{"refresh_token":"rt-secret-value"}"#;
        let sealed = v.seal(plain).unwrap();
        assert_eq!(v.open_file(&sealed, "x.age").unwrap(), plain);
        for i in 0..sealed.len() {
            let mut bad = sealed.clone();
            bad[i] ^= 0x01;
            match v.open_file(&bad, "profile x (x.age)") {
                Ok(p) => panic!("byte {i} changed and still opened: {p:?}"),
                Err(e) => {
                    assert_eq!(exit_code_of(&e), 7, "byte {i}: {e}");
                    assert!(e.to_string().contains("profile x (x.age)"), "byte {i}: {e}");
                }
            }
        }
        // Cut short, or nothing at all.
        for n in [0, 10, sealed.len() / 2, sealed.len() - 1] {
            let e = v.open_file(&sealed[..n], "x.age").unwrap_err();
            assert_eq!(exit_code_of(&e), 7, "{n}: {e}");
        }
    }

    #[test]
    fn a_passphrase_store_makes_its_key_once_and_refuses_another_passphrase() {
        let dir = tempfile::tempdir().unwrap();
        let pass = VaultKey::Passphrase(SecretString::from("right-passphrase".to_string()));
        let v = Vault::open(dir.path(), &pass).unwrap();
        assert!(
            !dir.path().join(IDENTITY_FILE).exists(),
            "made on the first write"
        );
        let sealed = v.seal(b"{}").unwrap();
        let made = std::fs::read(dir.path().join(IDENTITY_FILE)).unwrap();
        // A second vault opened before the first wrote uses the key that was made.
        let w = Vault::open(dir.path(), &pass).unwrap();
        assert_eq!(w.open_file(&sealed, "x").unwrap(), b"{}");
        w.seal(b"{}").unwrap();
        assert_eq!(std::fs::read(dir.path().join(IDENTITY_FILE)).unwrap(), made);
        let wrong = VaultKey::Passphrase(SecretString::from("wrong-passphrase".to_string()));
        let e = Vault::open(dir.path(), &wrong).err().unwrap();
        assert_eq!(exit_code_of(&e), 7);
        assert!(e.to_string().contains("wrong passphrase"), "{e}");
        assert!(!e.to_string().contains("wrong-passphrase"), "{e}");
    }

    #[test]
    fn racing_first_writes_share_one_key() {
        let dir = tempfile::tempdir().unwrap();
        let pass = VaultKey::Passphrase(SecretString::from("race-passphrase".to_string()));
        let vaults: Vec<Vault> = (0..4)
            .map(|_| Vault::open(dir.path(), &pass).unwrap())
            .collect();
        let sealed: Vec<Vec<u8>> = std::thread::scope(|s| {
            let handles: Vec<_> = vaults
                .iter()
                .map(|v| s.spawn(move || v.seal(b"{\"n\":1}").unwrap()))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let later = Vault::open(dir.path(), &pass).unwrap();
        for s in &sealed {
            assert_eq!(later.open_file(s, "x").unwrap(), b"{\"n\":1}");
        }
    }
}
