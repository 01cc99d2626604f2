//! `--tenants N`: N generated customer tenants added to the configured set (built-in or
//! `--config`), for rehearsing `onboard` at scale.
//!
//! Tenant i (1-based): domain `tenant{i:05}.onmicrosoft.com`, name `Tenant {i:05}`, a GUID derived
//! from i (the same on every run), one user `admin@tenant{i:05}.onmicrosoft.com`.
//!
//! The mix of states is fixed by i (see [`MIX_RULE`]): with r = (49 × i) mod 100,
//! - r < 85: the main app is consented with roles Alert.Read.All and Incident.Read.All (85%);
//! - 85 ≤ r < 90: the main app is consented with Alert.Read.All only, so a role check that
//!   requires Incident.Read.All fails (5%);
//! - 90 ≤ r < 96: nothing is consented: client credentials get AADSTS700016 (6%);
//! - 96 ≤ r: the tenant was onboarded with the legacy app only, whose secret has expired: the
//!   main app is not consented there, the legacy app is, and its client credentials get
//!   AADSTS7000222 (4%).
//!
//! GDAP (partner access, gdap.rs): when the main app's home tenant (the MSSP) has security
//! groups, every generated tenant except the legacy ones has an active GDAP relationship giving
//! the MSSP's first group Security Reader; so `onboard --partner` meets working tenants, tenants
//! where the app is not consented (65001) and tenants without a relationship (50020).
//!
//! 49 is coprime with 100, so every block of 100 consecutive tenants holds exactly 85, 5, 6 and
//! 4 of each state, and the states are spread out (tenant 2 and 4 are legacy, 6 is not
//! consented, 12 misses a role).

use crate::crypto::keys::derived_guid;
use crate::data::config::{App, Config, GdapAccess, GdapCfg, GrantCfg, Tenant, User};
use anyhow::{bail, Context, Result};

/// The rule above, in one line (also in the sandbox's info object).
pub const MIX_RULE: &str = "r = (49*i) mod 100 for tenant i: r < 85 main app consented with [Alert.Read.All, Incident.Read.All]; 85 <= r < 90 main app consented with [Alert.Read.All] only; 90 <= r < 96 not consented (AADSTS700016); r >= 96 only the legacy app is consented, and its secret is expired (AADSTS7000222); GDAP (if the MSSP tenant has groups): every tenant but the legacy ones has an active relationship giving the MSSP's first group Security Reader";

/// The environment variable the tenants file names for the legacy app's secret.
pub const LEGACY_SECRET_ENV: &str = "SANDBOX_LEGACY_SECRET";

/// Most tenants one sandbox generates.
pub const MAX_GENERATED: u32 = 100_000;

const FULL_ROLES: [&str; 2] = ["Alert.Read.All", "Incident.Read.All"];
const ALERT_ONLY: [&str; 1] = ["Alert.Read.All"];
/// The Security Reader role's template ID (the `wids` value).
const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";

/// The state of a generated tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Main app consented, both roles.
    Consented,
    /// Main app consented, Alert.Read.All only.
    MissingRole,
    /// Nothing consented.
    NotConsented,
    /// Only the legacy app (expired secret) consented.
    LegacyOnly,
}

impl Mix {
    pub fn of(i: u32) -> Mix {
        match (u64::from(i) * 49) % 100 {
            0..=84 => Mix::Consented,
            85..=89 => Mix::MissingRole,
            90..=95 => Mix::NotConsented,
            _ => Mix::LegacyOnly,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Mix::Consented => "consented",
            Mix::MissingRole => "missing_role",
            Mix::NotConsented => "not_consented",
            Mix::LegacyOnly => "legacy_expired_secret",
        }
    }
}

pub fn domain(i: u32) -> String {
    format!("tenant{i:05}.onmicrosoft.com")
}

pub fn name(i: u32) -> String {
    format!("Tenant {i:05}")
}

pub fn tenant_id(i: u32) -> String {
    derived_guid(&["mssp-token sandbox generated tenant", &i.to_string()])
}

fn user_oid(i: u32) -> String {
    derived_guid(&["mssp-token sandbox generated user", &i.to_string()])
}

/// The legacy app: the first app after the main one that is multi-tenant and whose secrets
/// have all expired (the built-in "MSSP Legacy Connector").
pub fn legacy_app(cfg: &Config, now: u64) -> Option<&App> {
    cfg.apps.iter().skip(1).find(|a| {
        a.multi_tenant && !a.secrets.is_empty() && a.secrets.iter().all(|s| s.is_expired(now))
    })
}

