//! App certificates: the self-signed certificate the sandbox makes for its main app (DER built
//! by hand, signed sha256WithRSAEncryption), and registered certificates read back from DER
//! (thumbprints, RSA public key, validity), with a minimal DER reader.

use crate::clock;
use crate::crypto::keys::b64url;
use anyhow::{anyhow, bail, Context, Result};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{DecodePublicKey, EncodePublicKey};
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use std::path::Path;

/// A certificate registered on an app (Entra's keyCredentials entry).
#[derive(Debug, Clone)]
pub struct AppCert {
    pub der: Vec<u8>,
    /// base64url(SHA-256(DER)): the `x5t#S256` header value.
    pub s256: String,
    /// base64url(SHA-1(DER)): the legacy `x5t` header value.
    pub sha1: String,
    /// Upper-case hex SHA-1, as the Azure portal shows the thumbprint.
    pub sha1_hex: String,
    pub key: RsaPublicKey,
    pub not_before: i64,
    pub not_after: i64,
}

pub fn sha1(der: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    let mut out = [0u8; 20];
    out.copy_from_slice(&sha1::Sha1::digest(der));
    out
}

impl AppCert {
    pub fn from_der(der: &[u8]) -> Result<AppCert> {
        let (not_before, not_after, spki) =
            parse_certificate(der).ok_or_else(|| anyhow!("not a DER X.509 certificate"))?;
        let key = RsaPublicKey::from_public_key_der(spki).map_err(|_| {
            anyhow!("the certificate's key is not RSA (Entra app certificates are RSA)")
        })?;
        let sha1 = sha1(der);
        Ok(AppCert {
            der: der.to_vec(),
            s256: b64url(&Sha256::digest(der)),
            sha1: b64url(&sha1),
            sha1_hex: sha1.iter().map(|b| format!("{b:02X}")).collect(),
            key,
            not_before,
            not_after,
        })
    }

    /// Every CERTIFICATE block of a PEM text, or of the PEM file `entry` names (a relative
    /// path is taken from `base`, the config file's folder).
    pub fn load(entry: &str, base: Option<&Path>) -> Result<Vec<AppCert>> {
        let text = if entry.contains("-----BEGIN") {
            entry.to_string()
        } else {
            let p = Path::new(entry);
            let p = match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p.to_path_buf(),
            };
            std::fs::read_to_string(&p)
                .with_context(|| format!("cannot read certificate file {}", p.display()))?
        };
        let blocks = pem::parse_many(text.as_bytes()).map_err(|_| anyhow!("not valid PEM"))?;
        let certs: Vec<AppCert> = blocks
            .iter()
            .filter(|b| b.tag() == "CERTIFICATE")
            .map(|b| AppCert::from_der(b.contents()))
            .collect::<Result<_>>()?;
        if certs.is_empty() {
            bail!("no -----BEGIN CERTIFICATE----- block");
        }
        Ok(certs)
    }

    pub fn pem(&self) -> String {
        pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
    }
}

// ---- DER writing ---------------------------------------------------------------------------

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// sha256WithRSAEncryption, NULL parameters.
const SHA256_RSA: [u8; 15] = [
    0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
];

/// Name ::= SEQUENCE { SET { SEQUENCE { id-at-commonName, UTF8String } } }
fn name(cn: &str) -> Vec<u8> {
    let atv = seq(&[vec![0x06, 0x03, 0x55, 0x04, 0x03], tlv(0x0c, cn.as_bytes())]);
    seq(&[tlv(0x31, &atv)])
}

