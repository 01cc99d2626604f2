//! Client assertions at the token endpoint (client_assertion_type = jwt-bearer).
//!
//! An assertion whose `iss` or `sub` is the client ID is a certificate assertion, checked in
//! this order, each failure a 401 invalid_client:
//! 1. iss = sub = client_id, else AADSTS700021;
//! 2. header `alg` PS256 or RS256, else 700027;
//! 3. header `x5t#S256` (base64url SHA-256 of the DER) or legacy `x5t` (SHA-1) names a certificate
//!    registered on the app, else 700027 "...not registered on application"; a registered but
//!    expired (or not yet valid) certificate, 700027 "The key used is expired";
//! 4. the signature verifies with that certificate's key, else 700027 "Client assertion failed
//!    signature validation.";
//! 5. `aud` is this token endpoint: {authority or Host}/{tenant}/oauth2/token or
//!    .../oauth2/v2.0/token, the tenant given as GUID or any of its domains, else 700023;
//! 6. `exp` present and in the future, `nbf` not more than 5 minutes ahead, `exp` at most an
//!    hour (+5 minutes) ahead, else 700024;
//! 7. a `jti` never used before by this client (kept until the assertion's exp), else 50013
//!    (the sandbox's choice: Entra documents no code for a replayed jti).
//!
//! Malformed JWTs (not three base64url parts of JSON, no `iss`, no `jti`): 50027.
//! Anything else is a federated assertion: see federation.rs.

use crate::crypto::jws::{b64url_decode, Alg, Jws};
use crate::data::config::App;
use crate::errors::{self, Aadsts};
use crate::handlers::federation;
use crate::state::{now, Inner, TenantSel};
use crate::store::Version;

/// Tolerated clock skew for `nbf`.
pub const SKEW: i64 = 300;
/// Longest assertion lifetime accepted (clients send 5 to 10 minutes).
const MAX_LIFETIME: i64 = 3600;

/// The token endpoint a request reached: its tenant path segment, version and Host header.
pub struct Endpoint<'a> {
    pub seg: &'a str,
    pub version: Version,
    pub host: Option<&'a str>,
}

/// At most 200 characters of a value taken from the assertion, for error messages.
pub fn clip(s: &str) -> String {
    s.chars().take(200).collect()
}

pub fn authenticate(
    inner: &Inner,
    app: &App,
    ep: &Endpoint,
    assertion: &str,
) -> Result<(), Aadsts> {
    let jws = Jws::parse(assertion).ok_or_else(|| {
        errors::assertion_malformed(
            "the client_assertion is not a JWT: three base64url parts, the first two JSON objects",
        )
    })?;
    let iss = jws
        .claim_str("iss")
        .ok_or_else(|| errors::assertion_malformed("the assertion has no 'iss' claim"))?;
    let is_client = |c: Option<&str>| c.is_some_and(|c| c.eq_ignore_ascii_case(&app.client_id));
    if is_client(Some(iss)) || is_client(jws.claim_str("sub")) {
        certificate(inner, app, ep, &jws)
    } else {
        federation::authenticate(inner, app, &jws)
    }
}

