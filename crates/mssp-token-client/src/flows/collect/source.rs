//! What can be collected: per source, its API (host and token audience from the API table), its
//! path, the record's id, update time and tenant fields, the page limit and the request budget
//! the service allows per tenant.

use crate::apis::ApiTarget;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    GraphAlerts,
    GraphIncidents,
    MdeAlerts,
    XdrIncidents,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::GraphAlerts,
        Source::GraphIncidents,
        Source::MdeAlerts,
        Source::XdrIncidents,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Source::GraphAlerts => "graph-alerts",
            Source::GraphIncidents => "graph-incidents",
            Source::MdeAlerts => "mde-alerts",
            Source::XdrIncidents => "xdr-incidents",
        }
    }

    pub fn parse(s: &str) -> Option<Source> {
        Source::ALL.into_iter().find(|x| x.name() == s)
    }

    pub fn api(self) -> ApiTarget {
        match self {
            Source::GraphAlerts | Source::GraphIncidents => ApiTarget::Graph,
            Source::MdeAlerts => ApiTarget::Mde,
            Source::XdrIncidents => ApiTarget::Xdr,
        }
    }

    pub fn path(self) -> &'static str {
        match self {
            Source::GraphAlerts => "/v1.0/security/alerts_v2",
            Source::GraphIncidents => "/v1.0/security/incidents",
            Source::MdeAlerts => "/api/alerts",
            Source::XdrIncidents => "/api/incidents",
        }
    }

    /// The update time, in the record and in `$filter`.
    pub fn time_field(self) -> &'static str {
        match self {
            Source::GraphAlerts | Source::GraphIncidents => "lastUpdateDateTime",
            Source::MdeAlerts | Source::XdrIncidents => "lastUpdateTime",
        }
    }

    fn id_field(self) -> &'static str {
        match self {
            Source::XdrIncidents => "incidentId",
            _ => "id",
        }
    }

    /// The most records one page may ask for.
    pub fn max_page(self) -> u32 {
        match self {
            Source::GraphAlerts | Source::GraphIncidents => 1000,
            Source::MdeAlerts => 10_000,
            Source::XdrIncidents => 100,
        }
    }

    /// Graph sorts by `$orderby`; the Defender APIs document no order, so their pages are
    /// treated as unordered (see `window.rs`).
    pub fn ordered(self) -> bool {
        self.api() == ApiTarget::Graph
    }

    /// Query options besides the filter, the order and the page size.
    pub fn extra_query(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Source::GraphIncidents => &[("$expand", "alerts")],
            _ => &[],
        }
    }

    /// The requests per window a tenant allows this API (the service's documented limits):
    /// Graph security 150 a minute; Defender for Endpoint alerts 100 a minute and 1500 an hour;
    /// Defender XDR incidents 50 a minute and 1500 an hour.
    pub fn budget(self) -> &'static [(u32, Duration)] {
        const MIN: Duration = Duration::from_secs(60);
        const HOUR: Duration = Duration::from_secs(3600);
        match self {
            Source::GraphAlerts | Source::GraphIncidents => &[(150, MIN)],
            Source::MdeAlerts => &[(100, MIN), (1500, HOUR)],
            Source::XdrIncidents => &[(50, MIN), (1500, HOUR)],
        }
    }

    /// The budget's key: both Graph sources share Graph's.
    pub fn budget_key(self) -> &'static str {
        match self.api() {
            ApiTarget::Graph => "graph",
            ApiTarget::Mde => "mde-alerts",
            ApiTarget::Xdr => "xdr-incidents",
        }
    }

    /// The record's id: a string, or a number (XDR incident ids) written as a string.
    pub fn id_of(self, rec: &Value) -> Option<String> {
        let id = match rec.get(self.id_field())? {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return None,
        };
        let ok = !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control);
        ok.then_some(id)
    }

    /// The tenant a record says it belongs to: `tenantId` (Graph), `aadTenantId` (Defender for
    /// Endpoint), or the `tid` of an XDR incident's `incidentUri`.
    pub fn tenant_of(self, rec: &Value) -> Option<String> {
        let s = match self {
            Source::GraphAlerts | Source::GraphIncidents => rec.get("tenantId")?.as_str()?,
            Source::MdeAlerts => rec.get("aadTenantId")?.as_str()?,
            Source::XdrIncidents => {
                let uri = url::Url::parse(rec.get("incidentUri")?.as_str()?).ok()?;
                let tid = uri.query_pairs().find(|(k, _)| k == "tid")?.1.into_owned();
                return Some(tid.to_ascii_lowercase());
            }
        };
        Some(s.to_ascii_lowercase())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ids_and_tenants_per_source() {
        let t = "6a3c0b8e-1d2f-4e5a-9b7c-0d1e2f3a4b5c";
        let xdr = json!({"incidentId": 42, "incidentUri": format!("https://security.microsoft.com/incidents/42?tid={t}")});
        assert_eq!(Source::XdrIncidents.id_of(&xdr).as_deref(), Some("42"));
        assert_eq!(Source::XdrIncidents.tenant_of(&xdr).as_deref(), Some(t));
        let mde = json!({"id": "da1_2", "aadTenantId": t.to_uppercase()});
        assert_eq!(Source::MdeAlerts.tenant_of(&mde).as_deref(), Some(t));
        let g = json!({"id": "", "tenantId": t});
        assert_eq!(Source::GraphAlerts.id_of(&g), None, "an empty id is no id");
        assert_eq!(Source::GraphAlerts.id_of(&json!({"id": "a\nb"})), None);
        for s in Source::ALL {
            assert_eq!(Source::parse(s.name()), Some(s));
        }
    }
}