/// A self-signed X.509 v3 certificate for `key` (CN=`cn`), valid `[not_before, not_after]`,
/// with basicConstraints CA:FALSE and keyUsage digitalSignature (both critical).
pub fn self_signed(
    key: &RsaPrivateKey,
    cn: &str,
    not_before: i64,
    not_after: i64,
) -> Result<Vec<u8>> {
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .context("cannot encode the public key")?;
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut serial);
    serial[0] = (serial[0] & 0x7f) | 0x40; // positive, minimal encoding
    let time = |t: i64| {
        let (tag, s) = clock::x509_time(t);
        tlv(tag, s.as_bytes())
    };
    let basic_constraints = seq(&[
        vec![0x06, 0x03, 0x55, 0x1d, 0x13],
        vec![0x01, 0x01, 0xff],
        tlv(0x04, &seq(&[])),
    ]);
    let key_usage = seq(&[
        vec![0x06, 0x03, 0x55, 0x1d, 0x0f],
        vec![0x01, 0x01, 0xff],
        tlv(0x04, &[0x03, 0x02, 0x07, 0x80]),
    ]);
    let tbs = seq(&[
        tlv(0xa0, &[0x02, 0x01, 0x02]),
        tlv(0x02, &serial),
        SHA256_RSA.to_vec(),
        name(cn),
        seq(&[time(not_before), time(not_after)]),
        name(cn),
        spki.as_bytes().to_vec(),
        tlv(0xa3, &seq(&[basic_constraints, key_usage])),
    ]);
    let sig = SigningKey::<Sha256>::new(key.clone()).sign(&tbs).to_vec();
    let mut bits = vec![0u8];
    bits.extend(sig);
    Ok(seq(&[tbs, SHA256_RSA.to_vec(), tlv(0x03, &bits)]))
}

// ---- DER reading ---------------------------------------------------------------------------

/// One TLV: (tag, content, the whole encoding, what follows).
type Tlv<'a> = (u8, &'a [u8], &'a [u8], &'a [u8]);

/// Reads one TLV. Definite lengths only.
fn read(buf: &[u8]) -> Option<Tlv<'_>> {
    let tag = *buf.first()?;
    let first = *buf.get(1)?;
    let (len, hdr) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for b in buf.get(2..2 + n)? {
            len = (len << 8) | usize::from(*b);
        }
        (len, 2 + n)
    };
    let end = hdr.checked_add(len)?;
    Some((tag, buf.get(hdr..end)?, buf.get(..end)?, buf.get(end..)?))
}

/// (notBefore, notAfter, SubjectPublicKeyInfo DER) of a certificate.
fn parse_certificate(der: &[u8]) -> Option<(i64, i64, &[u8])> {
    let (tag, cert, _, rest) = read(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (tag, tbs, _, _) = read(cert)?;
    if tag != 0x30 {
        return None;
    }
    let mut cur = tbs;
    let mut next = |want: u8| -> Option<(&[u8], &[u8])> {
        let (tag, content, whole, rest) = read(cur)?;
        cur = rest;
        (tag == want).then_some((content, whole))
    };
    if tbs.first() == Some(&0xa0) {
        next(0xa0)?; // version
    }
    next(0x02)?; // serialNumber
    next(0x30)?; // signature
    next(0x30)?; // issuer
    let (validity, _) = next(0x30)?;
    next(0x30)?; // subject
    let (_, spki) = next(0x30)?;
    let (t1, nb, _, rest) = read(validity)?;
    let (t2, na, _, _) = read(rest)?;
    Some((
        clock::parse_x509_time(t1, nb)?,
        clock::parse_x509_time(t2, na)?,
        spki,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_parses_everywhere() {
        let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
        let der = self_signed(
            &key,
            "mssp-token sandbox test",
            1_700_000_000,
            1_800_000_000,
        )
        .unwrap();
        let c = AppCert::from_der(&der).unwrap();
        assert_eq!((c.not_before, c.not_after), (1_700_000_000, 1_800_000_000));
        assert_eq!(c.key, key.to_public_key());
        assert_eq!(c.sha1_hex.len(), 40);
        // An independent X.509 parser (x509-parser, inside p12-keystore) accepts it too.
        let parsed = p12_keystore::Certificate::from_der(&der).unwrap();
        assert_eq!(parsed.subject(), "CN=mssp-token sandbox test");
        let again = AppCert::load(&c.pem(), None).unwrap();
        assert_eq!(again[0].s256, c.s256);
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        for bad in [
            &b""[..],
            &[0x30],
            &[0x30, 0x85, 1, 1, 1, 1, 1],
            &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
            &[0x30, 0x00],
            &[0x30, 0x02, 0x30, 0x00],
        ] {
            assert!(AppCert::from_der(bad).is_err());
        }
        assert!(AppCert::load(
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            None
        )
        .is_err());
        assert!(AppCert::load("/nonexistent/cert.pem", None).is_err());
    }
}
