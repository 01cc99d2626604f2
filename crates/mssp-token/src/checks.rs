//! Checks on a token before anything is printed or saved: right customer tenant (and, later,
//! required roles and audience).

use crate::error::{fail, Exit};
use crate::jwt::Jwt;
use crate::token::TokenSet;
use anyhow::Result;

/// The token's tenant must be the one asked for. A browser still signed in to another customer
/// must never yield that customer's token under this customer's name.
pub fn tenant_matches(set: &TokenSet, expected_tid: &str, asked_as: &str) -> Result<()> {
    let from_access = Jwt::decode(&set.access_token)
        .ok()
        .and_then(|j| j.tenant_id());
    let from_id = set
        .id_token
        .as_deref()
        .and_then(|t| Jwt::decode(t).ok())
        .and_then(|j| j.tenant_id());
    let Some(tid) = from_access.or(from_id) else {
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
    let jwt = Jwt::decode(&set.access_token).map_err(|_| {
        fail(
            Exit::Check,
            "cannot check roles: the access token is not a readable JWT",
        )
    })?;
    let missing = missing_roles(&jwt.roles(), required);
    if missing.is_empty() {
        return Ok(());
    }
    Err(fail(
        Exit::Check,
        roles_message(&missing, &jwt.roles(), &set.tenant_id),
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
