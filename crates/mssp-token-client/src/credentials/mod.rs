//! How the app proves who it is: a client secret, a certificate (`certificate.rs`) or a
//! federated token (`federated.rs`), behind one type whose [`Credential::form_fields`] is the
//! only place a credential meets a request. Values are held as [`SecretString`] from the moment
//! they are read. Where a credential comes from (which flag, which environment variable) is the
//! caller's business: errors here name the file, and the caller adds the flag.

pub mod certificate;
pub mod federated;
pub mod secret;

pub use certificate::Certificate;
pub use federated::FederatedToken;

use crate::redacted::SecretString;
use anyhow::Result;

/// The client credential sent to the token endpoint.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(SecretString),
    Certificate(Certificate),
    Federated(FederatedToken),
    /// No credential: only public-client registrations accept this (Entra answers AADSTS7000218 otherwise).
    None,
}

/// The client_assertion_type of certificate and federated assertions.
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

impl Credential {
    pub fn describe(&self) -> String {
        match self {
            Credential::Secret(_) => "client secret".into(),
            Credential::Certificate(c) => format!(
                "certificate {} ({}, x5t#S256 {})",
                c.path.display(),
                c.subject,
                c.thumbprint_s256
            ),
            Credential::Federated(f) => format!("federated token from {}", f.path.display()),
            Credential::None => "no client credential".into(),
        }
    }

    /// A stable, secret-free name of the credential, for cache keys: the kind, and the
    /// certificate's thumbprint or the federated token's file.
    pub fn fingerprint(&self) -> String {
        match self {
            Credential::Secret(_) => "secret".to_string(),
            Credential::Certificate(c) => format!("certificate:{}", c.thumbprint_s256),
            Credential::Federated(f) => format!("federated:{}", f.path.display()),
            Credential::None => "none".to_string(),
        }
    }

    /// The form fields that authenticate the client, made fresh for each request:
    /// `client_secret` (client_secret_post), or `client_assertion_type` + `client_assertion`
    /// (a certificate assertion with a new jti and times for `token_url`, or the federated
    /// token re-read from its file), or nothing for a public client.
    pub fn form_fields(
        &self,
        client_id: &str,
        token_url: &str,
    ) -> Result<Vec<(&'static str, String)>> {
        let assertion = match self {
            Credential::None => return Ok(Vec::new()),
            Credential::Secret(s) => return Ok(vec![("client_secret", s.expose().to_string())]),
            Credential::Certificate(c) => {
                c.assertion(client_id, token_url, crate::time::now_epoch())?
            }
            Credential::Federated(f) => f
                .read()
                .map_err(|e| crate::error::at("federated token file", e))?,
        };
        Ok(vec![
            ("client_assertion_type", JWT_BEARER.to_string()),
            ("client_assertion", assertion.expose().to_string()),
        ])
    }
}
