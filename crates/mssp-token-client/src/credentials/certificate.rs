//! Client authentication by certificate: a PEM file (certificate + private key) or a PFX with
//! its password, signing a PS256 client assertion with `x5t#S256`, as Entra expects.

use crate::error::usage;
use crate::redacted::SecretString;
use anyhow::Result;
use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// How long an assertion is valid: Entra accepts 5 to 10 minutes.
const ASSERTION_LIFETIME: u64 = 600;

/// A loaded certificate credential.
#[derive(Clone)]
pub struct Certificate {
    pub path: PathBuf,
    /// base64url(SHA-256(certificate DER)): the `x5t#S256` header.
    pub thumbprint_s256: String,
    pub subject: String,
    key: EncodingKey,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificate")
            .field("path", &self.path)
            .field("thumbprint_s256", &self.thumbprint_s256)
            .field("key", &"(redacted)")
            .finish()
    }
}

impl Certificate {
    /// Loads a PEM (CERTIFICATE + PRIVATE KEY / RSA PRIVATE KEY blocks) or a PFX/P12 file.
    pub fn load(path: &Path, password: Option<&SecretString>) -> Result<Certificate> {
        let shown = path.display();
        let bytes = std::fs::read(path).map_err(|e| {
            usage(format!(
                "{shown}: cannot read it ({})",
                crate::error::io_reason(&e)
            ))
        })?;
        if bytes.is_empty() {
            return Err(usage(format!("{shown}: the file is empty")));
        }
        let looks_pem = bytes.windows(11).any(|w| w == b"-----BEGIN ");
        let (cert_der, key_pem) = if looks_pem {
            from_pem(&bytes, &shown.to_string())?
        } else {
            from_pfx(&bytes, password, &shown.to_string())?
        };
        let parsed = p12_keystore::Certificate::from_der(&cert_der)
            .map_err(|_| usage(format!("{shown}: the certificate is not valid X.509 DER")))?;
        let key = EncodingKey::from_rsa_pem(key_pem.expose().as_bytes()).map_err(|_| {
            usage(format!(
                "{shown}: the private key is not an unencrypted RSA key (Entra app certificates are RSA); export it with `openssl pkcs12 -in cert.pfx -nodes` or give the PFX with --certificate-password"
            ))
        })?;
        let thumbprint_s256 =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(&cert_der));
        Ok(Certificate {
            path: path.to_path_buf(),
            thumbprint_s256,
            subject: parsed.subject().to_string(),
            key,
        })
    }

    /// A fresh client assertion for `audience` (the token endpoint URL): PS256, x5t#S256,
    /// iss = sub = client ID, a new jti, valid ten minutes.
    pub fn assertion(&self, client_id: &str, audience: &str, now: u64) -> Result<SecretString> {
        let mut header = Header::new(Algorithm::PS256);
        header.typ = Some("JWT".into());
        header.x5t_s256 = Some(self.thumbprint_s256.clone());
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": now,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME,
        });
        let jwt = jsonwebtoken::encode(&header, &claims, &self.key).map_err(|e| {
            crate::error::fail(
                crate::error::Exit::Internal,
                format!(
                    "cannot sign the client assertion with {}: {e}",
                    self.path.display()
                ),
            )
        })?;
        Ok(SecretString::new(jwt))
    }
}

fn from_pem(bytes: &[u8], shown: &str) -> Result<(Vec<u8>, SecretString)> {
    let blocks =
        pem::parse_many(bytes).map_err(|_| usage(format!("{shown}: not a valid PEM file")))?;
    let cert = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .ok_or_else(|| {
            usage(format!(
                "{shown}: no -----BEGIN CERTIFICATE----- block; the PEM must hold the certificate and its private key"
            ))
        })?;
    if blocks.iter().any(|b| b.tag() == "ENCRYPTED PRIVATE KEY") {
        return Err(usage(format!(
            "{shown}: the private key is encrypted; decrypt it (openssl pkey -in key.pem -out plain.pem) or use a PFX with --certificate-password"
        )));
    }
    let key = blocks
        .iter()
        .find(|b| b.tag() == "PRIVATE KEY" || b.tag() == "RSA PRIVATE KEY")
        .ok_or_else(|| {
            usage(format!(
                "{shown}: no private key block (-----BEGIN PRIVATE KEY-----); the PEM must hold the certificate and its private key"
            ))
        })?;
    Ok((
        cert.contents().to_vec(),
        SecretString::new(pem::encode(key)),
    ))
}

fn from_pfx(
    bytes: &[u8],
    password: Option<&SecretString>,
    shown: &str,
) -> Result<(Vec<u8>, SecretString)> {
    let pw = password.map(|p| p.expose()).unwrap_or("");
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, pw, p12_keystore::Pkcs12ImportPolicy::Relaxed)
        .map_err(|_| {
            usage(format!(
                "{shown}: cannot open it as PFX/PKCS#12: not a PFX file, or the password is wrong (--certificate-password / AZURE_CLIENT_CERTIFICATE_PASSWORD)"
            ))
        })?;
    let (_, chain) = store.private_key_chain().ok_or_else(|| {
        usage(format!(
            "{shown}: the PFX holds no private key with its certificate"
        ))
    })?;
    let cert = chain.certs().first().ok_or_else(|| {
        usage(format!(
            "{shown}: the PFX holds no certificate for its private key"
        ))
    })?;
    let key_pem = pem::encode(&pem::Pem::new("PRIVATE KEY", chain.key().as_der().to_vec()));
    Ok((cert.as_der().to_vec(), SecretString::new(key_pem)))
}
