//! Who is asking, of which tenant, for what: the domain value every flow starts from. Built
//! once from the command line (the binary's `args.rs`) or from a tenants-file entry.

use crate::apis::{not_offered, ApiTarget};
use crate::authority::{printable, Authority, Cloud};
use crate::credentials::Credential;
use crate::error::usage;
use crate::token::Target;
use anyhow::Result;

/// A resolved identity, ready to talk to Entra.
#[derive(Debug, Clone)]
pub struct Identity {
    pub authority: Authority,
    pub client_id: String,
    pub credential: Credential,
    pub target: Target,
}

pub use crate::token::is_oidc_scope;

/// v2 scopes as given (each item may hold several, space-separated). A `RESOURCE/.default`
/// scope must stand alone.
pub fn parse_scopes(given: &[String]) -> Result<Target> {
    let scopes: Vec<String> = given
        .iter()
        .flat_map(|s| s.split_whitespace())
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return Err(usage(
            "is empty: give a scope such as https://api.securitycenter.microsoft.com/.default",
        ));
    }
    let defaults = scopes.iter().filter(|s| s.ends_with("/.default")).count();
    let named = scopes
        .iter()
        .filter(|s| !s.ends_with("/.default") && !is_oidc_scope(s))
        .count();
    if defaults > 1 || (defaults == 1 && named > 0) {
        return Err(usage(format!(
            "{}: a RESOURCE/.default scope must stand alone (Entra refuses it mixed with named scopes, AADSTS70011)",
            scopes.join(" ")
        )));
    }
    Ok(Target::Scopes(scopes))
}

/// A v1 resource: a URI or an application ID GUID.
pub fn parse_resource(given: &str) -> Result<Target> {
    let resource = given.trim();
    if resource.is_empty() {
        return Err(usage(
            "is empty: give the API's URI, e.g. https://api.securitycenter.microsoft.com",
        ));
    }
    if url::Url::parse(resource).is_err() && !crate::authority::is_guid(resource) {
        return Err(usage(format!(
            "'{}' is neither a URI (https://api.securitycenter.microsoft.com) nor an application ID GUID",
            printable(resource)
        )));
    }
    Ok(Target::Resource(resource.to_string()))
}

/// The default delegated target: the API's resource in that cloud (v1).
pub fn default_resource(api: ApiTarget, cloud: Cloud) -> Result<Target> {
    let e = api.in_cloud(cloud).ok_or_else(|| {
        usage(format!(
            "{}; name the API with a resource or scope",
            not_offered(api, cloud)
        ))
    })?;
    Ok(Target::Resource(e.resource.to_string()))
}

/// The default app-only target: `RESOURCE/.default` of the API in that cloud (v2).
pub fn default_scope(api: ApiTarget, cloud: Cloud) -> Result<Target> {
    let e = api.in_cloud(cloud).ok_or_else(|| {
        usage(format!(
            "{}; name the API with a resource or scope",
            not_offered(api, cloud)
        ))
    })?;
    Ok(Target::Scopes(vec![e.default_scope()]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_targets_follow_the_cloud() {
        assert_eq!(
            default_scope(ApiTarget::Mde, Cloud::Usgov).unwrap(),
            Target::Scopes(vec![
                "https://api-gov.securitycenter.microsoft.us/.default".into()
            ])
        );
        assert_eq!(
            default_resource(ApiTarget::Mde, Cloud::Public).unwrap(),
            Target::Resource("https://api.securitycenter.microsoft.com".into())
        );
        assert!(default_scope(ApiTarget::Mde, Cloud::China).is_err());
    }

    #[test]
    fn scopes_and_resources() {
        assert!(parse_scopes(&["a/.default b".into()]).is_err());
        assert!(parse_scopes(&["  ".into()]).is_err());
        assert!(parse_scopes(&["x/.default".into(), "openid".into()]).is_ok());
        assert!(parse_resource("not a uri").is_err());
        assert!(parse_resource("https://graph.microsoft.com").is_ok());
    }
}
