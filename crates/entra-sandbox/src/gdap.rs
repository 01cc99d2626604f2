//! Partner access (GDAP and the Secure Application Model): a partner user's refresh token
//! redeemed at a CUSTOMER's token endpoint. The customer must have an active GDAP relationship
//! with the user's (partner) tenant that gives one of the user's security groups some Entra
//! roles; the answer is then a delegated token in the customer tenant whose `wids` are those
//! roles. Otherwise Entra's errors: no relationship or not in an approved group (50020),
//! relationship expired (50020, UNVERIFIED: the text says so here), delegated admin blocked
//! for risk (530034), MFA required (50076). The app's consent in the customer tenant (65001)
//! is checked by the token handler, as for every grant.
//!
//! Also the configuration's checks for groups and relationships (data/config.rs).

use crate::data::config::{GdapCfg, Tenant};
use crate::errors::{self, Aadsts};
use crate::state::Inner;
use crate::store::Account;
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;

/// Built-in Entra roles a relationship can grant: name and role template ID (the `wids` value).
pub const ROLES: [(&str, &str); 8] = [
    (
        "Global Administrator",
        "62e90394-69f5-4237-9190-012177145e10",
    ),
    ("Global Reader", "f2ef992c-3afb-46b9-b7cf-a126ee74c451"),
    (
        "Security Administrator",
        "194ae4cb-b126-40b2-bd5b-6091b380977d",
    ),
    ("Security Operator", "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f"),
    ("Security Reader", "5d6b6bb7-de71-4623-b4af-96380a352509"),
    (
        "Helpdesk Administrator",
        "729827e3-9c14-49f7-bb1b-9608f156bbb8",
    ),
    ("User Administrator", "fe930be7-5e62-47db-91af-98c3a49a38b1"),
    ("Directory Readers", "88d8e3e3-8f55-4a1e-953a-9b9898b8876b"),
];

/// A role's template ID from its name (any case) or its GUID.
pub fn role_id(role: &str) -> Option<String> {
    if let Some((_, id)) = ROLES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(role.trim()))
    {
        return Some(id.to_string());
    }
    uuid::Uuid::parse_str(role)
        .ok()
        .filter(|_| role.len() == 36)
        .map(|u| u.hyphenated().to_string())
}

/// One tenant's groups and relationships, on their own (the partner side is checked by
/// [`validate_relationships`]).
pub fn validate_tenant(i: usize, t: &mut Tenant) -> Result<()> {
    let mut ids = BTreeSet::new();
    for (j, g) in t.groups.iter_mut().enumerate() {
        let at = || format!("tenants[{i}].groups[{j}]");
        g.id = match uuid::Uuid::parse_str(&g.id) {
            Ok(u) if g.id.len() == 36 => u.hyphenated().to_string(),
            _ => bail!("{}.id: '{}' is not a GUID", at(), g.id),
        };
        if !ids.insert(g.id.clone()) || g.name.trim().is_empty() {
            bail!("{}: an empty name, or an id used twice", at());
        }
        for m in &g.members {
            if !t.users.iter().any(|u| u.upn.eq_ignore_ascii_case(m)) {
                bail!(
                    "{}.members: '{m}' is not a user of tenant {}",
                    at(),
                    t.domain
                );
            }
        }
    }
    for (j, r) in t.gdap.iter_mut().enumerate() {
        let at = format!("tenants[{i}].gdap[{j}]");
        if let Some(e) = &r.expires {
            let when = humantime::parse_rfc3339_weak(e)
                .with_context(|| format!("{at}.expires: '{e}' is not an RFC 3339 time"))?;
            r.expires_epoch = Some(crate::data::config::epoch(when));
        }
        if r.access.is_empty() {
            bail!("{at}.access: at least one group and its roles are needed");
        }
        for (k, a) in r.access.iter_mut().enumerate() {
            if a.roles.is_empty() {
                bail!("{at}.access[{k}].roles: at least one role is needed");
            }
            for role in a.roles.iter_mut() {
                *role = role_id(role).with_context(|| {
                    format!(
                        "{at}.access[{k}].roles: '{role}' is neither a role template GUID nor one of: {}",
                        ROLES.map(|(n, _)| n).join(", ")
                    )
                })?;
            }
        }
    }
    Ok(())
}

/// A tenant's GUID, domain and groups (id, name).
type TenantView = (String, String, Vec<(String, String)>);

