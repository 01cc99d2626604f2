//! Sandbox configuration: tenants, their users and grants, and app registrations.
//!
//! Either read from a JSON file (`mssp-token sandbox --config FILE`) or the built-in set below.
//! Every struct denies unknown fields, so a typo is reported with the field's name.
//!
//! Simplification: a grant (consent) of an app in a tenant is not split per resource: its
//! application roles and delegated scopes apply to whatever resource a token is requested for.

use crate::crypto::certs::AppCert;
use crate::data::generate::Mix;
use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// The whole sandbox configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Lifetime of authorization codes (Entra: about 10 minutes).
    #[serde(default = "default_code_lifetime")]
    pub code_lifetime_secs: u64,
    /// Lifetime of access and id tokens (`expires_in`).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_secs: u64,
    /// Lifetime of refresh tokens (Entra: 90 days, sliding).
    #[serde(default = "default_refresh_lifetime")]
    pub refresh_token_lifetime_secs: u64,
    /// Device code flow: lifetime of a device code (`expires_in`; Entra: 900 s).
    #[serde(default = "default_device_code_lifetime")]
    pub device_code_lifetime_secs: u64,
    /// Device code flow: the polling `interval` announced (Entra: 5 s).
    #[serde(default = "default_device_code_interval")]
    pub device_code_interval_secs: u64,
    /// Tenants (GUID or domain) whose Conditional Access blocks the device code flow: a sign-in
    /// there ends with AADSTS53003 on the page and at the token endpoint.
    #[serde(default)]
    pub device_code_blocked_tenants: Vec<String>,
    /// Graph security API (handlers/graph.rs): alerts generated per tenant (default 300).
    #[serde(default = "default_graph_alerts")]
    pub graph_alerts_per_tenant: usize,
    /// Graph security API: requests per minute per app per tenant, then 429 with Retry-After
    /// (default 150, Graph's limit for security alerts; 0 = no limit).
    #[serde(default = "default_graph_rate")]
    pub graph_requests_per_minute: u32,
    /// Graph security API: the largest `$top` (default 1000, Graph's; at least 1). A larger
    /// `$top` is clamped to it (the page holds this many, with @odata.nextLink when more remain).
    #[serde(default = "default_graph_max_top")]
    pub graph_max_top: usize,
    /// Graph security API: the throttling 429's Retry-After is an HTTP-date (RFC 7231
    /// IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", never earlier than the end of the window)
    /// instead of delta-seconds (default false).
    #[serde(default)]
    pub graph_retry_after_date: bool,
    pub tenants: Vec<Tenant>,
    pub apps: Vec<App>,
    /// Tenant GUID and domain (lower case) -> index in `tenants`: lookups stay O(1) with
    /// thousands of generated tenants.
    #[serde(skip)]
    index: HashMap<String, usize>,
    /// UPN (lower case) -> (tenant index, user index).
    #[serde(skip)]
    upn_index: HashMap<String, (usize, usize)>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// Tenant GUID.
    pub id: String,
    /// Verified domain, e.g. contoso.onmicrosoft.com.
    pub domain: String,
    /// Display name.
    pub name: String,
    pub users: Vec<User>,
    /// Apps consented in this tenant (an app is always usable in its home tenant).
    #[serde(default)]
    pub grants: Vec<GrantCfg>,
    /// Security groups (a partner tenant's, named in its customers' GDAP relationships).
    #[serde(default)]
    pub groups: Vec<GroupCfg>,
    /// GDAP relationships this (customer) tenant has approved for partners.
    #[serde(default)]
    pub gdap: Vec<GdapCfg>,
    /// Set for tenants made by `--tenants N` (generate.rs): which state of the mix it has.
    #[serde(skip)]
    pub generated: Option<Mix>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub upn: String,
    pub name: String,
    /// Object id (GUID).
    pub oid: String,
    /// Flagged at risk by Identity Protection: customers block the user's delegated admin
    /// access (AADSTS530034).
    #[serde(default)]
    pub risky: bool,
}

/// A security group of a (partner) tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupCfg {
    /// Object id (GUID).
    pub id: String,
    pub name: String,
    /// Members' UPNs (users of the same tenant).
    #[serde(default)]
    pub members: Vec<String>,
}

