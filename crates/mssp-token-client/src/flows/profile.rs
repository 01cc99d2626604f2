//! Profiles in use: saving a signed-in set under a name, the identity a saved set came from,
//! and a profile's access token (refreshed, and the rotated refresh token stored, when it has
//! little time left or another audience is asked for).

use crate::authority::{parse_client_id, Authority, Cloud, Tenant};
use crate::credentials::Credential;
use crate::error::{fail, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::store::cache::MIN_REMAINING;
use crate::store::profiles::{Profile, ProfileKind, Profiles};
use crate::store::TokenStore;
use crate::token::{Target, TokenSet};
use anyhow::Result;

/// Saves `set` as profile `name` (a new sign-in: its history starts now), under the lock.
pub fn save_signed_in(
    store: &Profiles,
    name: &str,
    set: &TokenSet,
    kind: ProfileKind,
) -> Result<()> {
    let _lock = store.lock(name)?;
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

/// Whether `set` is for `target` (the same resource, or the same scopes ignoring OpenID ones).
fn serves(set: &TokenSet, target: &Target) -> bool {
    match (set.target(), target) {
        (Some(Target::Resource(a)), Target::Resource(b)) => {
            a.trim_end_matches('/') == b.trim_end_matches('/')
        }
        (Some(Target::Scopes(a)), Target::Scopes(b)) => {
            let norm = |v: &[String]| {
                let mut v: Vec<String> = v
                    .iter()
                    .filter(|s| !crate::token::is_oidc_scope(s))
                    .map(|s| s.to_ascii_lowercase())
                    .collect();
                v.sort();
                v
            };
            norm(&a) == norm(b)
        }
        _ => false,
    }
}

/// Profile `name`'s access token for `target` (its own target if `None`): the stored one while
/// it has more than five minutes left, else a new one redeemed with the profile's refresh token
/// (whose rotation is stored).
pub async fn access_token(
    http: &Http,
    store: &Profiles,
    name: &str,
    credential: Credential,
    target: Option<Target>,
) -> Result<TokenSet> {
    let profile = store.load(name)?;
    let wanted = target.clone().or_else(|| profile.set.target());
    let now = crate::time::now_epoch();
    if let Some(t) = &wanted {
        if serves(&profile.set, t) && profile.set.expires_on > now.saturating_add(MIN_REMAINING) {
            crate::verbose!("profile {name}: the stored access token is still fresh");
            crate::checks::tenant_is(
                &profile.set,
                &profile.set.tenant_id,
                name,
                crate::checks::Source::Cache(&store.location(name)),
            )?;
            return Ok(profile.set);
        }
    }
    let id = identity_of(&profile.set, credential, wanted)?;
    crate::flows::refresh::redeem(http, &id, store, name).await
}
