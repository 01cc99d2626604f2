//! Simulated Defender data per tenant: alerts (Defender for Endpoint `/api/alerts` shape) and
//! incidents (Defender XDR `/api/incidents` shape, each with its alerts), generated
//! deterministically from the tenant ID (same tenant + same anchor time = same items). Times lie
//! in the 30 days before the anchor (the sandbox's start, to the minute).

use crate::clock::format_iso;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

pub const ALERTS_PER_TENANT: usize = 250;
pub const INCIDENTS_PER_TENANT: usize = 60;

/// One item with the times `$filter` can use (Unix milliseconds).
pub struct Item {
    pub json: Value,
    /// alertCreationTime / createdTime.
    pub created: i64,
    pub updated: i64,
}

pub struct TenantData {
    /// Sorted by alertCreationTime.
    pub alerts: Vec<Item>,
    /// Sorted by createdTime.
    pub incidents: Vec<Item>,
}

/// splitmix64: small, deterministic, good enough for fake data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| format!("{:x}", self.below(16))).collect()
    }
    fn guid(&mut self) -> String {
        let h = self.hex(32);
        format!(
            "{}-{}-4{}-a{}-{}",
            &h[..8],
            &h[8..12],
            &h[13..16],
            &h[17..20],
            &h[20..]
        )
    }
}

/// (title, category, detectionSource, threatFamilyName, MITRE technique, XDR detectionSource)
type Template = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static str,
    &'static str,
);

const TEMPLATES: [Template; 14] = [
    (
        "Suspicious PowerShell command line",
        "Execution",
        "WindowsDefenderAtp",
        None,
        "T1059.001",
        "EDR",
    ),
    (
        "Mimikatz credential theft tool",
        "CredentialAccess",
        "WindowsDefenderAv",
        Some("Mimikatz"),
        "T1003.001",
        "Antivirus",
    ),
    (
        "'Emotet' malware was detected",
        "Malware",
        "WindowsDefenderAv",
        Some("Emotet"),
        "T1204.002",
        "Antivirus",
    ),
    (
        "Suspicious process injection observed",
        "DefenseEvasion",
        "WindowsDefenderAtp",
        None,
        "T1055",
        "EDR",
    ),
    (
        "Ransomware behavior detected in the file system",
        "Ransomware",
        "WindowsDefenderAtp",
        None,
        "T1486",
        "EDR",
    ),
    (
        "Suspicious remote activity",
        "LateralMovement",
        "WindowsDefenderAtp",
        None,
        "T1021.002",
        "EDR",
    ),
    (
        "An active 'CobaltStrike' backdoor was detected",
        "CommandAndControl",
        "WindowsDefenderAv",
        Some("CobaltStrike"),
        "T1071.001",
        "Antivirus",
    ),
    (
        "Suspicious scheduled task",
        "Persistence",
        "WindowsDefenderAtp",
        None,
        "T1053.005",
        "EDR",
    ),
    (
        "Anomalous account lookups",
        "Discovery",
        "WindowsDefenderAtp",
        None,
        "T1087.002",
        "EDR",
    ),
    (
        "'Wacatac' malware was prevented",
        "Malware",
        "WindowsDefenderAv",
        Some("Wacatac"),
        "T1204.002",
        "Antivirus",
    ),
    (
        "Connection to a custom network indicator",
        "CommandAndControl",
        "CustomerTI",
        None,
        "T1071",
        "CustomTI",
    ),
    (
        "Potentially unwanted application detected",
        "UnwantedSoftware",
        "WindowsDefenderAv",
        Some("BundleInstaller"),
        "T1204",
        "Antivirus",
    ),
    (
        "Suspicious 'Rundll32' process behavior",
        "DefenseEvasion",
        "WindowsDefenderAtp",
        None,
        "T1218.011",
        "EDR",
    ),
    (
        "Possible exploitation of a public-facing application",
        "InitialAccess",
        "WindowsDefenderAtp",
        None,
        "T1190",
        "EDR",
    ),
];

const SEVERITIES: [&str; 4] = ["Informational", "Low", "Medium", "High"];

fn seed(tid: &str) -> u64 {
    let d = Sha256::digest(tid.as_bytes());
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    u64::from_be_bytes(b)
}

/// .NET ticks, as in Defender alert ids ("da" + ticks + "_" + number).
fn ticks(ms: i64) -> i64 {
    ms.saturating_mul(10_000)
        .saturating_add(621_355_968_000_000_000)
}

struct Machine {
    id: String,
    dns: String,
}

