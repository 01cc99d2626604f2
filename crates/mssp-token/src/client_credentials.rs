//! `mssp-token token`: app-only tokens by client credentials (secret, certificate or federated
//! token), v1 with --resource or v2 with a `/.default` scope, through the per-user cache, with
//! the tenant and role checks before anything is printed.

use crate::authority::Tenant;
use crate::cache::Cache;
use crate::cli::TokenArgs;
use crate::credentials::Credential;
use crate::entra::{self, target_param};
use crate::error::usage;
use crate::http::Http;
use crate::identity::{self, Identity, DEFENDER_DEFAULT_SCOPE};
use crate::token::{now_epoch, Target, TokenSet};
use anyhow::Result;

pub async fn run(args: TokenArgs) -> Result<()> {
    let id = identity::resolve(
        &args.identity,
        &Target::Scopes(vec![DEFENDER_DEFAULT_SCOPE.to_string()]),
    )?;
    check_app_only(&id)?;
    let http = Http::new(args.identity.ca_file.as_deref())?;
    let set = if args.no_cache {
        acquire(&http, &id).await?
    } else {
        cached(&http, &id).await?
    };
    crate::checks::roles_present(&set, &args.require_role)?;
    crate::login::deliver(&set, &args.output)
}

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
                "--scope {}: app-only tokens take exactly one RESOURCE/.default scope (e.g. https://api.securitycenter.microsoft.com/.default); application permissions are granted per resource, not per scope",
                scopes.join(" ")
            )));
        }
    }
    Ok(())
}

/// From the cache when it holds a token with more than 5 minutes left; otherwise from Entra,
/// under the key's lock, and stored.
pub async fn cached(http: &Http, id: &Identity) -> Result<TokenSet> {
    let cache = Cache::open()?;
    let key = cache_key(id);
    if let Some(set) = cache.get(&key, now_epoch()) {
        crate::log::verbose(&format!("from the cache: {set}"));
        return Ok(set);
    }
    let lock = {
        let (c, k) = (cache.clone(), key.clone());
        tokio::task::spawn_blocking(move || c.lock(&k))
            .await
            .map_err(|e| crate::error::fail(crate::error::Exit::Internal, e.to_string()))??
    };
    // Another process may have refreshed it while we waited for the lock.
    if let Some(set) = cache.get(&key, now_epoch()) {
        crate::log::verbose(&format!("from the cache: {set}"));
        return Ok(set);
    }
    let set = acquire(http, id).await?;
    cache.put(&key, &set, &lock)?;
    Ok(set)
}

fn cache_key(id: &Identity) -> String {
    let target = match &id.target {
        Target::Resource(r) => format!("resource={r}"),
        Target::Scopes(s) => format!("scope={}", s.join(" ")),
    };
    let kind = match &id.credential {
        Credential::Secret(_) => "secret".to_string(),
        Credential::Certificate(c) => format!("certificate:{}", c.thumbprint_s256),
        Credential::Federated(f) => format!("federated:{}", f.path.display()),
        Credential::None => "none".to_string(),
    };
    Cache::key(&[
        "v1",
        id.authority.token_url(id.target.version()).as_str(),
        id.authority.tenant.as_str(),
        &id.client_id,
        &target,
        &kind,
    ])
}

/// One client-credentials request, the tenant checked. A tenant given as a GUID must match the
/// token's `tid`; for a domain, Entra's token endpoint resolves it exactly as the discovery
/// document would, so the token's `tid` is taken as the tenant ID without an extra request
/// (there is no browser session here that could answer for another tenant).
pub async fn acquire(http: &Http, id: &Identity) -> Result<TokenSet> {
    let expected = match &id.authority.tenant {
        Tenant::Guid(g) => Some(g.clone()),
        Tenant::Domain(_) => None,
    };
    let client = entra::client(id, None)?;
    let token_url = id.authority.token_url(id.target.version()).to_string();
    let auth = id.credential.assertion_params(&id.client_id, &token_url)?;
    crate::log::verbose(&format!(
        "client credentials for tenant {} with {}",
        id.authority.tenant.as_str(),
        id.credential.describe()
    ));
    let sent_at = now_epoch();
    let response = entra::request(http, |f| async move {
        let call = f.call();
        let mut req = client.exchange_client_credentials();
        match &id.target {
            // v1 takes resource=; v2 takes scope= (oauth2 adds it from the scopes).
            Target::Resource(_) => {
                let (k, v) = target_param(&id.target);
                req = req.add_extra_param(k, v);
            }
            Target::Scopes(s) => {
                req = req.add_scopes(s.iter().map(|x| oauth2::Scope::new(x.clone())));
            }
        }
        for (name, value) in auth {
            req = req.add_extra_param(name, value);
        }
        req.request_async(&call).await
    })
    .await?;
    let tenant_id = match expected {
        Some(g) => g,
        None => crate::jwt::Jwt::decode(response.access_token.secret())
            .ok()
            .and_then(|j| j.tenant_id())
            .ok_or_else(|| {
                crate::error::fail(
                    crate::error::Exit::Check,
                    format!(
                        "the token for {} carries no tid claim, so its tenant cannot be confirmed; nothing was printed",
                        id.authority.tenant.as_str()
                    ),
                )
            })?,
    };
    let set = TokenSet::from_response(&response, &id.target, &tenant_id, &id.client_id, sent_at);
    crate::checks::tenant_matches(&set, &tenant_id, id.authority.tenant.as_str())?;
    Ok(set)
}
