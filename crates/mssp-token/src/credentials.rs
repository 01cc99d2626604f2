//! How the app proves who it is: a client secret from one of four sources, a certificate
//! (see `certificate.rs`) or a federated token (see `federated.rs`). Values are held as
//! [`SecretString`] from the moment they are read.

use crate::certificate::Certificate;
use crate::error::usage;
use crate::federated::FederatedToken;
use crate::redacted::SecretString;
use anyhow::Result;
use std::io::BufRead;
use std::path::PathBuf;

/// The credential sources of the contract, as given on the command line.
#[derive(Debug, Default, Clone)]
pub struct SecretSources {
    pub file: Option<PathBuf>,
    pub stdin: bool,
    pub value: Option<SecretString>,
    pub certificate: Option<PathBuf>,
    pub certificate_password: Option<SecretString>,
    pub federated_token_file: Option<PathBuf>,
}

/// The client credential sent to the token endpoint.
#[derive(Debug, Clone)]
pub enum Credential {
    Secret(SecretString),
    Certificate(Certificate),
    Federated(FederatedToken),
    /// No credential: only public-client registrations accept this (Entra answers AADSTS7000218 otherwise).
    None,
}

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
}

impl Credential {
    /// The form fields that authenticate the client, made fresh for each request: a certificate
    /// assertion gets a new jti and times, a federated token is re-read from its file. A secret
    /// is set on the oauth2 client instead and adds nothing here.
    pub fn assertion_params(
        &self,
        client_id: &str,
        token_url: &str,
    ) -> Result<Vec<(&'static str, String)>> {
        const TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
        let assertion = match self {
            Credential::Secret(_) | Credential::None => return Ok(Vec::new()),
            Credential::Certificate(c) => {
                c.assertion(client_id, token_url, crate::token::now_epoch())?
            }
            Credential::Federated(f) => f.read()?,
        };
        Ok(vec![
            ("client_assertion_type", TYPE.to_string()),
            ("client_assertion", assertion.expose().to_string()),
        ])
    }
}

/// Reads the credential. Flags first (--certificate, --federated-token-file,
/// --client-secret-stdin, --client-secret-file, --client-secret; clap refuses two at once),
/// then the environment: AZURE_CLIENT_SECRET, AZURE_CLIENT_CERTIFICATE_PATH,
/// AZURE_FEDERATED_TOKEN_FILE.
pub fn resolve(src: &SecretSources) -> Result<Credential> {
    let cert_password = || -> Option<SecretString> {
        src.certificate_password.clone().or_else(|| {
            std::env::var("AZURE_CLIENT_CERTIFICATE_PASSWORD")
                .ok()
                .map(SecretString::new)
        })
    };
    if let Some(path) = &src.certificate {
        return Certificate::load(path, cert_password().as_ref()).map(Credential::Certificate);
    }
    if let Some(path) = &src.federated_token_file {
        return FederatedToken::new(path).map(Credential::Federated);
    }
    if src.stdin {
        return read_stdin().map(Credential::Secret);
    }
    if let Some(path) = &src.file {
        return read_file(path).map(Credential::Secret);
    }
    if let Some(v) = &src.value {
        crate::log::warn(
            "--client-secret puts the secret in the process list, visible to other users of this machine; prefer AZURE_CLIENT_SECRET or --client-secret-file",
        );
        if v.expose().trim().is_empty() {
            return Err(usage("--client-secret is empty"));
        }
        return Ok(Credential::Secret(SecretString::new(v.expose().trim())));
    }
    match std::env::var("AZURE_CLIENT_SECRET") {
        Ok(v) if !v.trim().is_empty() => {
            return Ok(Credential::Secret(SecretString::new(v.trim())))
        }
        Ok(_) => {
            return Err(usage(
                "AZURE_CLIENT_SECRET is set but empty; set it to the client secret's value, or unset it",
            ))
        }
        Err(_) => {}
    }
    if let Some(path) = std::env::var_os("AZURE_CLIENT_CERTIFICATE_PATH").filter(|p| !p.is_empty())
    {
        return Certificate::load(std::path::Path::new(&path), cert_password().as_ref())
            .map(Credential::Certificate);
    }
    if let Some(path) = std::env::var_os("AZURE_FEDERATED_TOKEN_FILE").filter(|p| !p.is_empty()) {
        return FederatedToken::new(std::path::Path::new(&path)).map(Credential::Federated);
    }
    Ok(Credential::None)
}

fn read_file(path: &PathBuf) -> Result<SecretString> {
    let meta = std::fs::metadata(path).map_err(|e| {
        usage(format!(
            "--client-secret-file {}: cannot read it ({})",
            path.display(),
            io_reason(&e)
        ))
    })?;
    if !meta.is_file() {
        return Err(usage(format!(
            "--client-secret-file {}: not a regular file",
            path.display()
        )));
    }
    if meta.len() > 64 * 1024 {
        return Err(usage(format!(
            "--client-secret-file {}: {} bytes is far too large for a client secret; is it the right file?",
            path.display(),
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        usage(format!(
            "--client-secret-file {}: cannot read it ({})",
            path.display(),
            io_reason(&e)
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|_| {
        usage(format!(
            "--client-secret-file {}: not UTF-8 text",
            path.display()
        ))
    })?;
    let secret = text.trim_end_matches(['\n', '\r']).trim();
    if secret.is_empty() {
        return Err(usage(format!(
            "--client-secret-file {}: the file is empty; put the client secret's value in it",
            path.display()
        )));
    }
    warn_if_shared(path, &meta);
    Ok(SecretString::new(secret))
}

#[cfg(unix)]
fn warn_if_shared(path: &std::path::Path, meta: &std::fs::Metadata) {
    use std::os::unix::fs::PermissionsExt;
    if meta.permissions().mode() & 0o077 != 0 {
        crate::log::warn(&format!(
            "{} can be read by other users (mode {:o}); chmod 600 it",
            path.display(),
            meta.permissions().mode() & 0o777
        ));
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &std::path::Path, _meta: &std::fs::Metadata) {}

fn read_stdin() -> Result<SecretString> {
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).map_err(|e| {
        usage(format!(
            "--client-secret-stdin: cannot read standard input ({e})"
        ))
    })?;
    let secret = line.trim_end_matches(['\n', '\r']).trim();
    if secret.is_empty() {
        return Err(usage(
            "--client-secret-stdin: standard input was empty; pipe the secret in, e.g. `pass show mssp/app | mssp-token ... --client-secret-stdin`",
        ));
    }
    Ok(SecretString::new(secret))
}

pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_secret_is_trimmed_and_empty_file_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "abc-secret-value\n").unwrap();
        let src = SecretSources {
            file: Some(p.clone()),
            ..Default::default()
        };
        match resolve(&src).unwrap() {
            Credential::Secret(s) => assert_eq!(s.expose(), "abc-secret-value"),
            other => panic!("{other:?}"),
        }
        std::fs::write(&p, "\n").unwrap();
        let e = resolve(&src).unwrap_err().to_string();
        assert!(e.contains("empty"), "{e}");
        let missing = SecretSources {
            file: Some(dir.path().join("nope")),
            ..Default::default()
        };
        let e = resolve(&missing).unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
    }
}
