//! The tenants file of `onboard`: TOML ([defaults] and [[tenant]] tables) or a plain list of
//! tenant IDs or domains, one a line, with # comments. Every error names the line.

use crate::authority::{printable, Cloud, Tenant};
use crate::credentials::{secret, Credential};
use crate::error::usage;
use anyhow::Result;
use serde::Deserialize;
use std::collections::HashMap;

/// Settings a tenant entry can carry; [defaults] holds the same keys.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub client_id: Option<String>,
    pub scope: Option<String>,
    pub resource: Option<String>,
    pub require_roles: Option<Vec<String>>,
    pub probe: Option<String>,
    pub cloud: Option<Cloud>,
    /// The name of an environment variable holding this app's client secret (for tenants
    /// onboarded with another app registration); never the secret itself.
    pub client_secret_env: Option<String>,
}

impl Settings {
    /// The credential for this entry: the secret in the environment variable
    /// `client_secret_env` names, else `default` (the command line's). `here` is `file:line:`.
    pub fn credential(&self, default: &Credential, here: &str) -> Result<Credential> {
        let Some(var) = &self.client_secret_env else {
            return Ok(default.clone());
        };
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Credential::Secret(secret::from_value(&v)?)),
            _ => Err(usage(format!(
                "{here} client_secret_env = \"{var}\" but that environment variable is not set"
            ))),
        }
    }

    /// `self` where set, else `other`.
    pub fn or(&self, other: &Settings) -> Settings {
        Settings {
            client_id: self.client_id.clone().or_else(|| other.client_id.clone()),
            scope: self.scope.clone().or_else(|| other.scope.clone()),
            resource: self.resource.clone().or_else(|| other.resource.clone()),
            require_roles: self
                .require_roles
                .clone()
                .or_else(|| other.require_roles.clone()),
            probe: self.probe.clone().or_else(|| other.probe.clone()),
            cloud: self.cloud.or(other.cloud),
            client_secret_env: self
                .client_secret_env
                .clone()
                .or_else(|| other.client_secret_env.clone()),
        }
    }
}

/// One tenant to onboard.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub name: String,
    pub tenant: String,
    pub line: usize,
    pub settings: Settings,
}

/// A parsed tenants file.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantsFile {
    pub defaults: Settings,
    pub tenants: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlFile {
    #[serde(default)]
    defaults: Settings,
    #[serde(default)]
    tenant: Vec<toml::Spanned<TomlTenant>>,
}

/// A [[tenant]] table. Its keys are spelled out (no serde flatten) so that an unknown key is
/// reported at its own line.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTenant {
    name: Option<String>,
    tenant: String,
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    require_roles: Option<Vec<String>>,
    probe: Option<String>,
    cloud: Option<Cloud>,
    client_secret_env: Option<String>,
}

/// Parses the file's text; `shown` names it in errors.
pub fn parse(text: &str, shown: &str) -> Result<TenantsFile> {
    let first = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'));
    let file = match first {
        None => {
            return Err(usage(format!(
                "{shown}: no tenants in it; list tenant IDs or domains one a line, or use [[tenant]] tables"
            )))
        }
        Some(l) if l.starts_with('[') || l.contains('=') => parse_toml(text, shown)?,
        Some(_) => parse_list(text, shown)?,
    };
    if file.tenants.is_empty() {
        return Err(usage(format!("{shown}: no [[tenant]] entries in it")));
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for e in &file.tenants {
        Tenant::parse(&e.tenant)
            .map_err(|err| crate::error::at(&format!("{shown}:{}: tenant", e.line), err))?;
        if let Some(first) = seen.insert(e.tenant.to_ascii_lowercase(), e.line) {
            return Err(usage(format!(
                "{shown}:{}: tenant {} is listed twice (first on line {first})",
                e.line,
                printable(&e.tenant)
            )));
        }
    }
    Ok(file)
}

fn parse_list(text: &str, shown: &str) -> Result<TenantsFile> {
    let mut tenants = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if line.split_whitespace().count() > 1 {
            return Err(usage(format!(
                "{shown}:{}: '{}': one tenant ID or domain a line",
                i + 1,
                printable(line)
            )));
        }
        tenants.push(Entry {
            name: line.to_string(),
            tenant: line.to_string(),
            line: i + 1,
            settings: Settings::default(),
        });
    }
    Ok(TenantsFile {
        defaults: Settings::default(),
        tenants,
    })
}

