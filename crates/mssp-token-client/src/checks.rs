//! Checks on a token before anything is printed or saved: the right customer tenant, the
//! required roles, the audience, the expiry. They compare values already decoded into the
//! token set ([`crate::token::Claims`]).

use crate::error::{fail, Exit};
use crate::time::{relative, rfc3339};
use crate::token::{Claims, TokenSet};
use anyhow::Result;

/// The token's tenant must be the one asked for. A browser still signed in to another customer
/// must never yield that customer's token under this customer's name. `asked_as` is the tenant
/// as the user named it (a domain, or the GUID).
pub fn tenant_matches(set: &TokenSet, expected_tid: &str, asked_as: &str) -> Result<()> {
    let Some(tid) = set.claims.tid.as_deref() else {
        return Err(fail(
            Exit::Check,
            format!(
                "cannot confirm the token is for tenant {asked_as}: neither the access token nor an id_token carries a tid claim. Nothing was printed or saved"
            ),
        ));
    };
    if tid != expected_tid.to_ascii_lowercase() {
        let asked = if asked_as == expected_tid {
            expected_tid.to_string()
        } else {
            format!("{asked_as} ({expected_tid})")
        };
        return Err(fail(
            Exit::Check,
            format!(
                "wrong customer: you asked for tenant {asked}, but the token was issued by tenant {tid}. The browser was probably still signed in to another customer's account. Nothing was printed or saved. Sign in again with --prompt login, or use a separate browser profile per customer (--browser-command)"
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
        if exp <= now {
            failures.push(format!("expired {} ({})", rfc3339(exp), relative(exp, now)));
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
