//! `mssp-token logout --profile NAME`: deletes the profile's stored credential. Revoking the
//! session in Entra (so that a copy of the refresh token stops working too) is an admin action
//! in the customer's tenant, and the message says so.

use crate::args;
use crate::cli::LogoutArgs;
use anyhow::Result;
use mssp_token_client::error::{fail, Exit};
use mssp_token_client::store::TokenStore;

pub fn run(a: LogoutArgs) -> Result<()> {
    let name = args::profile_name(&a.profile)?;
    let store = args::profiles(&a.store)?;
    let location = store.location(&name);
    let summary = store.summary(&name).ok();
    let _lock = store.lock(&name)?;
    if !store.delete(&name)? {
        let have = store.names().unwrap_or_default();
        return Err(fail(
            Exit::Storage,
            format!(
                "no profile named {name} in the {} store ({}){}",
                store.kind().name(),
                store.dir().display(),
                if have.is_empty() {
                    String::new()
                } else {
                    format!("; it has: {}", have.join(", "))
                }
            ),
        ));
    }
    let tenant = summary
        .as_ref()
        .and_then(|s| s["tenant_id"].as_str())
        .unwrap_or("the customer's tenant")
        .to_string();
    mssp_token_client::info!(
        "Deleted profile {name} ({location}). Its refresh token is gone from this machine, but it stays valid in Entra until it expires: to revoke it, an admin of {tenant} revokes the user's sessions (Entra admin center > Users > Revoke sessions, or `Revoke-MgUserSignInSession`)."
    );
    Ok(())
}