/// A GDAP relationship, as the customer approved it: which partner, until when, and which
/// Entra roles each of the partner's security groups holds in this tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdapCfg {
    /// The partner tenant (GUID or domain).
    pub partner: String,
    /// The relationship's display name.
    pub name: String,
    /// End of the relationship, RFC 3339; absent = active (GDAP allows up to 2 years).
    #[serde(default)]
    pub expires: Option<String>,
    /// The customer's Conditional Access requires MFA the partner sign-in did not perform
    /// (AADSTS50076).
    #[serde(default)]
    pub require_mfa: bool,
    /// Role assignments: a partner group (GUID or name) and its roles (names of built-in
    /// Entra roles, or role template GUIDs).
    pub access: Vec<GdapAccess>,
    #[serde(skip)]
    pub expires_epoch: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GdapAccess {
    pub group: String,
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrantCfg {
    pub client_id: String,
    /// Application permissions granted (the `roles` claim); default: the app's `roles`.
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// Delegated permissions granted (the `scp` claim); default: the app's `scopes`.
    #[serde(default)]
    pub scopes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub client_id: String,
    pub name: String,
    /// Tenant (GUID or domain) where the app is registered.
    pub home_tenant: String,
    #[serde(default)]
    pub multi_tenant: bool,
    /// Public client flows allowed (no client secret needed for auth-code and refresh grants).
    #[serde(default)]
    pub public_client: bool,
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub secrets: Vec<Secret>,
    /// Application permissions the registration asks for (granted by admin consent).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Delegated permissions the registration asks for.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Certificates registered on the app (client assertions): each a PEM text
    /// ("-----BEGIN CERTIFICATE-----...") or the path of a PEM file (relative to the config
    /// file's folder). The sandbox also registers its generated certificate on the first app.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials (workload identity).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredential>,
    /// `certificates`, parsed.
    #[serde(skip)]
    pub certs: Vec<AppCert>,
}

/// A federated identity credential: an external token whose iss, sub and aud all match is
/// accepted as the app's client assertion. `{authority}` in `issuer` becomes the sandbox's
/// authority (its simulated OIDC issuer is `{authority}/sandbox-oidc`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredential {
    #[serde(default)]
    pub name: Option<String>,
    pub issuer: String,
    pub subject: String,
    #[serde(default = "default_fic_audience")]
    pub audience: String,
}

/// The audience Entra's federated credentials expect by default.
pub const FIC_AUDIENCE: &str = "api://AzureADTokenExchange";

fn default_fic_audience() -> String {
    FIC_AUDIENCE.to_string()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// The secret's value (what a client sends).
    pub value: String,
    /// The secret's ID (a GUID; sending it instead of the value gives AADSTS7000215, as in Entra).
    #[serde(default)]
    pub id: Option<String>,
    /// Expiry, RFC 3339 (e.g. "2024-06-30T00:00:00Z"); absent = never.
    #[serde(default)]
    pub expires: Option<String>,
    #[serde(skip)]
    pub expires_epoch: Option<u64>,
}

fn default_code_lifetime() -> u64 {
    600
}
fn default_device_code_lifetime() -> u64 {
    900
}
fn default_device_code_interval() -> u64 {
    5
}
fn default_token_lifetime() -> u64 {
    3599
}
fn default_refresh_lifetime() -> u64 {
    90 * 24 * 3600
}
fn default_graph_alerts() -> usize {
    300
}
fn default_graph_rate() -> u32 {
    150
}
fn default_graph_max_top() -> usize {
    1000
}
fn default_scopes() -> Vec<String> {
    vec!["user_impersonation".to_string()]
}

impl Secret {
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires_epoch.is_some_and(|e| now >= e)
    }
}