fn parse_toml(text: &str, shown: &str) -> Result<TenantsFile> {
    let parsed: TomlFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| line_of(text, s.start))
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        usage(format!("{shown}{line}: {}", e.message()))
    })?;
    let tenants = parsed
        .tenant
        .into_iter()
        .map(|t| {
            let line = line_of(text, t.span().start);
            let t = t.into_inner();
            Entry {
                name: t.name.unwrap_or_else(|| t.tenant.clone()),
                tenant: t.tenant,
                line,
                settings: Settings {
                    client_id: t.client_id,
                    scope: t.scope,
                    resource: t.resource,
                    require_roles: t.require_roles,
                    probe: t.probe,
                    cloud: t.cloud,
                    client_secret_env: t.client_secret_env,
                },
            }
        })
        .collect();
    Ok(TenantsFile {
        defaults: parsed.defaults,
        tenants,
    })
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_list_with_comments() {
        let f = parse(
            "# customers\ncontoso.onmicrosoft.com\n\n9ed38d36-d1a6-4200-9985-86bb0271d957  # fabrikam\n",
            "t",
        )
        .unwrap();
        assert_eq!(f.tenants.len(), 2);
        assert_eq!(f.tenants[1].line, 4);
    }

    #[test]
    fn toml_with_defaults_and_overrides() {
        let f = parse(
            r#"
[defaults]
client_id = "b64a329e-a098-404b-99fd-26066cccda7e"
require_roles = ["Alert.Read.All"]
probe = "/api/alerts?$top=1"

[[tenant]]
name = "Contoso"
tenant = "contoso.onmicrosoft.com"

[[tenant]]
tenant = "fabrikam.onmicrosoft.com"
require_roles = []
cloud = "usgov"
"#,
            "t",
        )
        .unwrap();
        assert_eq!(f.tenants[0].name, "Contoso");
        assert_eq!(f.tenants[1].name, "fabrikam.onmicrosoft.com");
        let eff = f.tenants[1].settings.or(&f.defaults);
        assert_eq!(eff.require_roles, Some(vec![]));
        assert_eq!(eff.probe.as_deref(), Some("/api/alerts?$top=1"));
        assert_eq!(eff.cloud, Some(Cloud::Usgov));
        assert_eq!(f.tenants[1].line, 11, "the line of its [[tenant]] header");
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse(
            "[[tenant]]\ntenant = \"a.com\"\ncolour = \"red\"\n",
            "f.toml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("f.toml:3:"), "{e}");
        assert!(e.contains("colour"), "{e}");
        let e = parse("[[tenant]\n", "f.toml").unwrap_err().to_string();
        assert!(e.starts_with("f.toml:1"), "{e}");
        let e = parse("a.com\nb.com\nA.com\n", "f").unwrap_err().to_string();
        assert!(
            e.contains("f:3: tenant A.com is listed twice (first on line 1)"),
            "{e}"
        );
        let e = parse("# only comments\n\n", "f").unwrap_err().to_string();
        assert!(e.contains("no tenants"), "{e}");
        let e = parse("a.com\nnot a tenant\n", "f").unwrap_err().to_string();
        assert!(e.contains("f:2"), "{e}");
        let e = parse("a.com\ncommon\n", "f").unwrap_err().to_string();
        assert!(e.contains("f:2"), "{e}");
        let e = parse("[defaults]\nclient_id = \"x\"\n", "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("no [[tenant]]"), "{e}");
    }
}
