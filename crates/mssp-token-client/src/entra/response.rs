//! The token endpoint's success JSON, parsed once: v1 sends numbers as strings
//! (`"expires_in":"3599"`), v2 sends numbers. Plugged into oauth2 as its token response type.

use crate::redacted::SecretString;
use crate::time::rfc3339;
use crate::token::{Claims, Target, TokenSet};
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

impl EntraTokenResponse {
    /// The token set of this response, decoding the claims once. `sent_at` is the
    /// time the request was sent, so that expiry errs early rather than late. `tenant_id` is the
    /// token's own `tid` (empty when it has none; the tenant check refuses that).
    pub fn token_set(&self, target: &Target, client_id: &str, sent_at: u64) -> TokenSet {
        let r = self;
        let expires_in = r.expires_in.unwrap_or(3599);
        // v1 sends expires_on; v2 does not. Trust our own clock over a far-off server value.
        let expires_on = match r.expires_on {
            Some(on) if on.abs_diff(sent_at + expires_in) < 600 => on,
            _ => sent_at + expires_in,
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
        let id_token = r.id_token.as_ref().map(|t| t.expose().to_string());
        let claims = Claims::decode(r.access_token.secret(), id_token.as_deref());
        TokenSet {
            token_type: r.token_type.0.clone(),
            access_token: r.access_token.secret().clone(),
            refresh_token: r.refresh_token.as_ref().map(|t| t.secret().clone()),
            id_token,
            expires_in,
            expires_on,
            expires_at: rfc3339(expires_on),
            tenant_id: claims.tid.clone().unwrap_or_default(),
            client_id: client_id.to_string(),
            resource,
            scope,
            endpoint: target.version().label().to_string(),
            claims,
        }
    }
}