pub fn generate(tid: &str, domain: &str, anchor_ms: i64) -> TenantData {
    let mut rng = Rng(seed(tid));
    let org = domain
        .split('.')
        .next()
        .unwrap_or("corp")
        .to_ascii_lowercase();
    let machines: Vec<Machine> = (0..25)
        .map(|i| Machine {
            id: rng.hex(40),
            dns: match i {
                0 => format!("dc01.{org}.local"),
                1 => format!("fs01.{org}.local"),
                _ => format!("ws-{:04}.{org}.local", 100 + rng.below(9000)),
            },
        })
        .collect();
    let users = [
        "jdoe",
        "asmith",
        "mgarcia",
        "kwilliams",
        "svc-backup",
        "administrator",
    ];
    let analyst = format!("secops@{domain}");
    let day = 86_400_000;
    let base_incident = 100_000 + rng.below(800_000) as i64;

    // Incidents first (creation time), then their alerts.
    let inc_created: Vec<i64> = (0..INCIDENTS_PER_TENANT)
        .map(|_| anchor_ms - 30 * day + rng.below(29 * day as u64) as i64)
        .collect();
    let mut alerts = Vec::with_capacity(ALERTS_PER_TENANT);
    for j in 0..ALERTS_PER_TENANT {
        let inc = j % INCIDENTS_PER_TENANT;
        let (title, category, source, family, mitre, xdr_source) = *rng.pick(&TEMPLATES);
        let created = (inc_created[inc] + rng.below(6 * 3_600_000) as i64).min(anchor_ms);
        let first_event = created - 60_000 - rng.below(30 * 60_000) as i64;
        let last_event = first_event + rng.below((created - first_event).max(1) as u64) as i64;
        let updated = (created + rng.below(5 * day as u64) as i64).min(anchor_ms);
        let severity = SEVERITIES[[0, 1, 1, 2, 2, 2, 3, 3][rng.below(8) as usize]];
        let status = *rng.pick(&[
            "New",
            "New",
            "New",
            "InProgress",
            "InProgress",
            "Resolved",
            "Resolved",
            "Resolved",
        ]);
        let resolved = status == "Resolved";
        let (classification, determination) = if resolved {
            *rng.pick(&[
                (Some("TruePositive"), Some("Malware")),
                (Some("TruePositive"), Some("SecurityTesting")),
                (Some("FalsePositive"), Some("Other")),
                (
                    Some("InformationalExpectedActivity"),
                    Some("SecurityTesting"),
                ),
            ])
        } else {
            (None, None)
        };
        let assigned = match status {
            "New" => None,
            _ if rng.chance(30) => Some("Automation".to_string()),
            _ => Some(analyst.clone()),
        };
        let m = rng.pick(&machines);
        let user = *rng.pick(&users);
        let id = format!("da{}_{}", ticks(created), rng.next() as u32 as i32);
        let investigation = rng.chance(60).then(|| 1000 + rng.below(90_000));
        let detector = rng.guid();
        let json = json!({
            "id": id,
            "incidentId": base_incident + inc as i64,
            "investigationId": investigation,
            "assignedTo": assigned,
            "severity": severity,
            "status": status,
            "classification": classification,
            "determination": determination,
            "investigationState": if investigation.is_some() { *rng.pick(&["Running", "Benign", "SuccessfullyRemediated", "PendingApproval"]) } else { "UnsupportedAlertType" },
            "detectionSource": source,
            "detectorId": detector,
            "category": category,
            "threatFamilyName": family,
            "title": title,
            "description": format!("{title} on {} (simulated by the mssp-token sandbox).", m.dns),
            "alertCreationTime": format_iso(created),
            "firstEventTime": format_iso(first_event),
            "lastEventTime": format_iso(last_event),
            "lastUpdateTime": format_iso(updated),
            "resolvedTime": if resolved { Value::from(format_iso(updated)) } else { Value::Null },
            "machineId": m.id,
            "computerDnsName": m.dns,
            "rbacGroupName": null,
            "aadTenantId": tid,
            "threatName": family.map(|f| format!("Trojan:Win32/{f}")),
            "mitreTechniques": [mitre],
            "relatedUser": {"userName": user, "domainName": org.to_ascii_uppercase()},
            "loggedOnUsers": [{"accountName": user, "domainName": org.to_ascii_uppercase()}],
            "comments": [],
            "evidence": [],
            "sandbox_xdr_detection_source": xdr_source,
        });
        alerts.push(Item {
            json,
            created,
            updated,
        });
    }

    let mut incidents = Vec::with_capacity(INCIDENTS_PER_TENANT);
    for (i, created) in inc_created.iter().enumerate() {
        let mine: Vec<&Item> = alerts
            .iter()
            .enumerate()
            .filter(|(j, _)| j % INCIDENTS_PER_TENANT == i)
            .map(|(_, a)| a)
            .collect();
        let created = mine.iter().map(|a| a.created).min().unwrap_or(*created);
        let updated = mine.iter().map(|a| a.updated).max().unwrap_or(created);
        let sev_rank = |a: &Item| {
            SEVERITIES
                .iter()
                .position(|s| a.json["severity"] == *s)
                .unwrap_or(0)
        };
        let severity = SEVERITIES[mine.iter().map(|a| sev_rank(a)).max().unwrap_or(0)];
        let all_resolved = mine.iter().all(|a| a.json["status"] == "Resolved");
        let first = mine.first().map(|a| &a.json);
        let categories: Vec<&str> = {
            let mut c: Vec<&str> = mine
                .iter()
                .filter_map(|a| a.json["category"].as_str())
                .collect();
            c.dedup();
            c
        };
        let id = base_incident + i as i64;
        let name = if mine.len() > 1 {
            format!(
                "Multi-stage incident involving {} on {}",
                categories
                    .iter()
                    .take(2)
                    .copied()
                    .collect::<Vec<_>>()
                    .join(" & "),
                first
                    .and_then(|f| f["computerDnsName"].as_str())
                    .unwrap_or("one endpoint")
            )
        } else {
            first
                .and_then(|f| f["title"].as_str())
                .unwrap_or("Incident")
                .to_string()
        };
        let (classification, determination) = if all_resolved {
            ("TruePositive", "Malware")
        } else {
            ("Unknown", "NotAvailable")
        };
        let tags: Vec<&str> = categories
            .iter()
            .filter(|c| matches!(**c, "Ransomware" | "CredentialAccess"))
            .copied()
            .collect();
        let xdr_alerts: Vec<Value> = mine.iter().map(|a| xdr_alert(&a.json)).collect();
        let json = json!({
            "incidentId": id,
            "incidentUri": format!("https://security.microsoft.com/incidents/{id}?tid={tid}"),
            "redirectIncidentId": null,
            "incidentName": name,
            "createdTime": format_iso(created),
            "lastUpdateTime": format_iso(updated),
            "assignedTo": first.map(|f| f["assignedTo"].clone()).unwrap_or(Value::Null),
            "classification": classification,
            "determination": determination,
            "status": if all_resolved { "Resolved" } else { "Active" },
            "severity": severity,
            "tags": tags,
            "comments": [],
            "alerts": xdr_alerts,
        });
        incidents.push(Item {
            json,
            created,
            updated,
        });
    }
    for a in &mut alerts {
        if let Some(m) = a.json.as_object_mut() {
            m.remove("sandbox_xdr_detection_source");
        }
    }
    alerts.sort_by_key(|a| a.created);
    incidents.sort_by_key(|i| i.created);
    TenantData { alerts, incidents }
}

