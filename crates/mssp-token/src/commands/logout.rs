//! `mssp-token logout --profile NAME`: deletes the profile's stored credential. Revoking the
//! session in Entra (so that a copy of the refresh token stops working too) is an admin action
//! in the customer's tenant, and the message says so.

use crate::args;
use crate::cli::LogoutArgs;
use anyhow::Result;
use mssp_token_client::store::TokenStore;

pub fn run(a: LogoutArgs) -> Result<()> {
    let name = args::profile_name(&a.profile)?;
    let store = args::profiles(&a.store)?;
    // An unknown name takes no lock (and leaves no lock file behind).
    if !store.exists(&name) {
        return Err(store.unknown(&name));
    }
    let location = store.location(&name);
    // Offline, and readable even when the profile itself is damaged.
    let summary = store.summary(&name).ok();
    let _lock = store.lock(&name)?;
    if !store.delete(&name)? {
        // Deleted meanwhile by another process.
        return Err(store.unknown(&name));
    }
    let tenant = summary
        .as_ref()
        .and_then(|s| s["tenant_id"].as_str())
        .map(|t| format!("tenant {}", mssp_token_client::authority::printable(t)))
        .unwrap_or_else(|| "the customer's tenant".to_string());
    mssp_token_client::info!(
        "Deleted {location}.\nIts refresh token is gone from this machine, but Entra keeps it valid until it expires: revoking it is a separate admin action. An admin of {tenant} revokes the user's sessions (Entra admin center > Users > the user > Revoke sessions, or `Revoke-MgUserSignInSession -UserId <user>`)."
    );
    Ok(())
}