/// Resolves each relationship's partner (to its GUID) and groups (to the partner's group ids).
pub fn validate_relationships(tenants: &mut [Tenant]) -> Result<()> {
    let view: Vec<TenantView> = tenants
        .iter()
        .map(|t| {
            let groups = t
                .groups
                .iter()
                .map(|g| (g.id.clone(), g.name.clone()))
                .collect();
            (t.id.clone(), t.domain.clone(), groups)
        })
        .collect();
    for (i, t) in tenants.iter_mut().enumerate() {
        for (j, r) in t.gdap.iter_mut().enumerate() {
            let at = format!("tenants[{i}].gdap[{j}]");
            let key = r.partner.to_ascii_lowercase();
            let Some((pid, _, groups)) = view.iter().find(|(id, d, _)| *id == key || *d == key)
            else {
                bail!("{at}.partner: '{}' is not one of the tenants", r.partner);
            };
            if *pid == t.id {
                bail!("{at}.partner: a tenant cannot be its own partner");
            }
            r.partner = pid.clone();
            for (k, a) in r.access.iter_mut().enumerate() {
                let g = a.group.to_ascii_lowercase();
                match groups
                    .iter()
                    .find(|(id, name)| *id == g || name.eq_ignore_ascii_case(&g))
                {
                    Some((id, _)) => a.group = id.clone(),
                    None => bail!(
                        "{at}.access[{k}].group: '{}' is not a group of the partner tenant",
                        a.group
                    ),
                }
            }
        }
    }
    Ok(())
}

impl GdapCfg {
    pub fn is_active(&self, now: u64) -> bool {
        self.expires_epoch.is_none_or(|e| now < e)
    }
}

/// The GDAP check of a partner refresh token (signed-in `account`, of a partner tenant)
/// redeemed in tenant `customer`: the role template IDs the user holds there (the `wids`), or
/// Entra's error.
pub fn admit(
    inner: &Inner,
    customer: &str,
    account: &Account,
    now: u64,
) -> Result<Vec<String>, Aadsts> {
    let cfg = &inner.cfg;
    let tenant_name = inner.tenant_name(customer);
    let no_access = |extra: &str| {
        let mut e = errors::user_not_in_tenant(&account.upn, &tenant_name);
        e.error = "invalid_grant";
        e.message.push_str(extra);
        e
    };
    let Some(tenant) = cfg.tenant_by_id(customer) else {
        return Err(no_access(""));
    };
    let relationships: Vec<&GdapCfg> = tenant
        .gdap
        .iter()
        .filter(|r| r.partner == account.tid)
        .collect();
    if relationships.is_empty() {
        return Err(no_access(""));
    }
    let active: Vec<&GdapCfg> = relationships
        .iter()
        .copied()
        .filter(|r| r.is_active(now))
        .collect();
    if active.is_empty() {
        let r = relationships[0];
        let when = r
            .expires_epoch
            .map(|e| {
                humantime::format_rfc3339_seconds(
                    std::time::UNIX_EPOCH + std::time::Duration::from_secs(e),
                )
                .to_string()
            })
            .unwrap_or_default();
        return Err(no_access(&format!(
            " The delegated admin relationship '{}' between the partner and this tenant expired on {when}.",
            r.name
        )));
    }
    let groups: BTreeSet<&str> = cfg
        .tenant_by_id(&account.tid)
        .map(|p| {
            p.groups
                .iter()
                .filter(|g| {
                    g.members
                        .iter()
                        .any(|m| m.eq_ignore_ascii_case(&account.upn))
                })
                .map(|g| g.id.as_str())
                .collect()
        })
        .unwrap_or_default();
    let mut wids: Vec<String> = Vec::new();
    let mut require_mfa = false;
    for r in &active {
        for a in r
            .access
            .iter()
            .filter(|a| groups.contains(a.group.as_str()))
        {
            require_mfa |= r.require_mfa;
            for role in &a.roles {
                if !wids.contains(role) {
                    wids.push(role.clone());
                }
            }
        }
    }
    if wids.is_empty() {
        return Err(no_access(""));
    }
    let risky = cfg.user(&account.upn).is_some_and(|(_, u)| u.risky);
    if risky {
        return Err(Aadsts::new(400, "invalid_grant", 530034, format!(
            "Delegated admin user '{}' was blocked from accessing tenant '{tenant_name}' because of risk detected on the account in its home (partner) tenant. Remediate the user's risk in the partner tenant (Identity Protection), then sign in again.",
            account.upn
        )));
    }
    if require_mfa {
        return Err(Aadsts::new(400, "invalid_grant", 50076, format!(
            "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '{tenant_name}'."
        )));
    }
    Ok(wids)
}

/// The extra claims of a partner's token in a customer tenant: the roles (`wids`) and the
/// partner tenant as the identity provider (`idp`), as for any foreign principal.
pub fn claims(account: &Account, wids: &[String]) -> serde_json::Map<String, serde_json::Value> {
    let mut m = serde_json::Map::new();
    m.insert("wids".into(), serde_json::json!(wids));
    m.insert(
        "idp".into(),
        format!("https://sts.windows.net/{}/", account.tid).into(),
    );
    m
}