/// The legacy app added when a `--config` has none (the built-in one's id and secret, unless
/// that id is taken).
fn make_legacy_app(cfg: &Config) -> Result<App> {
    let builtin_id = "32949881-2c1c-4f64-b3b6-ea7ed5bb7956";
    let id = if cfg.app(builtin_id).is_some() {
        derived_guid(&["mssp-token sandbox generated legacy app"])
    } else {
        builtin_id.to_string()
    };
    let v = serde_json::json!({
        "client_id": id,
        "name": "MSSP Legacy Connector (sandbox, expired secret)",
        "home_tenant": cfg.apps[0].home_tenant,
        "multi_tenant": true,
        "redirect_uris": ["http://localhost/SiemMsspConnector"],
        "secrets": [{"value": "sandbox-expired-secret~Legacy.2024",
                     "id": "6e4d4046-bc98-4b42-be5b-a7b2e42c2bbf",
                     "expires": "2024-06-30T00:00:00Z"}],
        "roles": ["Alert.Read.All"],
    });
    let mut app: App = serde_json::from_value(v).context("the generated legacy app")?;
    let expires = humantime::parse_rfc3339_weak("2024-06-30T00:00:00Z")
        .context("the generated legacy app's secret expiry")?;
    for s in &mut app.secrets {
        s.expires_epoch = Some(crate::data::config::epoch(expires));
    }
    Ok(app)
}

/// Adds tenants 1..=n (see the module documentation) to `cfg`.
pub fn add(cfg: &mut Config, n: u32, now: u64) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    if n > MAX_GENERATED {
        bail!("--tenants {n}: at most {MAX_GENERATED} generated tenants");
    }
    let needs_legacy = (1..=n.min(100)).any(|i| Mix::of(i) == Mix::LegacyOnly);
    if needs_legacy && legacy_app(cfg, now).is_none() {
        let app = make_legacy_app(cfg)?;
        cfg.apps.push(app);
    }
    let main = cfg.apps[0].client_id.clone();
    let legacy = legacy_app(cfg, now).map(|a| a.client_id.clone());
    let grant = |client_id: &str, roles: &[&str]| GrantCfg {
        client_id: client_id.to_string(),
        roles: Some(roles.iter().map(|r| r.to_string()).collect()),
        scopes: None,
    };
    // The MSSP (the main app's home) and its first security group, for GDAP relationships.
    let partner = cfg
        .tenant_by_id(&cfg.apps[0].home_tenant)
        .and_then(|t| t.groups.first().map(|g| (t.id.clone(), g.id.clone())));
    let gdap = |mix: Mix| match (&partner, mix) {
        (Some((tid, group)), m) if m != Mix::LegacyOnly => vec![GdapCfg {
            partner: tid.clone(),
            name: "MSSP (generated)".to_string(),
            expires: None,
            require_mfa: false,
            access: vec![GdapAccess {
                group: group.clone(),
                roles: vec![SECURITY_READER.to_string()],
            }],
            expires_epoch: None,
        }],
        _ => Vec::new(),
    };
    cfg.tenants.reserve(n as usize);
    for i in 1..=n {
        let (id, domain) = (tenant_id(i), domain(i));
        let upn = format!("admin@{domain}");
        for key in [&id, &domain] {
            if cfg.has_tenant_key(key) {
                bail!("--tenants: generated tenant {i} ({key}) clashes with a configured tenant");
            }
        }
        if cfg.has_upn(&upn) {
            bail!("--tenants: generated user {upn} clashes with a configured user");
        }
        let mix = Mix::of(i);
        let grants = match mix {
            Mix::Consented => vec![grant(&main, &FULL_ROLES)],
            Mix::MissingRole => vec![grant(&main, &ALERT_ONLY)],
            Mix::NotConsented => Vec::new(),
            Mix::LegacyOnly => legacy
                .iter()
                .map(|l| grant(l, &ALERT_ONLY))
                .collect::<Vec<_>>(),
        };
        cfg.tenants.push(Tenant {
            id,
            domain,
            name: name(i),
            users: vec![User {
                upn,
                name: format!("Tenant {i:05} Admin"),
                oid: user_oid(i),
                risky: false,
            }],
            grants,
            groups: Vec::new(),
            gdap: gdap(mix),
            generated: Some(mix),
        });
    }
    cfg.reindex();
    Ok(())
}
