//! From arguments to a request: which authority and tenant, which app, which credential, and
//! what the token is for.

use crate::authority::{parse_client_id, Authority, Tenant};
use crate::cli::IdentityArgs;
use crate::credentials::{self, Credential, SecretSources};
use crate::error::usage;
use crate::redacted::SecretString;
use crate::token::Target;
use anyhow::Result;

/// The Defender for Endpoint API: `login`'s default resource.
pub const DEFENDER_RESOURCE: &str = "https://api.securitycenter.microsoft.com";

/// A resolved identity, ready to talk to Entra.
#[derive(Debug, Clone)]
pub struct Identity {
    pub authority: Authority,
    pub client_id: String,
    pub credential: Credential,
    pub target: Target,
}

/// The `token` default: the Defender for Endpoint API, app-only, v2.
pub const DEFENDER_DEFAULT_SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

/// Resolves the identity options. `default` applies when neither --resource nor --scope is
/// given.
pub fn resolve(args: &IdentityArgs, default: &Target) -> Result<Identity> {
    let tenant = args.tenant.as_deref().ok_or_else(|| {
        usage("no tenant given: pass --tenant with the customer's tenant ID or domain (or set AZURE_TENANT_ID)")
    })?;
    let tenant = Tenant::parse(tenant)?;
    let client_id = args.client_id.as_deref().ok_or_else(|| {
        usage("no client ID given: pass --client-id with the app registration's Application (client) ID (or set AZURE_CLIENT_ID)")
    })?;
    let client_id = parse_client_id(client_id)?;
    let authority = Authority::new(args.cloud, args.authority.as_deref(), tenant)?;
    let target = target(args, default)?;
    let credential = credentials::resolve(&SecretSources {
        file: args.client_secret_file.clone(),
        stdin: args.client_secret_stdin,
        value: args.client_secret.as_deref().map(SecretString::new),
        certificate: args.certificate.clone(),
        certificate_password: args.certificate_password.as_deref().map(SecretString::new),
        federated_token_file: args.federated_token_file.clone(),
    })?;
    Ok(Identity {
        authority,
        client_id,
        credential,
        target,
    })
}

fn target(args: &IdentityArgs, default: &Target) -> Result<Target> {
    if !args.scope.is_empty() {
        let scopes: Vec<String> = args
            .scope
            .iter()
            .flat_map(|s| s.split_whitespace())
            .map(str::to_string)
            .collect();
        if scopes.is_empty() {
            return Err(usage("--scope is empty: give a scope such as https://api.securitycenter.microsoft.com/.default"));
        }
        let defaults = scopes.iter().filter(|s| s.ends_with("/.default")).count();
        let named = scopes
            .iter()
            .filter(|s| !s.ends_with("/.default") && !is_oidc_scope(s))
            .count();
        if defaults > 1 || (defaults == 1 && named > 0) {
            return Err(usage(format!(
                "--scope {}: a RESOURCE/.default scope must stand alone (Entra refuses it mixed with named scopes, AADSTS70011)",
                scopes.join(" ")
            )));
        }
        return Ok(Target::Scopes(scopes));
    }
    let resource = match (&args.resource, default) {
        (Some(r), _) => r.trim(),
        (None, Target::Resource(r)) => r.trim(),
        (None, scopes) => return Ok(scopes.clone()),
    };
    if resource.is_empty() {
        return Err(usage("--resource is empty: give the API's URI, e.g. https://api.securitycenter.microsoft.com"));
    }
    if url::Url::parse(resource).is_err() && !crate::authority::is_guid(resource) {
        return Err(usage(format!(
            "--resource '{}' is neither a URI (https://api.securitycenter.microsoft.com) nor an application ID GUID",
            crate::authority::printable(resource)
        )));
    }
    Ok(Target::Resource(resource.to_string()))
}

pub fn is_oidc_scope(s: &str) -> bool {
    matches!(s, "openid" | "offline_access" | "profile" | "email")
}
