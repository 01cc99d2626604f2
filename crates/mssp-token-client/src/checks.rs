//! Checks on a token before anything is printed or saved: the right customer tenant, the
//! required roles, the audience, the expiry. They compare values already decoded into the
//! token set ([`crate::token::Claims`]).

use crate::error::{fail, Exit};
use crate::time::{relative, rfc3339};
use crate::token::{Claims, TokenSet};
use anyhow::Result;

/// Where a token came from, for the wrong-tenant message: what likely went wrong and what to do.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// A browser sign-in (login): another customer's session answered.
    SignIn,
    /// The token endpoint (client credentials): it answered for another tenant.
    TokenEndpoint,
    /// The token cache: the entry at this path holds another tenant's token.
    Cache(&'a str),
    /// A token file the user named (`api --token-file`).
    File(&'a str),
}

/// The token's tenant must be the one asked for. A browser still signed in to another customer
/// must never yield that customer's token under this customer's name. `asked_as` is the tenant
/// as the user named it (a domain, or the GUID).
pub fn tenant_matches(set: &TokenSet, expected_tid: &str, asked_as: &str) -> Result<()> {
    tenant_is(set, expected_tid, asked_as, Source::SignIn)
}

/// [`tenant_matches`] for a token from `source`: every token, fresh or cached, is compared with
/// the tenant ID asked for (a domain resolved to its GUID first); a mismatch is exit 5 and the
/// caller prints and saves nothing.
pub fn tenant_is(set: &TokenSet, expected_tid: &str, asked_as: &str, source: Source) -> Result<()> {
    tid_is(set.claims.tid.as_deref(), expected_tid, asked_as, source)
}

/// [`tenant_is`] for a token's decoded `tid` claim (None: the token carries none).
pub fn tid_is(tid: Option<&str>, expected_tid: &str, asked_as: &str, source: Source) -> Result<()> {
    let Some(tid) = tid else {
        return Err(fail(
            Exit::Check,
            format!(
                "cannot confirm the token is for tenant {asked_as}: neither the access token nor an id_token carries a tid claim. Nothing was printed or saved"
            ),
        ));
    };
    if !tid.eq_ignore_ascii_case(expected_tid) {
        let asked = if asked_as.eq_ignore_ascii_case(expected_tid) {
            expected_tid.to_ascii_lowercase()
        } else {
            format!("{asked_as} ({})", expected_tid.to_ascii_lowercase())
        };
        let tid = crate::authority::printable(tid);
        let why = match source {
            Source::SignIn => "The browser was probably still signed in to another customer's account. Nothing was printed or saved. Sign in again with --prompt login, or use a separate browser profile per customer (--browser-command)".to_string(),
            Source::TokenEndpoint => "The token endpoint answered for another tenant: check --authority (and any proxy in between). Nothing was printed or saved".to_string(),
            Source::Cache(path) => format!(
                "The token came from the cache entry {path}, which holds another tenant's token: delete that file, or pass --no-cache. Nothing was printed or saved"
            ),
            Source::File(path) => format!(
                "The token came from {path}: use that customer's token file, or name its tenant. Nothing was sent"
            ),
        };
        return Err(fail(
            Exit::Check,
            format!(
                "wrong customer: you asked for tenant {asked}, but the token was issued by tenant {tid}. {why}"
            ),
        ));
    }
    Ok(())
}

/// Every required application permission must be in the token's `roles` claim.
pub fn roles_present(set: &TokenSet, required: &[String]) -> Result<()> {
    if required.is_empty() {
        return Ok(());
    }
    if crate::jwt::Jwt::decode(&set.access_token).is_err() {
        return Err(fail(
            Exit::Check,
            "cannot check roles: the access token is not a readable JWT",
        ));
    }
    let missing = missing_roles(&set.claims.roles, required);
    if missing.is_empty() {
        return Ok(());
    }
    Err(fail(
        Exit::Check,
        roles_message(&missing, &set.claims.roles, &set.tenant_id),
    ))
}

/// The required roles not present.
pub fn missing_roles(have: &[String], required: &[String]) -> Vec<String> {
    required
        .iter()
        .filter(|r| !have.iter().any(|h| h.eq_ignore_ascii_case(r)))
        .cloned()
        .collect()
}

pub fn roles_message(missing: &[String], have: &[String], tenant: &str) -> String {
    let have = if have.is_empty() {
        "no roles at all".to_string()
    } else {
        format!("only {}", have.join(", "))
    };
    format!(
        "the token lacks the role(s) {} (it has {have}). Add the application permission to the app registration, then have tenant {tenant}'s admin grant consent again (`mssp-token consent`)",
        missing.join(", ")
    )
}

/// What `inspect` is asked to check.
#[derive(Debug, Clone, Default)]
pub struct Expectations {
    pub roles: Vec<String>,
    pub tenant: Option<String>,
    pub audience: Option<String>,
}

impl Expectations {
    pub fn any(&self) -> bool {
        !self.roles.is_empty() || self.tenant.is_some() || self.audience.is_some()
    }
}

/// Every way the claims fail the expectations (empty: they pass). Expiry and not-before are
/// checked whenever anything is.
pub fn failures(claims: &Claims, nbf: Option<u64>, expect: &Expectations, now: u64) -> Vec<String> {
    let mut failures = Vec::new();
    if !expect.any() {
        return failures;
    }
    if let Some(exp) = claims.exp {
        let latest = now
            .saturating_add(crate::entra::lifetime::MAX_LIFETIME)
            .saturating_add(crate::entra::lifetime::CLOCK_SLACK);
        if exp <= now {
            failures.push(format!("expired {} ({})", rfc3339(exp), relative(exp, now)));
        } else if exp > latest {
            failures.push(format!(
                "exp {exp} is not a plausible expiry (Entra tokens live at most about a day; this one claims {})",
                relative(exp, now)
            ));
        }
    }
    if let Some(nbf) = nbf {
        if nbf > now + 300 {
            failures.push(format!("not valid before {}", rfc3339(nbf)));
        }
    }
    let missing = missing_roles(&claims.roles, &expect.roles);
    if !missing.is_empty() {
        let has = if claims.roles.is_empty() {
            "none".to_string()
        } else {
            claims.roles.join(", ")
        };
        failures.push(format!(
            "missing role(s) {} (has: {has})",
            missing.join(", ")
        ));
    }
    if let Some(t) = &expect.tenant {
        let tid = claims.tid.as_deref().unwrap_or("(no tid claim)");
        if !tid.eq_ignore_ascii_case(t.trim()) {
            failures.push(format!("tenant is {tid}, expected {}", t.trim()));
        }
    }
    if let Some(a) = &expect.audience {
        let want = a.trim().trim_end_matches('/');
        if !claims
            .aud
            .iter()
            .any(|x| x.trim_end_matches('/').eq_ignore_ascii_case(want))
        {
            failures.push(format!(
                "audience is {}, expected {}",
                if claims.aud.is_empty() {
                    "(none)".to_string()
                } else {
                    claims.aud.join(", ")
                },
                a.trim()
            ));
        }
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTOSO: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";
    const OTHER: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";

    fn set_of(tid: Option<&str>) -> TokenSet {
        let mut set: TokenSet = serde_json::from_value(serde_json::json!({
            "token_type": "Bearer", "access_token": "x", "expires_in": 1, "expires_on": 1,
            "expires_at": "", "tenant_id": "", "client_id": "", "endpoint": "v2"
        }))
        .unwrap();
        set.claims.tid = tid.map(str::to_string);
        set
    }

    #[test]
    fn every_source_refuses_another_tenant_and_says_what_to_do() {
        let ok = set_of(Some(CONTOSO));
        for source in [
            Source::SignIn,
            Source::TokenEndpoint,
            Source::Cache("/c/x.json"),
        ] {
            assert!(tenant_is(&ok, CONTOSO, "contoso.onmicrosoft.com", source).is_ok());
            assert!(tenant_is(&ok, &CONTOSO.to_uppercase(), CONTOSO, source).is_ok());
            let e = tenant_is(
                &set_of(Some(OTHER)),
                CONTOSO,
                "contoso.onmicrosoft.com",
                source,
            )
            .unwrap_err();
            assert_eq!(crate::error::exit_code_of(&e), 5);
            let m = e.to_string();
            assert!(
                m.contains(&format!("contoso.onmicrosoft.com ({CONTOSO})")) && m.contains(OTHER),
                "{m}"
            );
            let e = tenant_is(&set_of(None), CONTOSO, CONTOSO, source).unwrap_err();
            assert_eq!(crate::error::exit_code_of(&e), 5);
        }
        let m = tenant_is(
            &set_of(Some(OTHER)),
            CONTOSO,
            CONTOSO,
            Source::Cache("/c/x.json"),
        )
        .unwrap_err()
        .to_string();
        assert!(m.contains("/c/x.json") && m.contains("--no-cache"), "{m}");
    }
}

#[cfg(test)]
mod expiry_tests {
    use super::*;

    #[test]
    fn an_absurd_expiry_fails_the_checks_like_an_expired_one() {
        let now = 1_800_000_000;
        let expect = Expectations {
            tenant: Some("t".into()),
            ..Default::default()
        };
        let claims = |exp| Claims {
            tid: Some("t".into()),
            exp: Some(exp),
            ..Default::default()
        };
        assert!(failures(&claims(now + 3600), None, &expect, now).is_empty());
        let f = failures(&claims(1_000_000_000_000), None, &expect, now);
        assert!(
            f.iter().any(|x| x.contains("not a plausible expiry")),
            "{f:?}"
        );
        let f = failures(&claims(u64::MAX), None, &expect, now);
        assert_eq!(f.len(), 1, "{f:?}");
        let f = failures(&claims(now - 1), None, &expect, now);
        assert!(f[0].starts_with("expired"), "{f:?}");
    }
}
