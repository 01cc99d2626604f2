//! Profiles in use: saving a signed-in set under a name, the identity a saved set came from,
//! and a profile's access token (refreshed, and the rotated refresh token stored, when it has
//! little time left or another audience is asked for).
//!
//! A profile keeps the access token of its own target (what it was signed in for). A token for
//! another audience is redeemed with the profile's refresh token and handed out; the profile
//! then keeps its own access token and target, and takes only the rotated refresh token
//! (`Profiles::put`).

use crate::authority::{parse_client_id, Authority, Cloud, Tenant};
use crate::credentials::Credential;
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::store::cache::MIN_REMAINING;
use crate::store::profiles::{audience, same_target, Profile, ProfileKind, Profiles};
use crate::store::TokenStore;
use crate::token::{Target, TokenSet};
use anyhow::Result;

/// Saves `set` as profile `name` (a new sign-in: its history starts now), under the lock.
/// A profile that holds another tenant's session is not replaced: a sign-in under a customer's
/// name must never silently become another customer's.
pub fn save_signed_in(
    store: &Profiles,
    name: &str,
    set: &TokenSet,
    kind: ProfileKind,
) -> Result<()> {
    let _lock = store.lock(name)?;
    if let Ok(existing) = store.summary(name) {
        let held = existing["tenant_id"].as_str().unwrap_or_default();
        if !held.is_empty() && !held.eq_ignore_ascii_case(&set.tenant_id) {
            return Err(usage(format!(
                "{} holds the session of tenant {held}, and this sign-in is tenant {}: nothing was saved or printed. Choose another profile name, or `mssp-token logout {}` first",
                store.location(name),
                set.tenant_id,
                store.sign_in_flags(name)
            )));
        }
    }
    let profile = Profile::new(name, set.clone(), kind, crate::time::now_epoch());
    store.save(&profile)?;
    crate::info!("Saved as {}.", store.location(name));
    Ok(())
}

/// The identity a saved set came from: its authority (and cloud), tenant, client and target,
/// with `credential` (the app's secret, certificate or federated token, or none for a public
/// client) and `target` if another one is asked for.
pub fn identity_of(
    saved: &TokenSet,
    credential: Credential,
    target: Option<Target>,
) -> Result<Identity> {
    let what = "the saved token set";
    let tenant = Tenant::parse(&saved.tenant_id)
        .map_err(|e| e.context(fail(Exit::Storage, format!("{what}: its tenant_id"))))?;
    let client_id = parse_client_id(&saved.client_id)
        .map_err(|e| e.context(fail(Exit::Storage, format!("{what}: its client_id"))))?;
    let cloud = saved.cloud.unwrap_or(Cloud::Public);
    let authority = Authority::new(cloud, saved.authority.as_deref(), tenant)
        .map_err(|e| e.context(fail(Exit::Storage, format!("{what}: its authority"))))?;
    let target = match target.or_else(|| saved.target()) {
        Some(t) => t,
        None => {
            return Err(fail(
                Exit::Storage,
                format!("{what} names neither a resource nor a scope; sign in again"),
            ))
        }
    };
    Ok(Identity {
        authority,
        client_id,
        credential,
        target,
    })
}

/// Which token a command wants from a profile.
#[derive(Debug, Clone)]
pub enum Want {
    /// The profile's own target (`token --profile`).
    Own,
    /// Exactly this resource or these scopes (`--resource` / `--scope`).
    Exactly(Target),
    /// A token for this target's audience (`api --profile`): the profile's own token when it is
    /// for the same API, else one redeemed for `target`.
    AudienceOf(Target),
}

/// Profile `name`'s access token for what `want` says: the stored one while it serves and has
/// more than five minutes left, else a new one redeemed with the profile's refresh token
/// (whose rotation is stored).
pub async fn access_token(
    http: &Http,
    store: &Profiles,
    name: &str,
    credential: Credential,
    want: Want,
) -> Result<TokenSet> {
    let profile = store.load(name)?;
    let own = profile.set.target();
    let wanted = match want {
        Want::Own => own,
        Want::Exactly(t) => Some(t),
        Want::AudienceOf(t) => match (&own, audience(&t)) {
            (Some(o), Some(a)) if audience(o).as_deref() == Some(a.as_str()) => own,
            _ => Some(t),
        },
    };
    let now = crate::time::now_epoch();
    if let Some(t) = &wanted {
        if same_target(&profile.set, t)
            && profile.set.expires_on > now.saturating_add(MIN_REMAINING)
        {
            crate::verbose!("profile {name}: the stored access token is still fresh");
            let location = store.location(name);
            crate::checks::tenant_is(
                &profile.set,
                &profile.set.tenant_id,
                name,
                crate::checks::Source::File(&location),
            )?;
            return Ok(profile.set);
        }
    }
    let id = identity_of(&profile.set, credential, wanted)?;
    let set = crate::flows::refresh::redeem(http, &id, store, name).await?;
    crate::info!(
        "Refreshed; the new refresh token is saved in {} (the old one no longer works).",
        store.location(name)
    );
    Ok(set)
}

/// `--tenant` (or AZURE_TENANT_ID) given with `--profile`: the profile's token must be that
/// tenant's (a domain resolved to its GUID at the profile's authority first), like every token
/// the tool hands out: exit 5 otherwise, and the caller prints and sends nothing.
pub async fn is_for_tenant(
    http: &Http,
    store: &Profiles,
    name: &str,
    set: &TokenSet,
    asked: Tenant,
    remembered: Option<&crate::store::tenants::TenantIds>,
) -> Result<()> {
    let authority = Authority::new(
        set.cloud.unwrap_or(Cloud::Public),
        set.authority.as_deref(),
        asked,
    )?;
    let expected = crate::entra::discovery::tenant_id(http, &authority, remembered).await?;
    let location = store.location(name);
    crate::checks::tid_is(
        set.claims.tid.as_deref(),
        &expected,
        authority.tenant.as_str(),
        crate::checks::Source::File(&location),
    )
}