/// An MDE alert as Defender XDR lists it inside an incident.
fn xdr_alert(a: &Value) -> Value {
    json!({
        "alertId": a["id"],
        "providerAlertId": a["id"],
        "incidentId": a["incidentId"],
        "serviceSource": "MicrosoftDefenderForEndpoint",
        "creationTime": a["alertCreationTime"],
        "lastUpdatedTime": a["lastUpdateTime"],
        "resolvedTime": a["resolvedTime"],
        "firstActivity": a["firstEventTime"],
        "lastActivity": a["lastEventTime"],
        "title": a["title"],
        "description": a["description"],
        "category": a["category"],
        "status": a["status"],
        "severity": a["severity"],
        "investigationId": a["investigationId"],
        "investigationState": a["investigationState"],
        "classification": a["classification"],
        "determination": a["determination"],
        "detectionSource": a["sandbox_xdr_detection_source"],
        "detectorId": a["detectorId"],
        "assignedTo": a["assignedTo"],
        "actorName": null,
        "threatFamilyName": a["threatFamilyName"],
        "mitreTechniques": a["mitreTechniques"],
        "devices": [{
            "mdatpDeviceId": a["machineId"],
            "deviceDnsName": a["computerDnsName"],
            "osPlatform": "Windows11",
            "healthStatus": "Active",
            "riskScore": "Medium",
        }],
        "entities": [],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_tenant_and_linked() {
        let anchor = 1_763_800_000_000;
        let a = generate(
            "9ed38d36-d1a6-4200-9985-86bb0271d957",
            "contoso.onmicrosoft.com",
            anchor,
        );
        let b = generate(
            "9ed38d36-d1a6-4200-9985-86bb0271d957",
            "contoso.onmicrosoft.com",
            anchor,
        );
        let c = generate(
            "c48fcbb1-e295-4b5c-b80f-1376e2cb1575",
            "fabrikam.onmicrosoft.com",
            anchor,
        );
        assert_eq!(a.alerts.len(), ALERTS_PER_TENANT);
        assert_eq!(a.incidents.len(), INCIDENTS_PER_TENANT);
        assert_eq!(a.alerts[7].json, b.alerts[7].json);
        assert_ne!(a.alerts[7].json["id"], c.alerts[7].json["id"]);
        for al in &a.alerts {
            assert!(al.json["id"].as_str().unwrap().starts_with("da63"));
            assert!(al.updated >= al.created && al.updated <= anchor);
            assert!(al.json.get("sandbox_xdr_detection_source").is_none());
        }
        let total: usize = a
            .incidents
            .iter()
            .map(|i| i.json["alerts"].as_array().unwrap().len())
            .sum();
        assert_eq!(total, ALERTS_PER_TENANT);
        let inc = &a.incidents[0].json;
        let first = &inc["alerts"][0];
        assert_eq!(first["incidentId"], inc["incidentId"]);
        assert!(first["detectionSource"].is_string());
    }
}
