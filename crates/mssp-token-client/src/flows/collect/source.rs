//! What can be collected: per source, its API (host and token audience from the API table), its
//! path, the record's id, update time and tenant fields, the page limit and the request budget
//! the service allows per tenant.

use crate::apis::ApiTarget;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
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

    /// The API pages with `@odata.nextLink` whenever more records remain (Graph), so a page
    /// without one is the last. The Defender APIs give no link with `$top` (a full page may be
    /// followed by more).
    pub fn pages_with_links(self) -> bool {
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

    /// The id, update time and tenant a record names, read from its fields.
    pub fn read(self, f: &Fields<'_>) -> (Option<String>, Option<String>, Option<String>) {
        let id = match self {
            Source::XdrIncidents => f.incident_id,
            _ => f.id,
        }
        .and_then(id_text);
        let time = match self {
            Source::GraphAlerts | Source::GraphIncidents => f.last_update_date_time.as_deref(),
            Source::MdeAlerts | Source::XdrIncidents => f.last_update_time.as_deref(),
        }
        .map(str::to_string);
        let tenant = match self {
            Source::GraphAlerts | Source::GraphIncidents => {
                f.tenant_id.as_deref().map(str::to_string)
            }
            Source::MdeAlerts => f.aad_tenant_id.as_deref().map(str::to_string),
            Source::XdrIncidents => f.incident_uri.as_deref().and_then(|u| {
                let uri = url::Url::parse(u).ok()?;
                let tid = uri.query_pairs().find(|(k, _)| k == "tid")?.1.into_owned();
                Some(tid)
            }),
        }
        .map(|t| t.to_ascii_lowercase());
        (id, time, tenant)
    }
}

/// The fields of a record that `collect` reads (the others are skipped unparsed). A record
/// that is not an object, names a field twice, or gives one of these the wrong type, fails to
/// read (and is refused as malformed).
#[derive(Debug, Default, Deserialize)]
pub struct Fields<'a> {
    #[serde(borrow, default)]
    id: Option<&'a RawValue>,
    #[serde(rename = "incidentId", borrow, default)]
    incident_id: Option<&'a RawValue>,
    #[serde(rename = "lastUpdateDateTime", borrow, default)]
    last_update_date_time: Option<Cow<'a, str>>,
    #[serde(rename = "lastUpdateTime", borrow, default)]
    last_update_time: Option<Cow<'a, str>>,
    #[serde(rename = "tenantId", borrow, default)]
    tenant_id: Option<Cow<'a, str>>,
    #[serde(rename = "aadTenantId", borrow, default)]
    aad_tenant_id: Option<Cow<'a, str>>,
    #[serde(rename = "incidentUri", borrow, default)]
    incident_uri: Option<Cow<'a, str>>,
}

impl<'a> Fields<'a> {
    /// The fields of one record's JSON; `None` unless it is an object that reads (serde would
    /// take an array for a struct too).
    pub fn of(json: &'a str) -> Option<Fields<'a>> {
        if !json.trim_start().starts_with('{') {
            return None;
        }
        serde_json::from_str(json).ok()
    }
}

/// An id: a JSON string, or a whole number (XDR incident ids) written as text; at most 256
/// characters, no control characters.
fn id_text(raw: &RawValue) -> Option<String> {
    let t = raw.get();
    let id = if t.starts_with('"') {
        serde_json::from_str::<String>(t).ok()?
    } else if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.to_string()
    } else {
        return None;
    };
    let ok = !id.is_empty() && id.len() <= 256 && !id.chars().any(char::is_control);
    ok.then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(source: Source, json: &str) -> (Option<String>, Option<String>, Option<String>) {
        Fields::of(json)
            .map(|f| source.read(&f))
            .unwrap_or_default()
    }

    #[test]
    fn ids_and_tenants_per_source() {
        let t = "6a3c0b8e-1d2f-4e5a-9b7c-0d1e2f3a4b5c";
        let xdr = format!(
            r#"{{"incidentId": 42, "lastUpdateTime": "2026-11-30T10:00:00Z", "incidentUri": "https://security.microsoft.com/incidents/42?tid={t}"}}"#
        );
        let (id, time, tenant) = read(Source::XdrIncidents, &xdr);
        assert_eq!(id.as_deref(), Some("42"));
        assert_eq!(time.as_deref(), Some("2026-11-30T10:00:00Z"));
        assert_eq!(tenant.as_deref(), Some(t));
        let mde = format!(
            r#"{{"id": "da1_2", "aadTenantId": "{}", "x": [1, {{"y": 2}}]}}"#,
            t.to_uppercase()
        );
        assert_eq!(read(Source::MdeAlerts, &mde).2.as_deref(), Some(t));
        assert_eq!(
            read(Source::GraphAlerts, r#"{"id": ""}"#).0,
            None,
            "an empty id is no id"
        );
        assert_eq!(read(Source::GraphAlerts, r#"{"id": "a\nb"}"#).0, None);
        assert_eq!(read(Source::GraphAlerts, r#"{"id": 1.5}"#).0, None);
        assert_eq!(
            read(Source::GraphAlerts, r#"{"id": "a", "id": "b"}"#).0,
            None,
            "a field twice"
        );
        assert_eq!(read(Source::GraphAlerts, r#"["id"]"#).0, None);
        assert_eq!(
            read(
                Source::GraphAlerts,
                r#"{"id": "a", "lastUpdateDateTime": 5}"#
            )
            .0,
            None,
            "a field of the wrong type"
        );
        for s in Source::ALL {
            assert_eq!(Source::parse(s.name()), Some(s));
        }
    }
}
