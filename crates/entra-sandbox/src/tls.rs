//! `--tls`: a certificate authority made at start (ECDSA P-256, valid from a day ago for a
//! year, path length 0) and a server certificate it signs for localhost, 127.0.0.1 and ::1
//! (ECDSA P-256, serverAuth, with subject and authority key identifiers so that strict
//! verifiers such as OpenSSL's X509_STRICT accept it). The CA's key only ever lives in memory;
//! clients trust the CA through the PEM file the sandbox writes (info's "ca_file").
//!
//! The server side is rustls 0.23 with the ring provider, TLS 1.2 and 1.3, ALPN http/1.1.

use crate::clock;
use anyhow::{anyhow, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub struct Tls {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    pub config: Arc<rustls::ServerConfig>,
}

pub fn generate(now: u64) -> Result<Tls> {
    let now = now as i64;
    // rcgen's date for Unix seconds (whole days are enough here).
    let date = |secs: i64| {
        let (y, m, d) = clock::civil_from_days(secs.div_euclid(86_400));
        rcgen::date_time_ymd(y as i32, m as u8, d as u8)
    };
    let err = |what: &'static str| move |e: rcgen::Error| anyhow!("{what}: {e}");
    let ca_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(err("cannot generate the sandbox CA key"))?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = rcgen::DistinguishedName::new();
    ca.distinguished_name.push(
        DnType::CommonName,
        "mssp-token sandbox CA (simulated, regenerated at each start)",
    );
    ca.distinguished_name
        .push(DnType::OrganizationName, "mssp-token sandbox");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = date(now - 86_400);
    ca.not_after = date(now + 365 * 86_400);
    let ca_cert = ca
        .self_signed(&ca_key)
        .map_err(err("cannot make the sandbox CA"))?;
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .map_err(err("cannot generate the sandbox server key"))?;
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .map_err(err("cannot make the sandbox server certificate"))?;
    leaf.distinguished_name = rcgen::DistinguishedName::new();
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost (mssp-token sandbox)");
    leaf.is_ca = IsCa::ExplicitNoCa;
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    leaf.not_before = date(now - 86_400);
    leaf.not_after = date(now + 90 * 86_400);
    let leaf_cert = leaf
        .signed_by(&key, &issuer)
        .map_err(err("cannot sign the sandbox server certificate"))?;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf_cert.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .context("the sandbox server certificate")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    })
}
