//! Simulated Microsoft Graph security data per tenant: alerts (`/v1.0/security/alerts_v2`) and
//! incidents (`/v1.0/security/incidents`), generated deterministically from the tenant ID and
//! the anchor time (the sandbox's start, to the minute), then changed on demand
//! (POST /sandbox/graph/touch, handlers/graph.rs).
//!
//! Like Defender: alerts are updated in batches (an automated investigation, a bulk resolve), so
//! every batch shares ONE lastUpdateDateTime (batches of 1 to 12 alerts); a touch updates old
//! alerts under the same id (new lastUpdateDateTime, status moving new -> inProgress ->
//! resolved) and adds new ones. Alerts are grouped by three into incidents; an incident's
//! lastUpdateDateTime is the latest of its alerts'.

use crate::clock::format_iso;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Alerts per incident (the last incident of a batch may hold fewer).
pub const ALERTS_PER_INCIDENT: usize = 3;
const DAY_MS: i64 = 86_400_000;
/// Generated alerts lie in the 30 days before the anchor.
const SPAN_MS: i64 = 30 * DAY_MS;

const STATUS: [&str; 3] = ["new", "inProgress", "resolved"];
const SEVERITY: [&str; 4] = ["informational", "low", "medium", "high"];
/// serviceSource values; the last two come after `unknownFutureValue` in Graph's evolvable
/// enum, so without `Prefer: include-unknown-enum-members` they read "unknownFutureValue".
const SOURCES: [(&str, &str); 6] = [
    (
        "microsoftDefenderForEndpoint",
        "microsoftDefenderForEndpoint",
    ),
    (
        "microsoftDefenderForIdentity",
        "microsoftDefenderForIdentity",
    ),
    (
        "microsoftDefenderForOffice365",
        "microsoftDefenderForOffice365",
    ),
    (
        "microsoftDefenderForCloudApps",
        "microsoftDefenderForCloudApps",
    ),
    ("microsoftDefenderForCloud", "unknownFutureValue"),
    ("microsoftSentinel", "unknownFutureValue"),
];
/// (title, category, MITRE technique).
const KINDS: [(&str, &str, &str); 6] = [
    (
        "Suspicious PowerShell command line",
        "Execution",
        "T1059.001",
    ),
    (
        "Ransomware behavior detected in the file system",
        "Ransomware",
        "T1486",
    ),
    (
        "Suspicious access to LSASS service",
        "CredentialAccess",
        "T1003.001",
    ),
    (
        "Anomalous sign-in from an unfamiliar location",
        "InitialAccess",
        "T1078",
    ),
    (
        "Email messages containing malicious URL removed after delivery",
        "InitialAccess",
        "T1566.002",
    ),
    (
        "Suspicious inbox manipulation rule",
        "Persistence",
        "T1137.005",
    ),
];

/// One alert, compact (rendered to JSON when served).
#[derive(Debug, Clone)]
pub struct Alert {
    pub id: String,
    /// Index into `TenantGraph::incidents`.
    pub incident: usize,
    /// Unix ms.
    pub created: i64,
    pub updated: i64,
    pub status: usize,
    pub severity: usize,
    pub source: usize,
    pub kind: usize,
    /// How many times the alert was updated (1 = as created).
    pub version: u32,
}

#[derive(Debug, Clone)]
pub struct Incident {
    pub id: u64,
    pub created: i64,
    pub updated: i64,
    /// Indexes into `TenantGraph::alerts`.
    pub alerts: Vec<usize>,
}

