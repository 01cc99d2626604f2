//! The token set: what this tool prints and saves (the contract's JSON object), with the
//! access token's claims decoded once, on arrival, so that checks compare values.

use crate::jwt::Jwt;
use serde::{Deserialize, Serialize};

/// What was asked for: a v1 resource or v2 scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource(String),
    Scopes(Vec<String>),
}

impl Target {
    pub fn version(&self) -> crate::authority::Version {
        match self {
            Target::Resource(_) => crate::authority::Version::V1,
            Target::Scopes(_) => crate::authority::Version::V2,
        }
    }

    /// The form field that names it: `resource=` (v1) or `scope=` (v2).
    pub fn form_param(&self) -> (&'static str, String) {
        match self {
            Target::Resource(r) => ("resource", r.clone()),
            Target::Scopes(s) => ("scope", s.join(" ")),
        }
    }

    /// With `extra` scopes added (v2 only; a v1 resource is returned as it is).
    pub fn with_scopes(mut self, extra: &[&str]) -> Target {
        if let Target::Scopes(scopes) = &mut self {
            for s in extra {
                if !scopes.iter().any(|x| x == s) {
                    scopes.push(s.to_string());
                }
            }
        }
        self
    }

    /// The flags that ask for it again (for "run this command" hints).
    pub fn as_flags(&self) -> String {
        match self {
            Target::Resource(r) => format!("--resource {r}"),
            Target::Scopes(s) => s
                .iter()
                .filter(|x| !is_oidc_scope(x))
                .map(|x| format!("--scope {x}"))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }
}

/// The scopes OpenID Connect adds; they never name an API.
pub fn is_oidc_scope(s: &str) -> bool {
    matches!(s, "openid" | "offline_access" | "profile" | "email")
}

/// The claims this tool reads, decoded once from the access token (and the id_token for the
/// tenant when the access token is opaque).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    /// The tenant that issued the token (lowercase GUID).
    pub tid: Option<String>,
    /// Application permissions.
    pub roles: Vec<String>,
    /// Audiences.
    pub aud: Vec<String>,
    pub exp: Option<u64>,
}

impl Claims {
    pub fn of(jwt: &Jwt) -> Claims {
        Claims {
            tid: jwt.tenant_id(),
            roles: jwt.roles(),
            aud: jwt.audiences(),
            exp: jwt.num_claim("exp"),
        }
    }

    /// The claims of an access token (and an id_token for its tid, if the access token has
    /// none). Unreadable tokens give empty claims: the checks then refuse them.
    pub fn decode(access_token: &str, id_token: Option<&str>) -> Claims {
        let mut c = Jwt::decode(access_token)
            .map(|j| Claims::of(&j))
            .unwrap_or_default();
        if c.tid.is_none() {
            c.tid = id_token
                .and_then(|t| Jwt::decode(t).ok())
                .and_then(|j| j.tenant_id());
        }
        c
    }
}

/// The result this tool prints and saves (the contract's JSON object).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenSet {
    pub token_type: String,
    pub access_token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    pub expires_in: u64,
    pub expires_on: u64,
    pub expires_at: String,
    pub tenant_id: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub endpoint: String,
    /// Where the token came from: the authority (login host) URL it was obtained at, so that
    /// `refresh` goes back there. `None` only in files saved by older versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// The cloud of that authority; `null` for a custom authority (`--authority`).
    #[serde(default)]
    pub cloud: Option<crate::authority::Cloud>,
    /// Decoded from the tokens, never written.
    #[serde(skip)]
    pub claims: Claims,
}

impl std::fmt::Display for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the tokens: this is what a log line may show.
        write!(
            f,
            "token for tenant {} (client {}), expires {}",
            self.tenant_id, self.client_id, self.expires_at
        )
    }
}

impl TokenSet {
    /// Reads the JSON object written by `--save` (or the cache), decoding the claims.
    pub fn from_json(bytes: &[u8]) -> serde_json::Result<TokenSet> {
        let mut set: TokenSet = serde_json::from_slice(bytes)?;
        set.claims = Claims::decode(&set.access_token, set.id_token.as_deref());
        crate::redacted::register(&set.access_token);
        if let Some(rt) = &set.refresh_token {
            crate::redacted::register(rt);
        }
        Ok(set)
    }

    /// Records where the set came from (its `authority` and `cloud`).
    pub fn issued_by(mut self, authority: &crate::authority::Authority) -> TokenSet {
        self.authority = Some(authority.host());
        self.cloud = authority.cloud();
        self
    }

