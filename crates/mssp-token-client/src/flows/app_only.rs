//! App-only tokens by client credentials (secret, certificate or federated token), v1 with a
//! resource or v2 with one `/.default` scope, with the tenant check, through the token cache.

use crate::authority::Tenant;
use crate::credentials::Credential;
use crate::entra::EntraClient;
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::store::cache::Cache;
use crate::store::TokenStore;
use crate::token::{Target, TokenSet};
use anyhow::Result;

/// Client credentials need a credential and, on v2, exactly one `RESOURCE/.default` scope.
pub fn check_app_only(id: &Identity) -> Result<()> {
    if matches!(id.credential, Credential::None) {
        return Err(usage(
            "no client credential: app-only tokens need a secret (AZURE_CLIENT_SECRET, --client-secret-file, --client-secret-stdin), a certificate (--certificate) or a federated token (--federated-token-file)",
        ));
    }
    if let Target::Scopes(scopes) = &id.target {
        if scopes.len() != 1 || !scopes[0].ends_with("/.default") {
            return Err(usage(format!(
                "the scope {} does not fit app-only tokens: they take exactly one RESOURCE/.default scope (e.g. https://api.securitycenter.microsoft.com/.default); application permissions are granted per resource, not per scope",
                scopes.join(" ")
            )));
        }
    }
    Ok(())
}

/// A token from the cache when it holds one with more than 5 minutes left; otherwise from
/// Entra, under the key's lock, and stored. `use_cache: false` always asks Entra.
pub async fn token(http: &Http, id: &Identity, use_cache: bool) -> Result<TokenSet> {
    if !use_cache {
        return acquire(http, id).await;
    }
    let cache = Cache::open()?;
    cached(&cache, http, id).await
}

async fn cached(cache: &Cache, http: &Http, id: &Identity) -> Result<TokenSet> {
    let key = cache_key(id);
    if let Some(set) = cache.get(&key)? {
        crate::verbose!("from the cache: {set}");
        return Ok(set);
    }
    let lock = {
        let (c, k) = (cache.clone(), key.clone());
        tokio::task::spawn_blocking(move || c.lock(&k))
            .await
            .map_err(|e| fail(Exit::Internal, e.to_string()))??
    };
    // Another process may have renewed it while we waited for the lock.
    if let Some(set) = cache.get(&key)? {
        crate::verbose!("from the cache: {set}");
        return Ok(set);
    }
    let set = acquire(http, id).await?;
    cache.put(&key, &set)?;
    drop(lock);
    Ok(set)
}

fn cache_key(id: &Identity) -> String {
    let target = match &id.target {
        Target::Resource(r) => format!("resource={r}"),
        Target::Scopes(s) => format!("scope={}", s.join(" ")),
    };
    Cache::key(&[
        "v1",
        id.authority.token_url(id.target.version()).as_str(),
        id.authority.tenant.as_str(),
        &id.client_id,
        &target,
        &id.credential.fingerprint(),
    ])
}

/// One client-credentials request, the tenant checked. A tenant given as a GUID must match the
/// token's `tid`; for a domain, Entra's token endpoint resolves it exactly as the discovery
/// document would, so the token's `tid` is taken as the tenant ID without an extra request
/// (there is no browser session here that could answer for another tenant).
pub async fn acquire(http: &Http, id: &Identity) -> Result<TokenSet> {
    let entra = EntraClient::new(http, id);
    let (kind, value) = id.target.form_param();
    crate::verbose!(
        "client credentials for tenant {} ({kind} {value}) with {}",
        id.authority.tenant.as_str(),
        id.credential.describe()
    );
    let set = entra.client_credentials(&id.target).await?;
    let asked = id.authority.tenant.as_str();
    let expected = match &id.authority.tenant {
        Tenant::Guid(g) => g.clone(),
        Tenant::Domain(_) => set.claims.tid.clone().ok_or_else(|| {
            fail(
                Exit::Check,
                format!(
                    "the token for {asked} carries no tid claim, so its tenant cannot be confirmed; nothing was printed"
                ),
            )
        })?,
    };
    crate::checks::tenant_matches(&set, &expected, asked)?;
    Ok(set)
}
