//! Redeeming a saved refresh token (optionally for another resource or scope) and writing the
//! rotated refresh token back to the same store entry, atomically, under the entry's lock.

use crate::entra::{EntraClient, EntraError};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::store::TokenStore;
use crate::token::{Target, TokenSet};
use anyhow::Result;

/// Reads the saved set at `key`; its refresh token is required.
pub fn load(store: &dyn TokenStore, key: &str) -> Result<(TokenSet, String)> {
    let saved = store.get(key)?.ok_or_else(|| {
        fail(
            Exit::Storage,
            format!("{}: nothing saved there", store.location(key)),
        )
    })?;
    let rt = saved.refresh_token.clone().ok_or_else(|| {
        usage(format!(
            "{}: the file holds no refresh_token (app-only tokens have none; sign in with `mssp-token login --save FILE` to get one)",
            store.location(key)
        ))
    })?;
    crate::redacted::register(&rt);
    Ok((saved, rt))
}

/// Under the entry's lock: re-reads the saved set (another process may have rotated it
/// meanwhile), redeems its refresh token for `id.target` (with `offline_access` on v2, so that
/// Entra rotates it), checks the tenant, keeps the old refresh token if Entra sent none, writes
/// the new set back to `key` and returns it.
pub async fn redeem(
    http: &Http,
    id: &Identity,
    store: &dyn TokenStore,
    key: &str,
) -> Result<TokenSet> {
    let _lock = store.lock(key)?;
    let (saved, refresh_token) = load(store, key)?;
    let saved = &saved;
    let target = id.target.clone().with_scopes(&["offline_access"]);
    let tenant_id = saved.tenant_id.to_ascii_lowercase();
    let entra = EntraClient::new(http, id);
    let mut set = match entra.refresh_token(&target, &refresh_token).await {
        Ok(set) => set,
        Err(e) => return Err(explain_dead(e, saved, &target, store, key)),
    };
    crate::checks::tenant_matches(&set, &tenant_id, &tenant_id)?;
    if set.refresh_token.is_none() {
        // Entra always rotates; keep the old one rather than lose it.
        crate::warn!("Entra returned no new refresh token; keeping the old one in the file");
        set.refresh_token = saved.refresh_token.clone();
    }
    store.put(key, &set)?;
    crate::info!(
        "Refreshed; the new refresh token is saved in {} (the old one no longer works).",
        store.location(key)
    );
    Ok(set)
}

/// A dead refresh token gets the exact `login` command that replaces it.
fn explain_dead(
    e: anyhow::Error,
    saved: &TokenSet,
    target: &Target,
    store: &dyn TokenStore,
    key: &str,
) -> anyhow::Error {
    let dead = e
        .chain()
        .find_map(|c| c.downcast_ref::<EntraError>())
        .is_some_and(|x| x.refresh_token_is_dead());
    if !dead {
        return e;
    }
    e.context(fail(
        Exit::Entra,
        format!(
            "the saved refresh token can no longer be used; sign in again:\n  mssp-token login --tenant {} --client-id {} {} --save {}",
            saved.tenant_id,
            saved.client_id,
            target.as_flags(),
            store.location(key)
        ),
    ))
}