    /// The contract's JSON object, one line.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string(self).unwrap_or_else(|_| "{}".to_string());
        s.push('\n');
        s
    }

    /// What the saved set asked for: its resource, or its scopes without the OpenID ones.
    pub fn target(&self) -> Option<Target> {
        match (&self.resource, &self.scope) {
            (Some(r), _) => Some(Target::Resource(r.clone())),
            (None, Some(s)) => Some(Target::Scopes(
                s.split_whitespace()
                    .filter(|x| *x != "offline_access" && *x != "openid")
                    .map(str::to_string)
                    .collect(),
            )),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entra::response::EntraTokenResponse;
    use oauth2::TokenResponse;
    use std::time::Duration;

    #[test]
    fn v1_numbers_as_strings() {
        let body = r#"{"token_type":"Bearer","scope":"user_impersonation","expires_in":"3599","ext_expires_in":"3599","expires_on":"1763812345","not_before":"1763808445","resource":"https://api.securitycenter.microsoft.com","access_token":"eyJ0.eyJ1.sig","refresh_token":"0.AAAA","id_token":"eyJ0.eyJ2."}"#;
        let r: EntraTokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.expires_in(), Some(Duration::from_secs(3599)));
        assert_eq!(
            r.expires_on,
            Some(crate::entra::lifetime::Numeric::Whole(1763812345))
        );
        assert_eq!(r.refresh_token().unwrap().secret(), "0.AAAA");
        let t = Target::Resource("https://api.securitycenter.microsoft.com".into());
        let set = r.token_set(&t, "cid", 1763812345 - 3599).unwrap();
        assert_eq!(set.expires_on, 1763812345);
        assert_eq!(set.endpoint, "v1");
        assert_eq!(set.expires_at, "2025-11-22T11:52:25Z");
        assert_eq!(
            set.resource.as_deref(),
            Some("https://api.securitycenter.microsoft.com")
        );
    }

    #[test]
    fn v2_numbers() {
        let body = r#"{"token_type":"Bearer","scope":"https://api.securitycenter.microsoft.com/Alert.Read offline_access","expires_in":3599,"ext_expires_in":3599,"access_token":"a.b.c","refresh_token":"r"}"#;
        let r: EntraTokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.expires_in(), Some(Duration::from_secs(3599)));
        assert_eq!(r.scopes().unwrap().len(), 2);
        let t = Target::Scopes(vec!["x".into()]);
        let set = r.token_set(&t, "cid", 1000).unwrap();
        assert_eq!(set.expires_on, 4599);
        assert_eq!(set.endpoint, "v2");
        assert!(set.scope.unwrap().contains("offline_access"));
    }

    #[test]
    fn claims_are_decoded_once_on_arrival() {
        use base64::Engine;
        let b64 = |v: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let at = format!(
            "{}.{}.sig",
            b64(r#"{"alg":"RS256"}"#),
            b64(
                r#"{"tid":"4A1F7C2E-5B8D-4E3F-9A6B-0C2D4E6F8A1B","roles":["Alert.Read.All"],"aud":"https://x","exp":99}"#
            )
        );
        let body = format!(r#"{{"token_type":"Bearer","access_token":"{at}","expires_in":10}}"#);
        let r: EntraTokenResponse = serde_json::from_str(&body).unwrap();
        let set = r
            .token_set(&Target::Scopes(vec!["s".into()]), "c", 0)
            .unwrap();
        assert_eq!(set.tenant_id, "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b");
        assert_eq!(set.claims.roles, vec!["Alert.Read.All"]);
        assert_eq!(set.claims.aud, vec!["https://x"]);
        assert_eq!(set.claims.exp, Some(99));
        let back = TokenSet::from_json(set.to_json().as_bytes()).unwrap();
        assert_eq!(back.claims, set.claims);
    }

    #[test]
    fn bad_numbers_are_errors_not_panics() {
        for body in [
            r#"{"token_type":"Bearer"}"#,
            r#"{"token_type":"Bearer","access_token":"a""#,
        ] {
            assert!(
                serde_json::from_str::<EntraTokenResponse>(body).is_err(),
                "{body}"
            );
        }
        let t = Target::Scopes(vec!["s".into()]);
        for (value, said) in [
            (r#""soon""#, "expires_in is not a number"),
            ("-5", "expires_in -5 is not a plausible lifetime"),
            ("[1]", "expires_in is not a number"),
            ("3599.5", "expires_in 3599.5 is not"),
            ("1e12", "expires_in 1000000000000 is not"),
            (
                "18446744073709551615",
                "expires_in 18446744073709551615 is not",
            ),
            (
                r#""18446744073709551615""#,
                "expires_in 18446744073709551615 is not",
            ),
        ] {
            let body =
                format!(r#"{{"token_type":"Bearer","access_token":"a.b.c","expires_in":{value}}}"#);
            let r: EntraTokenResponse = serde_json::from_str(&body).unwrap();
            let e = r.token_set(&t, "c", 1_800_000_000).unwrap_err().to_string();
            assert!(e.contains(said), "{value}: {e}");
            assert!(e.contains("not a token response"), "{e}");
        }
    }

    #[test]
    fn debug_never_shows_tokens() {
        let body = r#"{"token_type":"Bearer","access_token":"SECRET-AT","refresh_token":"SECRET-RT","id_token":"SECRET-ID"}"#;
        let r: EntraTokenResponse = serde_json::from_str(body).unwrap();
        let d = format!("{r:?}");
        assert!(!d.contains("SECRET"), "{d}");
    }
}