/// A tenant's Graph security data.
pub struct TenantGraph {
    pub tid: String,
    pub alerts: Vec<Alert>,
    pub incidents: Vec<Incident>,
    rng: u64,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A touched alert: (id, lastUpdateDateTime in ms, new or updated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub id: String,
    pub updated: i64,
    pub new: bool,
}

impl TenantGraph {
    /// `n` alerts for tenant `tid`, the same for the same (tid, anchor, n).
    pub fn generate(tid: &str, anchor_ms: i64, n: usize) -> TenantGraph {
        let h = Sha256::digest(format!("graph|{tid}|{anchor_ms}").as_bytes());
        let seed = u64::from_be_bytes(h[..8].try_into().unwrap_or([0; 8]));
        let mut g = TenantGraph {
            tid: tid.to_string(),
            alerts: Vec::with_capacity(n),
            incidents: Vec::new(),
            rng: seed,
        };
        let start = anchor_ms - SPAN_MS;
        let batches = n.div_ceil(6).max(1) as i64;
        let mut b = 0i64;
        while g.alerts.len() < n {
            let size = (1 + g.below(12) as usize).min(n - g.alerts.len());
            // The batch's shared lastUpdateDateTime, spread over the span, before the anchor.
            let slot = SPAN_MS / batches;
            let t = (start + b * slot + g.below(slot.max(1) as u64) as i64).min(anchor_ms - 1);
            let created: Vec<i64> = (0..size)
                .map(|_| (t - g.below(3 * DAY_MS as u64) as i64).max(start))
                .collect();
            g.add_alerts(&created, t, |g| 1 + g.below(4) as u32);
            b += 1;
        }
        g
    }

    fn next(&mut self) -> u64 {
        splitmix(&mut self.rng)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// Adds alerts created at `created`, all last updated at `updated`, in new incidents.
    fn add_alerts(&mut self, created: &[i64], updated: i64, version: impl Fn(&mut Self) -> u32) {
        for chunk in created.chunks(ALERTS_PER_INCIDENT) {
            let inc = self.incidents.len();
            let mut members = Vec::new();
            for &c in chunk {
                let digits = self.next() % 1_000_000_000_000_000_000;
                let tail = (self.next() % 2_000_000_000) as i64 - 1_000_000_000;
                let v = version(self);
                let status = if v >= 3 { 2 } else { (v - 1) as usize };
                let a = Alert {
                    id: format!("da{digits:018}_{tail}"),
                    incident: inc,
                    created: c.min(updated),
                    updated,
                    status,
                    severity: self.below(4) as usize,
                    source: self.below(SOURCES.len() as u64) as usize,
                    kind: self.below(KINDS.len() as u64) as usize,
                    version: v,
                };
                members.push(self.alerts.len());
                self.alerts.push(a);
            }
            let id = 10_000 + inc as u64;
            let created = members
                .iter()
                .map(|&i| self.alerts[i].created)
                .min()
                .unwrap_or(updated);
            self.incidents.push(Incident {
                id,
                created,
                updated,
                alerts: members,
            });
        }
    }

    /// Adds `new` alerts and updates `update` existing ones (distinct, chosen by the tenant's
    /// generator), all with lastUpdateDateTime `at` (Unix ms).
    pub fn touch(&mut self, new: usize, update: usize, at: i64) -> Vec<Touched> {
        let mut out = Vec::new();
        let existing = self.alerts.len();
        let update = update.min(existing);
        let mut chosen: Vec<usize> = Vec::new();
        while chosen.len() < update {
            let i = self.below(existing as u64) as usize;
            if !chosen.contains(&i) {
                chosen.push(i);
            }
        }
        for i in chosen {
            let a = &mut self.alerts[i];
            a.updated = at;
            a.version += 1;
            a.status = (a.status + 1).min(2);
            let inc = a.incident;
            out.push(Touched {
                id: a.id.clone(),
                updated: at,
                new: false,
            });
            let inc = &mut self.incidents[inc];
            inc.updated = inc.updated.max(at);
        }
        if new > 0 {
            let created = vec![at; new];
            let first = self.alerts.len();
            self.add_alerts(&created, at, |_| 1);
            out.extend(self.alerts[first..].iter().map(|a| Touched {
                id: a.id.clone(),
                updated: at,
                new: true,
            }));
        }
        out
    }

    /// An alert as Graph serves it (`unknown_enums`: the client sent
    /// `Prefer: include-unknown-enum-members`).
    pub fn alert_json(&self, i: usize, unknown_enums: bool) -> Value {
        let a = &self.alerts[i];
        let inc = &self.incidents[a.incident];
        let (title, category, technique) = KINDS[a.kind];
        let (source, old_source) = SOURCES[a.source];
        let tid = &self.tid;
        json!({
            "id": a.id,
            "providerAlertId": a.id.trim_start_matches("da"),
            "incidentId": inc.id.to_string(),
            "status": STATUS[a.status],
            "severity": SEVERITY[a.severity],
            "classification": if a.status == 2 { Value::from("truePositive") } else { Value::Null },
            "determination": if a.status == 2 { Value::from("malware") } else { Value::Null },
            "serviceSource": if unknown_enums { source } else { old_source },
            "detectionSource": "microsoftDefenderForEndpoint",
            "detectorId": format!("{:08x}-0000-4000-8000-{:012x}", a.kind, a.kind),
            "tenantId": tid,
            "title": title,
            "description": format!("{title} (sandbox alert, update {}).", a.version),
            "recommendedActions": "Investigate the device and the user; isolate the device if needed.",
            "category": category,
            "assignedTo": if a.status == 0 { Value::Null } else { Value::from("secops@contoso.example") },
            "alertWebUrl": format!("https://security.microsoft.com/alerts/{}?tid={tid}", a.id),
            "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}?tid={tid}", inc.id),
            "actorDisplayName": null,
            "threatDisplayName": null,
            "threatFamilyName": null,
            "mitreTechniques": [technique],
            "createdDateTime": format_iso(a.created),
            "lastUpdateDateTime": format_iso(a.updated),
            "resolvedDateTime": if a.status == 2 { Value::from(format_iso(a.updated)) } else { Value::Null },
            "firstActivityDateTime": format_iso(a.created - 60_000),
            "lastActivityDateTime": format_iso(a.created),
            "comments": [],
            "evidence": [],
            "systemTags": [],
            "@odata.type": "#microsoft.graph.security.alert",
        })
    }

