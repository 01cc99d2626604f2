//! Files the sandbox hands to clients, in a private temporary folder (mode 0700, files 0600,
//! removed when the sandbox is dropped): the main app's certificate as cert.pem (CERTIFICATE +
//! unencrypted PKCS#8 PRIVATE KEY) and cert.pfx (PKCS#12, password in pfx-password.txt), and
//! federated-token.jwt (an external token valid one hour from start), and with `--tls` the
//! CA certificate ca.pem.
//!
//! A process that ends without dropping its sandbox (killed, or `std::process::exit`) leaves its
//! folder behind; each folder names its owner in `owner.pid`, and every start removes the
//! folders of owners that are gone (Unix).

use crate::crypto::certs::{self, AppCert};
use crate::crypto::keys::{random_token, Keys};
use crate::data::config::FIC_AUDIENCE;
use crate::handlers::federation;
use anyhow::{anyhow, Context, Result};
use rsa::pkcs8::{EncodePrivateKey, LineEnding};
use rsa::RsaPrivateKey;
use std::io::Write;
use std::path::{Path, PathBuf};

const PREFIX: &str = "mssp-token-sandbox-";

/// Common name of the generated certificate.
pub const CERT_CN: &str = "mssp-token sandbox (MSSP SIEM Connector)";

pub struct Artifacts {
    /// Removes the folder on drop.
    _dir: tempfile::TempDir,
    pub cert_pem: PathBuf,
    pub pfx: PathBuf,
    pub pfx_password: String,
    pub pfx_password_file: PathBuf,
    pub federated_token_file: PathBuf,
    pub federated_issuer: String,
    pub federated_subject: String,
    /// The generated certificate (registered on the main app).
    pub cert: AppCert,
}

impl Artifacts {
    pub fn create(
        cert_key: &RsaPrivateKey,
        oidc: &Keys,
        authority: &str,
        subject: &str,
        now: i64,
    ) -> Result<Artifacts> {
        let der = certs::self_signed(cert_key, CERT_CN, now - 3600, now + 365 * 86_400)?;
        let cert = AppCert::from_der(&der)?;
        sweep_stale(&std::env::temp_dir());
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir()
            .context("cannot create the sandbox's temporary folder")?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700))
                .context("cannot make the sandbox's temporary folder private")?;
        }
        write_private(
            &dir.path().join("owner.pid"),
            std::process::id().to_string().as_bytes(),
        )?;
        let key_pem = cert_key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| anyhow!("cannot encode the certificate's key: {e}"))?;
        let cert_pem = dir.path().join("cert.pem");
        write_private(
            &cert_pem,
            format!("{}{}", cert.pem(), key_pem.as_str()).as_bytes(),
        )?;

        let pfx_password = random_token(12);
        let key_der = cert_key
            .to_pkcs8_der()
            .map_err(|e| anyhow!("cannot encode the certificate's key: {e}"))?;
        let pfx = dir.path().join("cert.pfx");
        write_private(&pfx, &pkcs12(&der, key_der.as_bytes(), &pfx_password)?)?;
        let pfx_password_file = dir.path().join("pfx-password.txt");
        write_private(&pfx_password_file, format!("{pfx_password}\n").as_bytes())?;

        let federated_issuer = federation::issuer_url(authority);
        let token =
            federation::external_token(oidc, &federated_issuer, subject, FIC_AUDIENCE, 3600, now);
        let federated_token_file = dir.path().join("federated-token.jwt");
        write_private(&federated_token_file, token.as_bytes())?;
        Ok(Artifacts {
            _dir: dir,
            cert_pem,
            pfx,
            pfx_password,
            pfx_password_file,
            federated_token_file,
            federated_issuer,
            federated_subject: subject.to_string(),
            cert,
        })
    }
}

impl Artifacts {
    /// Adds a file (mode 0600) to the private folder; returns its path.
    pub fn add_file(&self, name: &str, bytes: &[u8]) -> Result<PathBuf> {
        let path = self._dir.path().join(name);
        write_private(&path, bytes)?;
        Ok(path)
    }
}

/// A PKCS#12 file holding the key and its certificate (PBES2/AES-256, HMAC-SHA256).
fn pkcs12(cert_der: &[u8], key_pkcs8: &[u8], password: &str) -> Result<Vec<u8>> {
    let cert = p12_keystore::Certificate::from_der(cert_der)
        .map_err(|e| anyhow!("cannot read the generated certificate: {e:?}"))?;
    let key = p12_keystore::PrivateKey::from_der(key_pkcs8)
        .map_err(|e| anyhow!("cannot read the generated key: {e:?}"))?;
    let local_key_id = certs::sha1(cert_der).to_vec();
    let chain = p12_keystore::PrivateKeyChain::new(local_key_id, key, [cert]);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "mssp-token-sandbox",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(chain),
    );
    store
        .writer(password)
        .write()
        .map_err(|e| anyhow!("cannot write the PKCS#12 file: {e:?}"))
}

/// Creates `path` readable by the owner only, with `bytes`.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Removes sandbox folders in `tmp` whose owner process no longer exists. Only our own
/// folders (same user, not symlinks) with a readable `owner.pid` are considered.
fn sweep_stale(tmp: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let Ok(entries) = std::fs::read_dir(tmp) else {
            return;
        };
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        for e in entries.flatten() {
            if !e.file_name().to_string_lossy().starts_with(PREFIX) {
                continue;
            }
            let path = e.path();
            let Ok(meta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if !meta.is_dir() || meta.uid() != me {
                continue;
            }
            let owner = std::fs::read_to_string(path.join("owner.pid"))
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok());
            if let Some(pid) = owner {
                if pid > 1 && !process_alive(pid) {
                    let _ = std::fs::remove_dir_all(&path);
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = tmp;
}

#[cfg(unix)]
fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists; pid > 1 never names a group.
    let r = unsafe { libc::kill(pid, 0) };
    r == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn stale_folders_of_dead_owners_are_swept() {
        let tmp = tempfile::tempdir().unwrap();
        let mk = |name: &str, pid: Option<&str>| {
            let d = tmp.path().join(name);
            std::fs::create_dir(&d).unwrap();
            if let Some(p) = pid {
                std::fs::write(d.join("owner.pid"), p).unwrap();
            }
            d
        };
        // A pid far above any real one (Linux pid_max is at most 2^22).
        let dead = mk("mssp-token-sandbox-dead", Some("2000000000"));
        let live = mk(
            "mssp-token-sandbox-live",
            Some(&std::process::id().to_string()),
        );
        let unknown = mk("mssp-token-sandbox-nopid", None);
        let group = mk("mssp-token-sandbox-group", Some("0"));
        let other = mk("something-else", Some("2000000000"));
        sweep_stale(tmp.path());
        assert!(!dead.exists());
        assert!(live.exists() && unknown.exists() && group.exists() && other.exists());
    }
}
