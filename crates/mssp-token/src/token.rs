//! Token responses from Entra (v1 with numbers as strings, v2 with numbers) and the token set
//! this tool prints and saves.

use crate::redacted::SecretString;
use oauth2::{AccessToken, RefreshToken, Scope};
use serde::{Deserialize, Deserializer, Serialize};
use std::time::Duration;

/// `token_type` as Entra sends it ("Bearer"), kept as given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EntraTokenType(pub String);

impl oauth2::TokenType for EntraTokenType {}

/// The token endpoint's success JSON, v1 or v2. Every numeric field accepts a number or a
/// string holding a number: v1 sends `"expires_in":"3599"`.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntraTokenResponse {
    pub token_type: EntraTokenType,
    pub access_token: AccessToken,
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing)]
    pub id_token: Option<SecretString>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub ext_expires_in: Option<u64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub expires_on: Option<u64>,
    #[serde(default, deserialize_with = "number_or_string")]
    pub not_before: Option<u64>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default, deserialize_with = "space_separated")]
    pub scope: Option<Vec<Scope>>,
}

impl oauth2::TokenResponse for EntraTokenResponse {
    type TokenType = EntraTokenType;

    fn access_token(&self) -> &AccessToken {
        &self.access_token
    }
    fn token_type(&self) -> &EntraTokenType {
        &self.token_type
    }
    fn expires_in(&self) -> Option<Duration> {
        self.expires_in.map(Duration::from_secs)
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref()
    }
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Num(u64),
        Float(f64),
        Str(String),
    }
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::Num(n)) => Ok(Some(n)),
        Some(NumOrStr::Float(f)) if f >= 0.0 && f.is_finite() => Ok(Some(f as u64)),
        Some(NumOrStr::Float(_)) => Err(serde::de::Error::custom("expected a non-negative number")),
        Some(NumOrStr::Str(s)) => s.trim().parse::<u64>().map(Some).map_err(|_| {
            serde::de::Error::custom("expected a number or a string holding a number")
        }),
    }
}

fn space_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| {
        s.split_whitespace()
            .map(|p| Scope::new(p.to_string()))
            .collect()
    }))
}

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
    /// Builds the token set from Entra's response. `now` is the time the request was sent, so
    /// that expiry errs early rather than late.
    pub fn from_response(
        r: &EntraTokenResponse,
        target: &Target,
        tenant_id: &str,
        client_id: &str,
        now: u64,
    ) -> TokenSet {
        let expires_in = r.expires_in.unwrap_or(3599);
        // v1 sends expires_on; v2 does not. Trust our own clock over a far-off server value.
        let expires_on = match r.expires_on {
            Some(on) if on.abs_diff(now + expires_in) < 600 => on,
            _ => now + expires_in,
        };
        let (resource, scope) = match target {
            Target::Resource(res) => (
                Some(r.resource.clone().unwrap_or_else(|| res.clone())),
                None,
            ),
            Target::Scopes(s) => (
                None,
                Some(
                    r.scope
                        .as_ref()
                        .map(|v| v.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(" "))
                        .unwrap_or_else(|| s.join(" ")),
                ),
            ),
        };
        crate::redacted::register(r.access_token.secret());
        if let Some(rt) = &r.refresh_token {
            crate::redacted::register(rt.secret());
        }
        TokenSet {
            token_type: r.token_type.0.clone(),
            access_token: r.access_token.secret().clone(),
            refresh_token: r.refresh_token.as_ref().map(|t| t.secret().clone()),
            id_token: r.id_token.as_ref().map(|t| t.expose().to_string()),
            expires_in,
            expires_on,
            expires_at: rfc3339(expires_on),
            tenant_id: tenant_id.to_string(),
            client_id: client_id.to_string(),
            resource,
            scope,
            endpoint: target.version().label().to_string(),
        }
    }
}

/// Seconds since the epoch, now.
pub fn now_epoch() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 in UTC with a `Z`, to the second.
pub fn rfc3339(epoch: u64) -> String {
    let t = std::time::UNIX_EPOCH + Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// "in 42 min", "in 3 h 5 min", "2 min ago".
pub fn relative(epoch: u64, now: u64) -> String {
    let (d, future) = if epoch >= now {
        (epoch - now, true)
    } else {
        (now - epoch, false)
    };
    let text = if d < 60 {
        format!("{d} s")
    } else if d < 3600 {
        format!("{} min", d / 60)
    } else if d < 86400 * 2 {
        format!("{} h {} min", d / 3600, (d % 3600) / 60)
    } else {
        format!("{} days", d / 86400)
    };
    if future {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use oauth2::TokenResponse;

    #[test]
    fn v1_numbers_as_strings() {
        let body = r#"{"token_type":"Bearer","scope":"user_impersonation","expires_in":"3599","ext_expires_in":"3599","expires_on":"1763812345","not_before":"1763808445","resource":"https://api.securitycenter.microsoft.com","access_token":"eyJ0.eyJ1.sig","refresh_token":"0.AAAA","id_token":"eyJ0.eyJ2."}"#;
        let r: EntraTokenResponse = serde_json::from_str(body).unwrap();
        assert_eq!(r.expires_in(), Some(Duration::from_secs(3599)));
        assert_eq!(r.expires_on, Some(1763812345));
        assert_eq!(r.refresh_token().unwrap().secret(), "0.AAAA");
        let t = Target::Resource("https://api.securitycenter.microsoft.com".into());
        let set = TokenSet::from_response(&r, &t, "tid", "cid", 1763812345 - 3599);
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
        assert_eq!(r.expires_in, Some(3599));
        assert_eq!(r.scopes().unwrap().len(), 2);
        let t = Target::Scopes(vec!["x".into()]);
        let set = TokenSet::from_response(&r, &t, "tid", "cid", 1000);
        assert_eq!(set.expires_on, 4599);
        assert_eq!(set.endpoint, "v2");
        assert!(set.scope.unwrap().contains("offline_access"));
    }

    #[test]
    fn bad_numbers_are_errors_not_panics() {
        for body in [
            r#"{"token_type":"Bearer","access_token":"a","expires_in":"soon"}"#,
            r#"{"token_type":"Bearer","access_token":"a","expires_in":-5}"#,
            r#"{"token_type":"Bearer","access_token":"a","expires_in":[1]}"#,
            r#"{"token_type":"Bearer"}"#,
            r#"{"token_type":"Bearer","access_token":"a""#,
        ] {
            assert!(
                serde_json::from_str::<EntraTokenResponse>(body).is_err(),
                "{body}"
            );
        }
    }

    #[test]
    fn debug_never_shows_tokens() {
        let body = r#"{"token_type":"Bearer","access_token":"SECRET-AT","refresh_token":"SECRET-RT","id_token":"SECRET-ID"}"#;
        let r: EntraTokenResponse = serde_json::from_str(body).unwrap();
        let d = format!("{r:?}");
        assert!(!d.contains("SECRET"), "{d}");
    }

    #[test]
    fn relative_times() {
        assert_eq!(relative(100 + 42 * 60, 100), "in 42 min");
        assert_eq!(relative(100, 220), "2 min ago");
    }
}
