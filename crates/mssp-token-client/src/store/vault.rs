//! The encrypted store's key: the age format (https://age-encryption.org), so that the files
//! can be opened with the standard `age`/`rage` tools, the same key in hand.
//!
//! Two ways to hold the key:
//! - an age identity file (`MSSP_TOKEN_IDENTITY`, e.g. `age-keygen -o key.txt`): the profiles are
//!   encrypted to its recipients (`age -d -i key.txt NAME.age` opens one);
//! - a passphrase (`MSSP_TOKEN_PASSPHRASE` or `--passphrase-file`): the vault makes an X25519
//!   identity once and keeps it in `identity.age`, encrypted with the passphrase (scrypt, about a
//!   second of work); profiles are encrypted to that identity, so a run pays for the passphrase
//!   once however many profiles it opens (`age -d identity.age > key.txt`, then as above).
//!
//! A wrong passphrase, a file encrypted for another key and a tampered file are told apart where
//! age allows it; none of them is a panic, and nothing of the secret appears in a message.

use crate::error::{fail, Exit};
use age::secrecy::{ExposeSecret, SecretString};
use anyhow::Result;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Where the key comes from.
pub enum VaultKey {
    Passphrase(SecretString),
    /// An age identity file.
    IdentityFile(PathBuf),
}

impl VaultKey {
    /// From the environment: MSSP_TOKEN_IDENTITY (a file), else MSSP_TOKEN_PASSPHRASE, else the
    /// file `passphrase_file`; `None` when none is given.
    pub fn from_env(passphrase_file: Option<&Path>) -> Result<Option<VaultKey>> {
        if let Some(p) = passphrase_file {
            let text = crate::store::paths::read_regular(p).map_err(|e| {
                e.context(fail(
                    Exit::Storage,
                    format!("cannot read the passphrase file {}", p.display()),
                ))
            })?;
            let text = String::from_utf8(text).map_err(|_| {
                fail(
                    Exit::Usage,
                    format!("the passphrase file {} is not UTF-8 text", p.display()),
                )
            })?;
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

    fn passphrase(pass: String, source: &str) -> Result<VaultKey> {
        if pass.chars().count() < 8 {
            return Err(fail(
                Exit::Usage,
                format!("the passphrase from {source} is shorter than 8 characters; choose a longer one"),
            ));
        }
        crate::redacted::register(&pass);
        Ok(VaultKey::Passphrase(SecretString::from(pass)))
    }
}

/// An opened vault: what encrypts and decrypts the profiles.
pub struct Vault {
    identities: Vec<Box<dyn age::Identity + Send + Sync>>,
    /// Behind a mutex: age's recipients are Send but not Sync.
    recipients: std::sync::Mutex<Vec<Box<dyn age::Recipient + Send>>>,
}

/// The file in the vault folder that holds the passphrase-protected identity.
pub const IDENTITY_FILE: &str = "identity.age";

impl Vault {
    /// Opens the vault in `dir` with `key`; with a passphrase and no identity yet, makes one.
    pub fn open(dir: &Path, key: &VaultKey) -> Result<Vault> {
        match key {
            VaultKey::IdentityFile(path) => Self::from_identity_file(path),
            VaultKey::Passphrase(pass) => Self::from_passphrase(dir, pass),
        }
    }

    fn from_identity_file(path: &Path) -> Result<Vault> {
        let text = crate::store::paths::read_regular(path).map_err(|e| {
            e.context(fail(
                Exit::Storage,
                format!(
                    "cannot read the age identity file {} (MSSP_TOKEN_IDENTITY)",
                    path.display()
                ),
            ))
        })?;
        Self::from_identity_text(&text, &path.display().to_string())
    }

    fn from_identity_text(text: &[u8], what: &str) -> Result<Vault> {
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
        Ok(Vault {
            identities,
            recipients: std::sync::Mutex::new(recipients),
        })
    }

    fn from_passphrase(dir: &Path, pass: &SecretString) -> Result<Vault> {
        let path = dir.join(IDENTITY_FILE);
        let existing = match std::fs::symlink_metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            _ => Some(crate::store::paths::read_regular(&path)?),
        };
        match existing {
            Some(sealed) => {
                let id = age::scrypt::Identity::new(pass.clone());
                let text = age::decrypt(&id, &sealed).map_err(|e| match e {
                    age::DecryptError::DecryptionFailed
                    | age::DecryptError::KeyDecryptionFailed
                    | age::DecryptError::NoMatchingKeys => fail(
                        Exit::Storage,
                        format!(
                            "wrong passphrase for the encrypted store {} (the one that made {IDENTITY_FILE})",
                            dir.display()
                        ),
                    ),
                    age::DecryptError::ExcessiveWork { .. } => fail(
                        Exit::Storage,
                        format!("{} asks for too much scrypt work to open; it was not made by mssp-token", path.display()),
                    ),
                    _ => fail(
                        Exit::Storage,
                        format!("{} is damaged or not an age file", path.display()),
                    ),
                })?;
                Self::from_identity_text(&text, &path.display().to_string())
            }
            None => {
                let id = age::x25519::Identity::generate();
                let public = id.to_public();
                let text = format!(
                    "# mssp-token encrypted store key\n# public key: {public}\n{}\n",
                    id.to_string().expose_secret()
                );
                let recipient = age::scrypt::Recipient::new(pass.clone());
                let sealed = age::encrypt(&recipient, text.as_bytes()).map_err(|_| {
                    fail(
                        Exit::Storage,
                        "cannot encrypt the store key with the passphrase",
                    )
                })?;
                crate::store::file::write_atomic(&path, &sealed)?;
                Ok(Vault {
                    identities: vec![Box::new(id)],
                    recipients: std::sync::Mutex::new(vec![Box::new(public)]),
                })
            }
        }
    }

    /// The age file for `plain`.
    pub fn seal(&self, plain: &[u8]) -> Result<Vec<u8>> {
        let recipients = self.recipients.lock().unwrap_or_else(|p| p.into_inner());
        let enc = age::Encryptor::with_recipients(
            recipients.iter().map(|r| r.as_ref() as &dyn age::Recipient),
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
        let dec = age::Decryptor::new(sealed).map_err(|_| {
            fail(
                Exit::Storage,
                format!("{what} is damaged or not an age file"),
            )
        })?;
        let mut r = dec
            .decrypt(self.identities.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => fail(
                    Exit::Storage,
                    format!("{what} was encrypted for another key than this store's (another MSSP_TOKEN_IDENTITY or passphrase?)"),
                ),
                _ => fail(
                    Exit::Storage,
                    format!("{what} is damaged (its authentication failed): it was changed after it was written"),
                ),
            })?;
        let mut plain = Vec::new();
        r.read_to_end(&mut plain).map_err(|_| {
            fail(
                Exit::Storage,
                format!("{what} is damaged (its authentication failed): it was changed after it was written"),
            )
        })?;
        Ok(plain)
    }
}