fn certificate(inner: &Inner, app: &App, ep: &Endpoint, jws: &Jws) -> Result<(), Aadsts> {
    let is_client = |c: Option<&str>| c.is_some_and(|c| c.eq_ignore_ascii_case(&app.client_id));
    if !(is_client(jws.claim_str("iss")) && is_client(jws.claim_str("sub"))) {
        return Err(errors::assertion_client_mismatch());
    }
    let alg = jws.header_str("alg").and_then(Alg::parse).ok_or_else(|| {
        errors::assertion_signature(" (the assertion's header 'alg' must be PS256 or RS256)")
    })?;
    let (shown, cert) = match (jws.header_str("x5t#S256"), jws.header_str("x5t")) {
        (Some(t), _) => {
            let t = normalise_b64(t);
            (clip(&t), app.certs.iter().find(|c| c.s256 == t))
        }
        (None, Some(t)) => {
            let t = normalise_b64(t);
            let hex = b64url_decode(&t)
                .filter(|b| b.len() == 20)
                .map(|b| b.iter().map(|x| format!("{x:02X}")).collect())
                .unwrap_or_else(|| clip(&t));
            (hex, app.certs.iter().find(|c| c.sha1 == t))
        }
        (None, None) => (String::new(), None),
    };
    let cert = cert.ok_or_else(|| errors::certificate_not_registered(&shown, &app.client_id))?;
    let now = now() as i64;
    if now >= cert.not_after || now < cert.not_before {
        return Err(errors::certificate_expired(
            &cert.sha1_hex,
            cert.not_before,
            cert.not_after,
        ));
    }
    if !jws.verify(&cert.key, alg) {
        return Err(errors::assertion_signature(""));
    }
    let auds = jws.audiences();
    if !auds.iter().any(|a| audience_ok(inner, ep, a)) {
        let path = match ep.version {
            Version::V1 => "oauth2/token",
            Version::V2 => "oauth2/v2.0/token",
        };
        return Err(errors::assertion_audience(&format!(
            "{}/{}/{path}",
            inner.authority, ep.seg
        )));
    }
    let exp = check_time(jws, now, true)?;
    let jti = jws
        .claim_str("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| errors::assertion_malformed("the assertion has no 'jti' claim"))?;
    let until = u64::try_from(exp).unwrap_or(0);
    if !inner
        .lock()
        .use_jti(&app.client_id, jti, until, now.max(0) as u64)
    {
        return Err(errors::assertion_replayed(&clip(jti)));
    }
    Ok(())
}

/// base64 (standard or url-safe, padded or not) as unpadded base64url.
fn normalise_b64(s: &str) -> String {
    s.trim()
        .trim_end_matches('=')
        .replace('+', "-")
        .replace('/', "_")
}

/// exp, nbf (and, for client assertions, the lifetime) against the clock; returns exp.
pub fn check_time(jws: &Jws, now: i64, limit_lifetime: bool) -> Result<i64, Aadsts> {
    let nbf = jws.claim_time("nbf");
    let exp = jws.claim_time("exp");
    let fail = |why: &str| errors::assertion_time(now, nbf, exp, why);
    let Some(e) = exp else {
        return Err(fail("the assertion has no exp claim"));
    };
    if now >= e {
        return Err(fail("the assertion has expired"));
    }
    if nbf.is_some_and(|n| n > now + SKEW) {
        return Err(fail("the assertion is not valid yet: nbf is in the future"));
    }
    if limit_lifetime && e > now + MAX_LIFETIME + SKEW {
        return Err(fail(
            "exp is more than an hour ahead; client assertions should live 5 to 10 minutes",
        ));
    }
    Ok(e)
}

/// Whether `aud` names this token endpoint (v1 or v2 path, same tenant as the request's).
fn audience_ok(inner: &Inner, ep: &Endpoint, aud: &str) -> bool {
    let host_origin = ep.host.map(|h| format!("http://{h}"));
    let origins = std::iter::once(inner.authority.as_str()).chain(host_origin.as_deref());
    for origin in origins {
        let Some(rest) = strip_prefix_ci(aud, origin) else {
            continue;
        };
        let segs: Vec<&str> = rest.split('/').collect();
        let tenant = match segs.as_slice() {
            ["", t, "oauth2", "token"] | ["", t, "oauth2", "v2.0", "token"] => *t,
            _ => continue,
        };
        let same = match (inner.resolve_tenant(ep.seg), inner.resolve_tenant(tenant)) {
            (TenantSel::Id(a), TenantSel::Id(b)) => a == b,
            (TenantSel::Common, TenantSel::Common) => ep.seg.eq_ignore_ascii_case(tenant),
            _ => false,
        };
        if same {
            return true;
        }
    }
    false
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s.get(prefix.len()..))
        .flatten()
}
