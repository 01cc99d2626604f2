//! The one table of API targets: for each API (Defender for Endpoint, Defender XDR, Microsoft
//! Graph) and each cloud, the base URL, the token audience (v1 resource; v2 scope
//! `RESOURCE/.default`), and which application permission each path needs (for explaining a
//! 401/403). Everything that asks "which host, which audience, which role" reads it here.
//!
//! Sources: the clouds table of entra-protocol.md (Microsoft's "Defender for Endpoint for US
//! Government customers" page: the audience of a US Government Defender API is its own host).

use crate::authority::Cloud;

/// An API that mssp-token calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiTarget {
    /// Microsoft Defender for Endpoint (`/api/alerts`, `/api/machines`, ...).
    Mde,
    /// Microsoft Defender XDR (`/api/incidents`, `/api/advancedhunting`).
    Xdr,
    /// Microsoft Graph, the security API (`/v1.0/security/alerts_v2`, `/v1.0/security/incidents`).
    Graph,
}

/// One row of the table: an API in a cloud.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiEndpoint {
    pub target: ApiTarget,
    pub cloud: Cloud,
    /// Where requests go, e.g. https://api-gov.securitycenter.microsoft.us
    pub base_url: &'static str,
    /// The token audience (v1 `resource=`), e.g. https://api-gov.securitycenter.microsoft.us
    pub resource: &'static str,
}

/// (target, cloud, base URL, token resource). A cloud missing for a target has no such API.
const TABLE: &[(ApiTarget, Cloud, &str, &str)] = &[
    (
        ApiTarget::Mde,
        Cloud::Public,
        "https://api.securitycenter.microsoft.com",
        "https://api.securitycenter.microsoft.com",
    ),
    (
        ApiTarget::Mde,
        Cloud::Gcc,
        "https://api-gcc.securitycenter.microsoft.us",
        "https://api-gcc.securitycenter.microsoft.us",
    ),
    (
        ApiTarget::Mde,
        Cloud::Usgov,
        "https://api-gov.securitycenter.microsoft.us",
        "https://api-gov.securitycenter.microsoft.us",
    ),
    (
        ApiTarget::Mde,
        Cloud::Dod,
        "https://api-gov.securitycenter.microsoft.us",
        "https://api-gov.securitycenter.microsoft.us",
    ),
    (
        ApiTarget::Xdr,
        Cloud::Public,
        "https://api.security.microsoft.com",
        "https://api.security.microsoft.com",
    ),
    (
        ApiTarget::Xdr,
        Cloud::Gcc,
        "https://api-gcc.security.microsoft.us",
        "https://api-gcc.security.microsoft.us",
    ),
    (
        ApiTarget::Xdr,
        Cloud::Usgov,
        "https://api-gov.security.microsoft.us",
        "https://api-gov.security.microsoft.us",
    ),
    (
        ApiTarget::Xdr,
        Cloud::Dod,
        "https://api-gov.security.microsoft.us",
        "https://api-gov.security.microsoft.us",
    ),
    (
        ApiTarget::Graph,
        Cloud::Public,
        "https://graph.microsoft.com",
        "https://graph.microsoft.com",
    ),
    (
        ApiTarget::Graph,
        Cloud::Gcc,
        "https://graph.microsoft.com",
        "https://graph.microsoft.com",
    ),
    (
        ApiTarget::Graph,
        Cloud::Usgov,
        "https://graph.microsoft.us",
        "https://graph.microsoft.us",
    ),
    (
        ApiTarget::Graph,
        Cloud::Dod,
        "https://dod-graph.microsoft.us",
        "https://dod-graph.microsoft.us",
    ),
    (
        ApiTarget::Graph,
        Cloud::China,
        "https://microsoftgraph.chinacloudapi.cn",
        "https://microsoftgraph.chinacloudapi.cn",
    ),
];

/// (target, path prefix, the application permission(s) it needs). Graph paths are matched
/// after their version segment (/v1.0 or /beta).
const ROLES: &[(ApiTarget, &str, &str)] = &[
    (
        ApiTarget::Mde,
        "/api/alerts",
        "Alert.Read.All (or Alert.ReadWrite.All)",
    ),
    (
        ApiTarget::Mde,
        "/api/incidents",
        "Incident.Read.All (or Incident.ReadWrite.All)",
    ),
    (
        ApiTarget::Mde,
        "/api/machines",
        "Machine.Read.All (or Machine.ReadWrite.All)",
    ),
    (
        ApiTarget::Mde,
        "/api/advancedqueries",
        "AdvancedQuery.Read.All",
    ),
    (
        ApiTarget::Mde,
        "/api/advancedhunting",
        "AdvancedHunting.Read.All",
    ),
    (
        ApiTarget::Mde,
        "/api/vulnerabilities",
        "Vulnerability.Read.All",
    ),
    (ApiTarget::Mde, "/api/indicators", "Ti.ReadWrite.All"),
    (
        ApiTarget::Xdr,
        "/api/incidents",
        "Incident.Read.All (or Incident.ReadWrite.All)",
    ),
    (
        ApiTarget::Xdr,
        "/api/alerts",
        "Alert.Read.All (or Alert.ReadWrite.All)",
    ),
    (
        ApiTarget::Xdr,
        "/api/advancedhunting",
        "AdvancedHunting.Read.All",
    ),
    (
        ApiTarget::Graph,
        "/security/alerts_v2",
        "SecurityAlert.Read.All (or SecurityAlert.ReadWrite.All)",
    ),
    (
        ApiTarget::Graph,
        "/security/incidents",
        "SecurityIncident.Read.All (or SecurityIncident.ReadWrite.All)",
    ),
    (
        ApiTarget::Graph,
        "/security/runhuntingquery",
        "ThreatHunting.Read.All",
    ),
];