impl Config {
    /// Reads and validates a JSON configuration file.
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read sandbox config {}", path.display()))?;
        let cfg: Config = serde_json::from_str(&text)
            .with_context(|| format!("invalid sandbox config {}", path.display()))?;
        cfg.validated(path.parent())
            .with_context(|| format!("invalid sandbox config {}", path.display()))
    }

    /// The built-in tenants and apps (fixed ids, so documentation can use them).
    pub fn builtin() -> Config {
        let cfg: Config =
            serde_json::from_str(BUILTIN).expect("the built-in sandbox config is valid JSON");
        cfg.validated(None)
            .expect("the built-in sandbox config is consistent")
    }

    /// Normalises ids (lower-case GUIDs, home tenants as GUIDs), reads certificates (relative
    /// paths from `base`) and checks consistency.
    pub fn validated(mut self, base: Option<&Path>) -> Result<Config> {
        if self.tenants.is_empty() {
            bail!("tenants: at least one tenant is needed");
        }
        if self.apps.is_empty() {
            bail!("apps: at least one app is needed");
        }
        if self.graph_alerts_per_tenant > 100_000 {
            bail!("graph_alerts_per_tenant: at most 100000");
        }
        if self.graph_max_top == 0 {
            bail!("graph_max_top: at least 1");
        }
        let mut seen = HashSet::new();
        let mut upns = HashSet::new();
        for (i, t) in self.tenants.iter_mut().enumerate() {
            t.id = guid(&t.id).with_context(|| format!("tenants[{i}].id"))?;
            t.domain = t.domain.to_ascii_lowercase();
            if !t.domain.contains('.') || t.domain.contains('/') || t.domain.contains(' ') {
                bail!("tenants[{i}].domain: '{}' is not a domain name", t.domain);
            }
            for key in [t.id.clone(), t.domain.clone()] {
                if !seen.insert(key.clone()) {
                    bail!("tenants[{i}]: '{key}' is used by two tenants");
                }
            }
            if t.users.is_empty() {
                bail!("tenants[{i}].users: at least one user is needed");
            }
            for (j, u) in t.users.iter_mut().enumerate() {
                u.oid = guid(&u.oid).with_context(|| format!("tenants[{i}].users[{j}].oid"))?;
                if !u.upn.contains('@') {
                    bail!("tenants[{i}].users[{j}].upn: '{}' is not a UPN", u.upn);
                }
                if !upns.insert(u.upn.to_ascii_lowercase()) {
                    bail!("tenants[{i}].users[{j}].upn: '{}' is used twice", u.upn);
                }
            }
            for (j, g) in t.grants.iter_mut().enumerate() {
                g.client_id = guid(&g.client_id)
                    .with_context(|| format!("tenants[{i}].grants[{j}].client_id"))?;
            }
            crate::gdap::validate_tenant(i, t)?;
        }
        crate::gdap::validate_relationships(&mut self.tenants)?;
        let tenant_ids: Vec<(String, String)> = self
            .tenants
            .iter()
            .map(|t| (t.id.clone(), t.domain.clone()))
            .collect();
        let mut app_ids = HashSet::new();
        for (i, a) in self.apps.iter_mut().enumerate() {
            a.client_id = guid(&a.client_id).with_context(|| format!("apps[{i}].client_id"))?;
            if !app_ids.insert(a.client_id.clone()) {
                bail!("apps[{i}].client_id: '{}' is used twice", a.client_id);
            }
            let home = a.home_tenant.to_ascii_lowercase();
            match tenant_ids.iter().find(|(id, d)| *id == home || *d == home) {
                Some((id, _)) => a.home_tenant = id.clone(),
                None => bail!(
                    "apps[{i}].home_tenant: '{}' is not one of the tenants",
                    a.home_tenant
                ),
            }
            if a.redirect_uris.is_empty() {
                bail!("apps[{i}].redirect_uris: at least one redirect URI is needed");
            }
            for (j, r) in a.redirect_uris.iter().enumerate() {
                if url::Url::parse(r).is_err() || !r.bytes().all(|b| (0x21..0x7f).contains(&b)) {
                    bail!("apps[{i}].redirect_uris[{j}]: '{r}' is not an absolute URL");
                }
            }
            for (j, s) in a.secrets.iter_mut().enumerate() {
                if s.value.is_empty() {
                    bail!("apps[{i}].secrets[{j}].value: empty");
                }
                if let Some(id) = &s.id {
                    s.id = Some(guid(id).with_context(|| format!("apps[{i}].secrets[{j}].id"))?);
                }
                if let Some(exp) = &s.expires {
                    let t = humantime::parse_rfc3339_weak(exp).with_context(|| {
                        format!("apps[{i}].secrets[{j}].expires: '{exp}' is not an RFC 3339 time")
                    })?;
                    s.expires_epoch = Some(epoch(t));
                }
            }
            for (j, c) in a.certificates.iter().enumerate() {
                let certs = AppCert::load(c, base)
                    .with_context(|| format!("apps[{i}].certificates[{j}]"))?;
                a.certs.extend(certs);
            }
            for (j, f) in a.federated_credentials.iter().enumerate() {
                for (field, v) in [
                    ("issuer", &f.issuer),
                    ("subject", &f.subject),
                    ("audience", &f.audience),
                ] {
                    if v.trim().is_empty() {
                        bail!("apps[{i}].federated_credentials[{j}].{field}: empty");
                    }
                }
            }
        }
        for (i, t) in self.tenants.iter().enumerate() {
            for (j, g) in t.grants.iter().enumerate() {
                if !app_ids.contains(&g.client_id) {
                    bail!(
                        "tenants[{i}].grants[{j}].client_id: '{}' is not one of the apps",
                        g.client_id
                    );
                }
            }
        }
        self.reindex();
        Ok(self)
    }

    /// Rebuilds the lookup maps (ids, domains and UPNs are known to be unique).
    pub fn reindex(&mut self) {
        self.index.clear();
        self.upn_index.clear();
        for (i, t) in self.tenants.iter().enumerate() {
            self.index.insert(t.id.clone(), i);
            self.index.insert(t.domain.clone(), i);
            for (j, u) in t.users.iter().enumerate() {
                self.upn_index.insert(u.upn.to_ascii_lowercase(), (i, j));
            }
        }
    }

    /// Whether a tenant GUID or domain (lower case) is taken.
    pub fn has_tenant_key(&self, key: &str) -> bool {
        self.index.contains_key(key)
    }

    /// Whether a UPN (any case) is taken.
    pub fn has_upn(&self, upn: &str) -> bool {
        self.upn_index.contains_key(&upn.to_ascii_lowercase())
    }

    /// Replaces `{authority}` in federated credential issuers (known once the port is bound).
    pub fn set_authority(&mut self, authority: &str) {
        for a in &mut self.apps {
            for f in &mut a.federated_credentials {
                f.issuer = f.issuer.replace("{authority}", authority);
            }
        }
    }

    pub fn tenant_by_id(&self, id: &str) -> Option<&Tenant> {
        self.index
            .get(id)
            .map(|&i| &self.tenants[i])
            .filter(|t| t.id == id)
    }

    /// A tenant by GUID or domain, case-insensitive.
    pub fn find_tenant(&self, id_or_domain: &str) -> Option<&Tenant> {
        let hit = match self.index.get(id_or_domain) {
            Some(i) => Some(*i),
            None if id_or_domain.bytes().any(|b| b.is_ascii_uppercase()) => {
                self.index.get(&id_or_domain.to_ascii_lowercase()).copied()
            }
            None => None,
        };
        hit.map(|i| &self.tenants[i])
    }

    pub fn app(&self, client_id: &str) -> Option<&App> {
        let k = client_id.to_ascii_lowercase();
        self.apps.iter().find(|a| a.client_id == k)
    }

    /// A user by UPN (case-insensitive), with their home tenant.
    pub fn user(&self, upn: &str) -> Option<(&Tenant, &User)> {
        let (i, j) = *self.upn_index.get(&upn.to_ascii_lowercase())?;
        let t = &self.tenants[i];
        Some((t, &t.users[j]))
    }
}

