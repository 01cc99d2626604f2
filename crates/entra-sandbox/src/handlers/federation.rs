//! Workload identity federation: a simulated external OIDC issuer (think GitHub Actions or a
//! Kubernetes service-account issuer) and the check of federated client assertions.
//!
//! - GET {authority}/sandbox-oidc/.well-known/openid-configuration and .../.well-known/jwks
//! - POST /sandbox/federated-token (form: subject, audience, lifetime_secs, issuer; all
//!   optional) returns a freshly signed external JWT as text/plain. A negative lifetime gives an
//!   already expired token.
//!
//! The simulated issuer's one RSA key signs every external token, whatever its `iss`: the
//! sandbox cannot fetch real issuers' keys, so a federated assertion must come from here.
//! Checks: (iss, sub, aud) must equal a federated credential of the app (exact, case-sensitive,
//! as Entra), else 401 invalid_client AADSTS70021; then RS256 signature with the issuer key,
//! else 700027; then exp in the future / nbf not ahead, else 700024. No jti replay check:
//! platforms hand the same token to every request until it expires.

use crate::assertion::{check_time, clip};
use crate::crypto::jws::{Alg, Jws};
use crate::crypto::keys::{guid, Keys};
use crate::data::config::{App, FIC_AUDIENCE};
use crate::errors::{self, Aadsts};
use crate::http::{Req, Resp};
use crate::state::{now, Inner};
use serde_json::json;

/// The path of the simulated issuer under the authority.
pub const OIDC_PATH: &str = "sandbox-oidc";
/// The built-in main app's federated credential subject (a GitHub Actions branch).
pub const DEFAULT_SUBJECT: &str = "repo:mssp/siem-onboarding:ref:refs/heads/main";
/// Longest lifetime POST /sandbox/federated-token accepts, either way.
const MAX_MINT_LIFETIME: i64 = 366 * 86_400;

pub fn issuer_url(authority: &str) -> String {
    format!("{authority}/{OIDC_PATH}")
}

/// The subject the main app's federated credential with the simulated issuer expects.
pub fn main_subject(app: &App, authority: &str) -> String {
    let iss = issuer_url(authority);
    app.federated_credentials
        .iter()
        .find(|f| f.issuer == iss)
        .map(|f| f.subject.clone())
        .unwrap_or_else(|| DEFAULT_SUBJECT.to_string())
}

/// An external JWT signed by the simulated issuer.
pub fn external_token(
    keys: &Keys,
    iss: &str,
    sub: &str,
    aud: &str,
    lifetime: i64,
    now: i64,
) -> String {
    let exp = now.saturating_add(lifetime);
    let iat = if lifetime > 0 { now } else { exp - 600 };
    keys.sign_jwt(&json!({
        "iss": iss,
        "sub": sub,
        "aud": aud,
        "iat": iat,
        "nbf": iat,
        "exp": exp,
        "jti": guid(),
        "sandbox": true,
    }))
}

pub fn authenticate(inner: &Inner, app: &App, jws: &Jws) -> Result<(), Aadsts> {
    let iss = jws.claim_str("iss").unwrap_or("");
    let sub = jws.claim_str("sub").unwrap_or("");
    let auds = jws.audiences();
    let matched = app
        .federated_credentials
        .iter()
        .any(|f| f.issuer == iss && f.subject == sub && auds.iter().any(|a| *a == f.audience));
    if !matched {
        return Err(errors::federated_no_match(
            &clip(iss),
            &clip(sub),
            &clip(&auds.join(", ")),
        ));
    }
    let signed = jws.header_str("alg").and_then(Alg::parse) == Some(Alg::Rs256)
        && jws.header_str("kid") == Some(inner.oidc.kid.as_str())
        && jws.verify(inner.oidc.public(), Alg::Rs256);
    if !signed {
        return Err(errors::assertion_signature(
            " (the federated token is not signed by the sandbox's simulated OIDC issuer; get one from POST /sandbox/federated-token)",
        ));
    }
    check_time(jws, now() as i64, false).map(|_| ())
}

/// GET {authority}/sandbox-oidc/.well-known/openid-configuration
pub fn openid_configuration(inner: &Inner) -> Resp {
    let iss = issuer_url(&inner.authority);
    Resp::json(
        200,
        &json!({
            "issuer": iss,
            "jwks_uri": format!("{iss}/.well-known/jwks"),
            "subject_types_supported": ["public", "pairwise"],
            "response_types_supported": ["id_token"],
            "claims_supported": ["sub", "aud", "exp", "iat", "iss", "jti", "nbf"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid"],
            "sandbox": true,
        }),
    )
}

/// GET {authority}/sandbox-oidc/.well-known/jwks
pub fn jwks(inner: &Inner) -> Resp {
    Resp::json(200, &inner.oidc.oidc_jwks())
}

/// POST /sandbox/federated-token
pub fn mint(inner: &Inner, req: &Req) -> Resp {
    let mut f = req.form_params();
    f.extend(req.query_params());
    let bad = |msg: &str| Resp::plain_error(400, "invalid_request", msg);
    let lifetime = match f.get("lifetime_secs").map(|v| v.trim().parse::<i64>()) {
        None => 3600,
        Some(Ok(n)) if n.unsigned_abs() <= MAX_MINT_LIFETIME.unsigned_abs() && n != 0 => n,
        Some(_) => {
            return bad("lifetime_secs must be a non-zero number of seconds within a year (negative: already expired)")
        }
    };
    let iss = f
        .get("issuer")
        .map(str::to_string)
        .unwrap_or_else(|| issuer_url(&inner.authority));
    let sub = f
        .get("subject")
        .map(str::to_string)
        .unwrap_or_else(|| main_subject(&inner.cfg.apps[0], &inner.authority));
    let aud = f.get("audience").unwrap_or(FIC_AUDIENCE);
    let jwt = external_token(&inner.oidc, &iss, &sub, aud, lifetime, now() as i64);
    Resp::new(200, "text/plain; charset=utf-8", jwt.into_bytes())
}