impl ApiTarget {
    pub const ALL: [ApiTarget; 3] = [ApiTarget::Mde, ApiTarget::Xdr, ApiTarget::Graph];

    /// The name `--api` uses.
    pub fn name(self) -> &'static str {
        match self {
            ApiTarget::Mde => "mde",
            ApiTarget::Xdr => "xdr",
            ApiTarget::Graph => "graph",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ApiTarget::Mde => "the Defender for Endpoint API",
            ApiTarget::Xdr => "the Defender XDR API",
            ApiTarget::Graph => "Microsoft Graph",
        }
    }

    /// This API in `cloud`, or None where the cloud does not offer it.
    pub fn in_cloud(self, cloud: Cloud) -> Option<ApiEndpoint> {
        TABLE
            .iter()
            .find(|(t, c, _, _)| *t == self && *c == cloud)
            .map(|&(target, cloud, base_url, resource)| ApiEndpoint {
                target,
                cloud,
                base_url,
                resource,
            })
    }

    /// The application permission(s) a path of this API needs, e.g. "Alert.Read.All (or
    /// Alert.ReadWrite.All)".
    pub fn role_for_path(self, path: &str) -> Option<&'static str> {
        let lower = path.to_ascii_lowercase();
        let path = match self {
            ApiTarget::Graph => lower
                .strip_prefix("/v1.0")
                .or_else(|| lower.strip_prefix("/beta"))
                .unwrap_or(&lower)
                .to_string(),
            _ => lower,
        };
        ROLES
            .iter()
            .find(|(t, prefix, _)| *t == self && path.starts_with(prefix))
            .map(|(_, _, roles)| *roles)
    }
}

impl ApiEndpoint {
    /// The v2 app-only scope: `RESOURCE/.default`.
    pub fn default_scope(&self) -> String {
        format!("{}/.default", self.resource)
    }

    pub fn base(&self) -> url::Url {
        url::Url::parse(self.base_url).expect("the API table holds URLs")
    }
}

/// Why an API is missing in a cloud, for messages.
pub fn not_offered(target: ApiTarget, cloud: Cloud) -> String {
    format!(
        "{} is not offered in the {} cloud",
        target.title(),
        cloud.name()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_parses_and_audience_is_the_api_host_in_government_clouds() {
        for t in ApiTarget::ALL {
            for c in Cloud::ALL {
                if let Some(e) = t.in_cloud(c) {
                    assert_eq!(e.base().scheme(), "https");
                    assert!(e.default_scope().ends_with("/.default"));
                    if matches!(c, Cloud::Gcc | Cloud::Usgov | Cloud::Dod) && t != ApiTarget::Graph
                    {
                        assert_eq!(e.base_url, e.resource, "{t:?} {c:?}");
                        assert!(e.resource.ends_with(".us"), "{t:?} {c:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn gcc_high_defender_is_never_the_commercial_audience() {
        let e = ApiTarget::Mde.in_cloud(Cloud::Usgov).unwrap();
        assert_eq!(e.resource, "https://api-gov.securitycenter.microsoft.us");
        let g = ApiTarget::Graph.in_cloud(Cloud::Dod).unwrap();
        assert_eq!(g.default_scope(), "https://dod-graph.microsoft.us/.default");
        assert!(ApiTarget::Mde.in_cloud(Cloud::China).is_none());
    }

    #[test]
    fn roles_per_path() {
        assert_eq!(
            ApiTarget::Mde.role_for_path("/api/alerts?$top=1"),
            Some("Alert.Read.All (or Alert.ReadWrite.All)")
        );
        assert_eq!(
            ApiTarget::Graph.role_for_path("/v1.0/security/alerts_v2"),
            Some("SecurityAlert.Read.All (or SecurityAlert.ReadWrite.All)")
        );
        assert_eq!(ApiTarget::Graph.role_for_path("/v1.0/users"), None);
    }
}