    /// An incident as Graph serves it; with `expand`, its alerts too.
    pub fn incident_json(&self, i: usize, expand: bool, unknown_enums: bool) -> Value {
        let inc = &self.incidents[i];
        let tid = &self.tid;
        let sev = inc
            .alerts
            .iter()
            .map(|&a| self.alerts[a].severity)
            .max()
            .unwrap_or(0);
        let resolved = inc.alerts.iter().all(|&a| self.alerts[a].status == 2);
        let started = inc.alerts.iter().any(|&a| self.alerts[a].status > 0);
        let first = inc.alerts.first().map(|&a| KINDS[self.alerts[a].kind].0);
        let mut v = json!({
            "id": inc.id.to_string(),
            "tenantId": tid,
            "displayName": first.unwrap_or("Incident"),
            "incidentWebUrl": format!("https://security.microsoft.com/incidents/{}?tid={tid}", inc.id),
            "redirectIncidentId": null,
            "status": if resolved { "resolved" } else if started { "inProgress" } else { "active" },
            "severity": SEVERITY[sev],
            "classification": if resolved { Value::from("truePositive") } else { Value::Null },
            "determination": if resolved { Value::from("malware") } else { Value::Null },
            "assignedTo": null,
            "createdDateTime": format_iso(inc.created),
            "lastUpdateDateTime": format_iso(inc.updated),
            "customTags": [],
            "systemTags": [],
            "description": null,
            "summary": null,
            "comments": [],
        });
        if expand {
            v["alerts"] = inc
                .alerts
                .iter()
                .map(|&a| self.alert_json(a, unknown_enums))
                .collect();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_batched_and_touchable() {
        let anchor = 1_763_800_000_000;
        let a = TenantGraph::generate("t1", anchor, 300);
        let b = TenantGraph::generate("t1", anchor, 300);
        let c = TenantGraph::generate("t2", anchor, 300);
        assert_eq!(a.alerts.len(), 300);
        assert_eq!(a.alert_json(7, true), b.alert_json(7, true));
        assert_ne!(a.alerts[7].id, c.alerts[7].id);
        let mut times: Vec<i64> = a.alerts.iter().map(|x| x.updated).collect();
        times.sort();
        times.dedup();
        assert!(
            times.len() < 150,
            "batches share timestamps: {}",
            times.len()
        );
        assert!(a
            .alerts
            .iter()
            .all(|x| x.created <= x.updated && x.updated < anchor));
        let mut g = a;
        let t = g.touch(4, 5, anchor + 1000);
        assert_eq!(t.len(), 9);
        assert_eq!(g.alerts.len(), 304);
        assert!(
            g.alerts
                .iter()
                .filter(|x| x.updated == anchor + 1000)
                .count()
                == 9
        );
    }
}
