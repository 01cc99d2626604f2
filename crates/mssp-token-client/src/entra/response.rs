//! The token endpoint's success JSON, parsed once (v1 sends numbers as strings,
//! `"expires_in":"3599"`, v2 sends numbers) and checked before anything is printed or saved: the
//! strings against Entra's alphabets ([`super::shapes`]), the numbers and the tokens' times
//! against plausible bounds ([`super::lifetime`]). Plugged into oauth2 as its token response type.

use super::lifetime::{self, numeric, Numeric};
use super::shapes;
use crate::error::{fail, Exit};
use crate::jwt::Jwt;
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

/// The token endpoint's success JSON, v1 or v2. Numeric fields take any JSON value (a number, a
/// string holding one, or garbage) so that a bad one is reported by name and value, not as a
/// parse error; [`EntraTokenResponse::token_set`] judges them.
#[derive(Debug, Serialize, Deserialize)]
pub struct EntraTokenResponse {
    pub token_type: EntraTokenType,
    pub access_token: AccessToken,
    #[serde(default)]
    pub refresh_token: Option<RefreshToken>,
    #[serde(default, skip_serializing)]
    pub id_token: Option<SecretString>,
    #[serde(default, deserialize_with = "numeric", skip_serializing)]
    pub expires_in: Option<Numeric>,
    /// Not used (the extended lifetime applies during Entra outages); never judged.
    #[serde(default, deserialize_with = "numeric", skip_serializing)]
    pub ext_expires_in: Option<Numeric>,
    #[serde(default, deserialize_with = "numeric", skip_serializing)]
    pub expires_on: Option<Numeric>,
    /// Not used; never judged.
    #[serde(default, deserialize_with = "numeric", skip_serializing)]
    pub not_before: Option<Numeric>,
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
        match self.expires_in {
            Some(Numeric::Whole(s)) => Some(Duration::from_secs(s)),
            _ => None,
        }
    }
    fn refresh_token(&self) -> Option<&RefreshToken> {
        self.refresh_token.as_ref()
    }
    fn scopes(&self) -> Option<&Vec<Scope>> {
        self.scope.as_ref()
    }
}

/// `scope`: split on spaces only (as Entra sends it), so that a tab, a newline or another control
/// character stays inside a scope and is refused there rather than silently dropped.
fn space_separated<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<Scope>>, D::Error> {
    Ok(Option::<String>::deserialize(d)?.map(|s| {
        s.split(' ')
            .filter(|p| !p.is_empty())
            .map(|p| Scope::new(p.to_string()))
            .collect()
    }))
}

/// Refuses an answer: exit 6, naming the field and what is wrong with it (never its value).
fn refuse(why: &str) -> anyhow::Error {
    fail(
        Exit::Network,
        format!(
            "the token endpoint's answer is not a token response: {why}. Nothing was printed or saved. A proxy or something other than Entra ID may be answering; check --authority, HTTPS_PROXY and NO_PROXY"
        ),
    )
}

impl EntraTokenResponse {
    /// Every string against Entra's alphabets and every number against plausible bounds; the
    /// first failure, as "field is not ...".
    fn judge(&self, sent_at: u64) -> Result<(), String> {
        let field = |name: &str, r: Result<(), String>| r.map_err(|why| format!("{name} {why}"));
        field("token_type", shapes::token_type(&self.token_type.0))?;
        field("access_token", shapes::jwt(self.access_token.secret()))?;
        if let Some(rt) = &self.refresh_token {
            field("refresh_token", shapes::refresh_token(rt.secret()))?;
        }
        if let Some(id) = &self.id_token {
            field("id_token", shapes::jwt(id.expose()))?;
        }
        if let Some(r) = &self.resource {
            field("resource", shapes::target(r))?;
        }
        for s in self.scope.iter().flatten() {
            field("scope", shapes::target(s.as_str()))?;
        }
        if let Some(n) = &self.expires_in {
            lifetime::expires_in(n)?;
        }
        if let Some(n) = &self.expires_on {
            lifetime::expiry("expires_on", n, sent_at)?;
        }
        // The tokens' own claims, when they can be read (an encrypted token cannot).
        let tokens = [
            (
                "the access token's",
                Some(self.access_token.secret().as_str()),
            ),
            ("the id_token's", self.id_token.as_ref().map(|t| t.expose())),
        ];
        for (which, token) in tokens {
            let Some(jwt) = token.and_then(|t| Jwt::decode(t).ok()) else {
                continue;
            };
            if let Some(tid) = jwt.claims.get("tid") {
                match tid.as_str() {
                    Some(t) => field(&format!("{which} tid"), shapes::tenant_id(t))?,
                    None => return Err(format!("{which} tid is not a tenant ID (a GUID)")),
                }
            }
            lifetime::token_times(which, &jwt.claims, sent_at)?;
        }
        Ok(())
    }

    /// The token set of this response, decoding the claims once, after checking every field
    /// ([`Self::judge`]; exit 6 "not a token response" otherwise). `sent_at` is the time the
    /// request was sent, so that expiry errs early rather than late. `tenant_id` is the token's
    /// own `tid` (empty when it has none; the tenant check refuses that).
    pub fn token_set(
        &self,
        target: &Target,
        client_id: &str,
        sent_at: u64,
    ) -> anyhow::Result<TokenSet> {
        let r = self;
        crate::redacted::register(r.access_token.secret());
        if let Some(rt) = &r.refresh_token {
            crate::redacted::register(rt.secret());
        }
        r.judge(sent_at).map_err(|why| refuse(&why))?;
        let expires_in = match &r.expires_in {
            Some(n) => lifetime::expires_in(n).map_err(|why| refuse(&why))?,
            None => 3599,
        };
        let computed = sent_at.saturating_add(expires_in);
        // v1 sends expires_on; v2 does not. Trust our own clock over a far-off server value.
        let expires_on = match r.expires_on {
            Some(Numeric::Whole(on)) if on.abs_diff(computed) < 600 => on,
            _ => computed,
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
        let id_token = r.id_token.as_ref().map(|t| t.expose().to_string());
        let claims = Claims::decode(r.access_token.secret(), id_token.as_deref());
        Ok(TokenSet {
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
            authority: None,
            cloud: None,
            claims,
        })
    }
}