impl App {
    /// Whether the app may be used at all in tenant `tid` (multi-tenant, or its home tenant).
    pub fn reachable_in(&self, tid: &str) -> bool {
        self.multi_tenant || self.home_tenant == tid
    }
}

/// Lower-case canonical GUID, or an error naming the value.
fn guid(s: &str) -> Result<String> {
    match uuid::Uuid::parse_str(s) {
        Ok(u) if s.len() == 36 => Ok(u.hyphenated().to_string()),
        _ => bail!("'{s}' is not a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"),
    }
}

pub fn epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The built-in set. Contoso is the main consented tenant, Fabrikam is consented with fewer
/// roles, Northwind has not consented; the MSSP's own tenant is the apps' home.
///
/// GDAP (partner = the MSSP's tenant, group "SOC Analysts" = engineer@ and risky-admin@):
/// Contoso has an active relationship (Security Reader, Security Operator), Fabrikam's expired
/// on 2025-01-31, Northwind's is active but the app is not consented there; generated tenants
/// (`--tenants N`): see generate.rs. risky-admin@ is at risk (530034); intern@ is in no group.
pub const BUILTIN_JSON: &str = BUILTIN;

const BUILTIN: &str = r#"{
  "code_lifetime_secs": 600,
  "tenants": [
    {
      "id": "9ed38d36-d1a6-4200-9985-86bb0271d957",
      "domain": "contoso.onmicrosoft.com",
      "name": "Contoso",
      "users": [
        {"upn": "admin@contoso.onmicrosoft.com", "name": "Contoso Admin", "oid": "01b11418-86c7-466a-b822-c55750d55bf8"},
        {"upn": "secops@contoso.onmicrosoft.com", "name": "Contoso SecOps Analyst", "oid": "6c695cd6-4cf1-487f-ac16-894fda637c86"}
      ],
      "grants": [
        {"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "roles": ["Alert.Read.All", "Incident.Read.All"]},
        {"client_id": "32949881-2c1c-4f64-b3b6-ea7ed5bb7956", "roles": ["Alert.Read.All"]}
      ],
      "gdap": [
        {"partner": "mssp-provider.onmicrosoft.com", "name": "MSSP SOC (active)",
         "access": [{"group": "SOC Analysts", "roles": ["Security Reader", "Security Operator"]}]}
      ]
    },
    {
      "id": "c48fcbb1-e295-4b5c-b80f-1376e2cb1575",
      "domain": "fabrikam.onmicrosoft.com",
      "name": "Fabrikam",
      "users": [
        {"upn": "admin@fabrikam.onmicrosoft.com", "name": "Fabrikam Admin", "oid": "078a7e53-d2f1-4c53-947c-717ea235cdcd"}
      ],
      "grants": [
        {"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "roles": ["Alert.Read.All"]}
      ],
      "gdap": [
        {"partner": "mssp-provider.onmicrosoft.com", "name": "MSSP SOC (2023-2025)", "expires": "2025-01-31T00:00:00Z",
         "access": [{"group": "SOC Analysts", "roles": ["Security Reader"]}]}
      ]
    },
    {
      "id": "76ac3db6-ba74-423b-903a-6de62ba90e30",
      "domain": "northwind.onmicrosoft.com",
      "name": "Northwind",
      "users": [
        {"upn": "admin@northwind.onmicrosoft.com", "name": "Northwind Admin", "oid": "bf43970c-9b28-47fb-abe0-ddf5b93e2d4d"}
      ],
      "gdap": [
        {"partner": "mssp-provider.onmicrosoft.com", "name": "MSSP SOC (active, app not consented)",
         "access": [{"group": "SOC Analysts", "roles": ["Security Reader"]}]}
      ]
    },
    {
      "id": "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7",
      "domain": "mssp-provider.onmicrosoft.com",
      "name": "MSSP (provider)",
      "users": [
        {"upn": "engineer@mssp-provider.onmicrosoft.com", "name": "MSSP Engineer", "oid": "244e3ec2-5b8e-48a3-be9f-2ffa23acb155"},
        {"upn": "risky-admin@mssp-provider.onmicrosoft.com", "name": "MSSP Admin (at risk)", "oid": "5a3c9f0e-2d41-4b7e-9c3a-8e1f6d2b7a90", "risky": true},
        {"upn": "intern@mssp-provider.onmicrosoft.com", "name": "MSSP Intern (in no GDAP group)", "oid": "c2e4a6b8-1d3f-4a5b-8c7d-9e0f1a2b3c4d"}
      ],
      "groups": [
        {"id": "7d1e5c2a-3b4f-4e6a-9d8c-1f2e3a4b5c6d", "name": "SOC Analysts", "members": ["engineer@mssp-provider.onmicrosoft.com", "risky-admin@mssp-provider.onmicrosoft.com"]},
        {"id": "e8f7a6b5-c4d3-4b2a-8f1e-0d9c8b7a6f5e", "name": "Helpdesk", "members": []}
      ]
    }
  ],
  "apps": [
    {
      "client_id": "b64a329e-a098-404b-99fd-26066cccda7e",
      "name": "MSSP SIEM Connector (sandbox)",
      "home_tenant": "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7",
      "multi_tenant": true,
      "redirect_uris": ["http://localhost/SiemMsspConnector", "https://mssp.example.com/SiemMsspConnector"],
      "secrets": [
        {"value": "sandbox-secret-MsspSiem~8Kq2.Vx7nR4tZ", "id": "490973e6-1a5e-45fb-b884-6ead94e88b9d"}
      ],
      "roles": ["Alert.Read.All", "Incident.Read.All"],
      "scopes": ["user_impersonation"],
      "federated_credentials": [
        {"name": "github-actions-main", "issuer": "{authority}/sandbox-oidc", "subject": "repo:mssp/siem-onboarding:ref:refs/heads/main"}
      ]
    },
    {
      "client_id": "32949881-2c1c-4f64-b3b6-ea7ed5bb7956",
      "name": "MSSP Legacy Connector (sandbox, expired secret)",
      "home_tenant": "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7",
      "multi_tenant": true,
      "redirect_uris": ["http://localhost/SiemMsspConnector"],
      "secrets": [
        {"value": "sandbox-expired-secret~Legacy.2024", "id": "6e4d4046-bc98-4b42-be5b-a7b2e42c2bbf", "expires": "2024-06-30T00:00:00Z"}
      ],
      "roles": ["Alert.Read.All"]
    },
    {
      "client_id": "f95a6c0b-7f8c-48dc-89fc-63be220e6b35",
      "name": "Contoso Internal Tool (sandbox, single-tenant)",
      "home_tenant": "contoso.onmicrosoft.com",
      "multi_tenant": false,
      "redirect_uris": ["http://localhost/ContosoTool"],
      "secrets": [
        {"value": "sandbox-secret-ContosoTool~3Fp9.Wm1"}
      ],
      "roles": ["Alert.Read.All"]
    }
  ]
}"#;
