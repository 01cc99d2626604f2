//! Client authentication by a federated token (workload identity): an external JWT, e.g. a
//! GitHub Actions OIDC token with audience api://AzureADTokenExchange, read from its file for
//! every request because the platform rotates it.

use crate::error::io_reason;
use crate::error::usage;
use crate::redacted::SecretString;
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct FederatedToken {
    pub path: PathBuf,
}

impl FederatedToken {
    pub fn new(path: &Path) -> Result<FederatedToken> {
        let f = FederatedToken {
            path: path.to_path_buf(),
        };
        f.read()?; // fail early, with a clear message
        Ok(f)
    }

    /// The current token from the file.
    pub fn read(&self) -> Result<SecretString> {
        let shown = self.path.display();
        let text = std::fs::read_to_string(&self.path)
            .map_err(|e| usage(format!("{shown}: cannot read it ({})", io_reason(&e))))?;
        let token = text.trim();
        if token.is_empty() {
            return Err(usage(format!("{shown}: the file is empty")));
        }
        if token.split('.').count() != 3 {
            return Err(usage(format!(
                "{shown}: the file does not hold a JWT (three dot-separated parts)"
            )));
        }
        Ok(SecretString::new(token))
    }
}
