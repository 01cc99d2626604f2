//! Tenant discovery: a domain resolved to its tenant ID through the v2 OpenID configuration,
//! whose `issuer` holds the GUID; remembered for a day in the cache folder
//! ([`crate::store::tenants`]) when the caller allows it.

use crate::authority::{tenant_in_issuer, Authority, Tenant};
use crate::error::Exit;
use crate::store::tenants::TenantIds;
use anyhow::Result;

/// The tenant ID (GUID) to check every token against: a GUID as it is; a domain resolved
/// through discovery, or taken from `remembered` when it holds a fresh, trusted entry (and
/// written there after a resolution). A failure to remember is only said with --verbose.
pub async fn tenant_id(
    http: &crate::http::Http,
    authority: &Authority,
    remembered: Option<&TenantIds>,
) -> Result<String> {
    if let Tenant::Guid(g) = &authority.tenant {
        return Ok(g.clone());
    }
    let url = authority.discovery_url();
    let now = crate::time::now_epoch();
    if let Some(id) = remembered.and_then(|r| r.get(url.as_str(), now)) {
        crate::verbose!(
            "tenant {} is {id} (remembered from an earlier discovery)",
            authority.tenant.as_str()
        );
        return Ok(id);
    }
    let id = resolve_tenant_id(http, authority).await?;
    crate::verbose!("tenant {} is {id}", authority.tenant.as_str());
    if let Some(r) = remembered {
        if let Err(e) = r.put(url.as_str(), &id, now) {
            crate::verbose!("cannot remember the tenant ID: {e}");
        }
    }
    Ok(id)
}

/// Resolves a tenant domain to its GUID with the v2 discovery document, whose `issuer` holds the
/// tenant ID. A GUID is returned as it is, without a network call.
pub async fn resolve_tenant_id(http: &crate::http::Http, authority: &Authority) -> Result<String> {
    let domain = match &authority.tenant {
        Tenant::Guid(g) => return Ok(g.clone()),
        Tenant::Domain(d) => d.clone(),
    };
    let url = authority.discovery_url();
    crate::verbose!("GET {url} (resolving {domain} to its tenant ID)");
    let resp = http.get(url.as_str()).await?;
    if resp.status != 200 {
        if let Some(err) =
            serde_json::from_slice::<crate::entra::errors::EntraErrorResponse>(&resp.body)
                .ok()
                .filter(|e| !e.is_empty())
        {
            return Err(crate::entra::errors::EntraError::from_response(
                crate::entra::errors::Origin::Discovery,
                Some(resp.status),
                &err,
            )
            .into());
        }
        return Err(crate::error::fail(
            Exit::Network,
            format!(
                "resolving tenant {domain}: {url} answered HTTP {} ({}) instead of the discovery document",
                resp.status,
                resp.describe_body()
            ),
        ));
    }
    #[derive(serde::Deserialize)]
    struct Discovery {
        issuer: String,
    }
    let doc: Discovery = serde_json::from_slice(&resp.body).map_err(|_| {
        crate::error::fail(
            Exit::Entra,
            format!(
                "resolving tenant {domain}: the discovery document at {url} is not valid JSON with an issuer ({})",
                resp.describe_body()
            ),
        )
    })?;
    tenant_in_issuer(&doc.issuer).ok_or_else(|| {
        crate::error::fail(
            Exit::Entra,
            format!(
                "resolving tenant {domain}: the discovery document's issuer '{}' holds no tenant ID",
                crate::authority::printable(&doc.issuer)
            ),
        )
    })
}
