//! v2 `scope` parameter: one resource, `.default` or named permissions, plus OpenID scopes.

use crate::errors::{self, Aadsts};

/// Resource of bare scope names ("User.Read") and of OpenID-only requests.
pub const GRAPH: &str = "https://graph.microsoft.com";
const OIDC: [&str; 4] = ["openid", "profile", "email", "offline_access"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scopes {
    /// None when only OpenID scopes were asked (the token is then for Microsoft Graph).
    pub resource: Option<String>,
    /// `{resource}/.default` was asked.
    pub default: bool,
    /// Named permissions, without the resource prefix.
    pub permissions: Vec<String>,
    /// openid, profile, email, offline_access (lower-case) as asked.
    pub oidc: Vec<String>,
}

impl Scopes {
    pub fn parse(raw: &str) -> Result<Scopes, Aadsts> {
        let mut s = Scopes {
            resource: None,
            default: false,
            permissions: Vec::new(),
            oidc: Vec::new(),
        };
        for item in raw.split_whitespace() {
            let lower = item.to_ascii_lowercase();
            if OIDC.contains(&lower.as_str()) {
                if !s.oidc.contains(&lower) {
                    s.oidc.push(lower);
                }
                continue;
            }
            let (resource, name) = match item.rsplit_once('/') {
                Some((r, n)) => (r.to_string(), n.to_string()),
                None => (GRAPH.to_string(), item.to_string()),
            };
            if resource.is_empty() || name.is_empty() || resource.ends_with(':') {
                return Err(errors::invalid_scope(item));
            }
            match &s.resource {
                Some(r) if !r.eq_ignore_ascii_case(&resource) => {
                    return Err(errors::multiple_resources(raw))
                }
                Some(_) => {}
                None => s.resource = Some(resource),
            }
            if name.eq_ignore_ascii_case(".default") {
                s.default = true;
            } else if !s.permissions.contains(&name) {
                s.permissions.push(name);
            }
        }
        if s.resource.is_none() && s.oidc.is_empty() {
            return Err(errors::missing_param("scope"));
        }
        if s.default && !s.permissions.is_empty() {
            return Err(errors::incompatible_scopes(raw));
        }
        Ok(s)
    }

    /// The audience of the access token.
    pub fn resource(&self) -> String {
        self.resource.clone().unwrap_or_else(|| GRAPH.to_string())
    }

    pub fn offline_access(&self) -> bool {
        self.oidc.iter().any(|o| o == "offline_access")
    }

    pub fn openid(&self) -> bool {
        self.oidc.iter().any(|o| o == "openid")
    }

    /// Named permissions that the grant does not hold yet (they need consent).
    pub fn missing_from(&self, granted: &[String]) -> Vec<String> {
        self.permissions
            .iter()
            .filter(|p| !granted.iter().any(|g| g.eq_ignore_ascii_case(p)))
            .cloned()
            .collect()
    }

    /// Permission names in the `scp` claim: everything granted for `.default`, the named ones
    /// otherwise (User.Read for an OpenID-only request).
    pub fn scp(&self, granted: &[String]) -> Vec<String> {
        if self.default {
            granted.to_vec()
        } else if self.resource.is_none() {
            vec!["User.Read".to_string()]
        } else {
            self.permissions.clone()
        }
    }

    /// The `scope` field of a token response.
    pub fn response_scope(&self, granted: &[String]) -> String {
        let resource = self.resource();
        let mut out: Vec<String> = self
            .scp(granted)
            .into_iter()
            .map(|p| {
                if resource == GRAPH {
                    p
                } else {
                    format!("{resource}/{p}")
                }
            })
            .collect();
        out.extend(self.oidc.iter().cloned());
        out.join(" ")
    }

    /// Client credentials: exactly `{resource}/.default`.
    pub fn is_app_only_default(&self) -> bool {
        self.default && self.resource.is_some() && self.oidc.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resource_default_and_oidc() {
        let s = Scopes::parse(
            "https://api.securitycenter.microsoft.com/.default offline_access openid",
        )
        .unwrap();
        assert_eq!(s.resource(), "https://api.securitycenter.microsoft.com");
        assert!(s.default && s.offline_access() && s.openid());
        assert!(!s.is_app_only_default());
        let s = Scopes::parse("https://api.securitycenter.microsoft.com/Alert.Read").unwrap();
        assert_eq!(s.permissions, vec!["Alert.Read"]);
        assert!(!s.offline_access());
        assert_eq!(Scopes::parse("User.Read").unwrap().resource(), GRAPH);
        assert_eq!(Scopes::parse("openid").unwrap().resource(), GRAPH);
    }

    #[test]
    fn rejects_mixed_default_and_multiple_resources() {
        let e = Scopes::parse("https://a.example/.default https://a.example/X.Read").unwrap_err();
        assert_eq!((e.error, e.code), ("invalid_scope", 70011));
        let e = Scopes::parse("https://a.example/.default https://b.example/.default").unwrap_err();
        assert_eq!(e.code, 28000);
        assert_eq!(Scopes::parse("  ").unwrap_err().code, 900144);
        assert_eq!(Scopes::parse("https://a.example/").unwrap_err().code, 70011);
    }
}
