//! OpenID discovery documents and the JWKS.

use crate::errors::{self, Trace};
use crate::http::Resp;
use crate::state::{Inner, TenantSel};
use crate::store::Version;
use serde_json::json;

/// The tenant part of discovery URLs and issuers: the GUID, or Entra's literal "{tenantid}"
/// placeholder for common/organizations. Unknown tenants get the 90002 JSON error.
fn tenant_part(inner: &Inner, seg: &str) -> Result<(String, String), Resp> {
    match inner.resolve_tenant(seg) {
        TenantSel::Id(t) => Ok((t.clone(), t)),
        TenantSel::Common => Ok((seg.to_ascii_lowercase(), "{tenantid}".to_string())),
        TenantSel::NotFound => Err(errors::tenant_not_found(seg).to_json(&Trace::new(None))),
    }
}

/// GET /{tenant}/v2.0/.well-known/openid-configuration (v2) or
/// /{tenant}/.well-known/openid-configuration (v1).
pub fn openid_configuration(inner: &Inner, seg: &str, version: Version) -> Resp {
    let (path, tid) = match tenant_part(inner, seg) {
        Ok(x) => x,
        Err(r) => return r,
    };
    let a = &inner.authority;
    let (issuer, authz, token, jwks, logout) = match version {
        Version::V2 => (
            inner.issuer(Version::V2, &tid),
            format!("{a}/{path}/oauth2/v2.0/authorize"),
            format!("{a}/{path}/oauth2/v2.0/token"),
            format!("{a}/{path}/discovery/v2.0/keys"),
            format!("{a}/{path}/oauth2/v2.0/logout"),
        ),
        Version::V1 => (
            inner.issuer(Version::V1, &tid),
            format!("{a}/{path}/oauth2/authorize"),
            format!("{a}/{path}/oauth2/token"),
            format!("{a}/common/discovery/keys"),
            format!("{a}/{path}/oauth2/logout"),
        ),
    };
    Resp::json(
        200,
        &json!({
            "issuer": issuer,
            "authorization_endpoint": authz,
            "token_endpoint": token,
            "jwks_uri": jwks,
            "end_session_endpoint": logout,
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nbf", "name", "nonce", "oid",
                "preferred_username", "tid", "ver", "upn", "unique_name", "scp", "roles", "appid", "azp"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "request_uri_parameter_supported": false,
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "tenant_region_scope": null,
            "cloud_instance_name": "mssp-token-sandbox.invalid",
            "sandbox": true,
        }),
    )
}

/// GET /{tenant}/discovery/v2.0/keys, /{tenant}/discovery/keys.
pub fn keys(inner: &Inner, seg: &str, version: Version) -> Resp {
    match tenant_part(inner, seg) {
        Ok((_, tid)) => Resp::json(200, &inner.keys.jwks(&inner.issuer(version, &tid))),
        Err(r) => r,
    }
}
