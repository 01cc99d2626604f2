//! App-only tokens by client credentials (secret, certificate or federated token), v1 with a
//! resource or v2 with one `/.default` scope, with the tenant check, through the token cache.

use crate::checks::{self, Source};
use crate::credentials::Credential;
use crate::entra::{discovery, EntraClient};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::identity::Identity;
use crate::store::cache::Cache;
use crate::store::tenants::TenantIds;
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
/// Entra, under the key's lock, and stored. `use_cache: false` always asks Entra (and resolves
/// a domain every time). Every token, fresh or cached, is checked against the tenant ID asked
/// for (a domain resolved to its GUID through discovery) before it is returned.
pub async fn token(http: &Http, id: &Identity, use_cache: bool) -> Result<TokenSet> {
    if !use_cache {
        let tenant_id = discovery::tenant_id(http, &id.authority, None).await?;
        return acquire(http, id, &tenant_id).await;
    }
    let cache = Cache::open()?;
    let tenant_id =
        discovery::tenant_id(http, &id.authority, Some(&TenantIds::in_cache(&cache))).await?;
    cached(&cache, http, id, &tenant_id).await
}

/// [`token`] with the tenant ID already resolved: the cache's token when it holds one with more
/// than 5 minutes left, else a new one from Entra, stored.
pub async fn cached(
    cache: &Cache,
    http: &Http,
    id: &Identity,
    tenant_id: &str,
) -> Result<TokenSet> {
    let key = cache_key(id);
    if let Some(set) = cache.get(&key)? {
        return from_cache(cache, &key, set, id, tenant_id);
    }
    let lock = {
        let (c, k) = (cache.clone(), key.clone());
        tokio::task::spawn_blocking(move || c.lock(&k))
            .await
            .map_err(|e| fail(Exit::Internal, e.to_string()))??
    };
    // Another process may have renewed it while we waited for the lock.
    if let Some(set) = cache.get(&key)? {
        return from_cache(cache, &key, set, id, tenant_id);
    }
    let set = acquire(http, id, tenant_id).await?;
    cache.put(&key, &set)?;
    drop(lock);
    Ok(set)
}

/// A cache hit, checked like a fresh token: an entry holding another tenant's token is refused.
fn from_cache(
    cache: &Cache,
    key: &str,
    set: TokenSet,
    id: &Identity,
    tenant_id: &str,
) -> Result<TokenSet> {
    let at = cache.location(key);
    checks::tenant_is(
        &set,
        tenant_id,
        id.authority.tenant.as_str(),
        Source::Cache(&at),
    )?;
    crate::verbose!("from the cache: {set}");
    Ok(set)
}

pub fn cache_key(id: &Identity) -> String {
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

/// One client-credentials request, checked against `tenant_id`: the tenant's GUID (for a
/// domain, resolved first with [`discovery::tenant_id`]). A token of any other tenant is
/// refused (exit 5), whatever the token endpoint says.
pub async fn acquire(http: &Http, id: &Identity, tenant_id: &str) -> Result<TokenSet> {
    let entra = EntraClient::new(http, id);
    let (kind, value) = id.target.form_param();
    crate::verbose!(
        "client credentials for tenant {} ({kind} {value}) with {}",
        id.authority.tenant.as_str(),
        id.credential.describe()
    );
    let set = entra.client_credentials(&id.target).await?;
    checks::tenant_is(
        &set,
        tenant_id,
        id.authority.tenant.as_str(),
        Source::TokenEndpoint,
    )?;
    Ok(set)
}
