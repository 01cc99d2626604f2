//! `report merge`: the per-tenant reports of the N shards of one run (`onboard --report`,
//! `collect --report`, e.g. the jobs of a CI matrix) checked and joined into one report.
//!
//! A report is NDJSON, one JSON object per tenant, with at least `status` ("ok" or "failed")
//! and one of `tenant_id` / `tenant`. Lines are otherwise kept as they are, in the order of
//! the files given. The checks, all made before anything is written:
//! - every line is such an object (else its `file:line` is named);
//! - the reports come from one kind of run: an `onboard` line (it has `stage`) and a `collect`
//!   line (it has `sources`) in one merge are refused;
//! - the shards partition the tenants: the same tenant (same `tenant_id`, else the same
//!   `tenant`, case-insensitively) in two reports is refused, naming both lines. Within one
//!   report a repeat is kept: `onboard` itself writes a failed line for a tenant listed twice;
//! - with an expected shard count, exactly that many reports (a lost shard's artifact is an
//!   error, not a smaller merge).
//!
//! An empty report is fine: a shard that had no tenants.

use crate::error::{fail, io_reason, usage, Exit};
use anyhow::Result;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};

/// One shard's report as read.
pub struct Report {
    /// The path as given (for messages).
    pub shown: String,
    pub text: String,
}

/// Which command wrote the reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Onboard,
    Collect,
}

impl Kind {
    pub fn command(self) -> &'static str {
        match self {
            Kind::Onboard => "onboard",
            Kind::Collect => "collect",
        }
    }
}

/// The merged report and what the summary says about it.
#[derive(Debug)]
pub struct Merged {
    /// The lines of every report, in the order given, each ended by a newline.
    pub text: String,
    /// How many reports were merged.
    pub reports: usize,
    /// None when every report is empty or no line says (no `stage`, no `sources`).
    pub kind: Option<Kind>,
    pub tenants: usize,
    pub ok: usize,
    pub failed: usize,
    /// Failed tenants by reason: `onboard` by stage, then AADSTS code / HTTP status; `collect`
    /// by failed source (or "tenant" when no source failed).
    pub failures: BTreeMap<(u8, String), BTreeMap<String, usize>>,
    /// `collect`: the sum of every source's `records` and `refused`.
    pub records: u64,
    pub refused: u64,
}

/// Checks the number of reports against `--expect-shards`.
pub fn check_shards(expected: Option<u32>, given: usize) -> Result<()> {
    match expected {
        Some(n) if n as usize != given => {
            let why = if (n as usize) > given {
                "a shard's report is missing (did its job fail before writing or uploading it?)"
            } else {
                "more reports than shards (a report given twice, or one from another run?)"
            };
            Err(usage(format!(
                "expected {n} shard reports, got {given}: {why}"
            )))
        }
        _ => Ok(()),
    }
}

/// Reads every report whole. A missing, unreadable or non-text file, something other than a
/// regular file, or a file given twice is exit 2 naming the path.
pub fn read_all(paths: &[PathBuf]) -> Result<Vec<Report>> {
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let shown = path.display().to_string();
        let text = read_one(path)?;
        if let Ok(real) = std::fs::canonicalize(path) {
            if let Some(first) = seen.insert(real, shown.clone()) {
                return Err(usage(format!(
                    "{shown}: the same report as {first}, given twice"
                )));
            }
        }
        out.push(Report { shown, text });
    }
    Ok(out)
}

fn read_one(path: &Path) -> Result<String> {
    let shown = path.display();
    // A report that is not a regular file (a FIFO cannot hang the merge) is bad input here.
    let mut file = crate::store::paths::open_regular_as(path, "a report file written by --report")
        .map_err(|e| usage(e.to_string()))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)
        .map_err(|e| usage(format!("{shown}: cannot read it ({})", io_reason(&e))))?;
    String::from_utf8(bytes).map_err(|_| usage(format!("{shown}: not a report: not UTF-8 text")))
}

/// Where a line came from: the index of its report and its 1-based line number.
#[derive(Clone, Copy)]
struct Place {
    report: usize,
    line: usize,
}

/// A tenant seen so far, for the partition check.
struct Seen {
    place: Place,
    tenant_id: Option<String>,
}

/// Checks and joins the reports (see the module's comment for the rules).
pub fn merge(reports: &[Report]) -> Result<Merged> {
    let at = |p: Place| format!("{}:{}", reports[p.report].shown, p.line);
    let mut merged = Merged {
        text: String::new(),
        reports: reports.len(),
        kind: None,
        tenants: 0,
        ok: 0,
        failed: 0,
        failures: BTreeMap::new(),
        records: 0,
        refused: 0,
    };
    let mut kind_at: Option<(Kind, Place)> = None;
    let mut by_id: HashMap<String, Place> = HashMap::new();
    let mut by_name: HashMap<String, Vec<Seen>> = HashMap::new();
    let mut overlaps: Vec<String> = Vec::new();

    for (r, report) in reports.iter().enumerate() {
        let text = report.text.strip_prefix('\u{feff}').unwrap_or(&report.text);
        for (i, raw) in text.lines().enumerate() {
            let place = Place {
                report: r,
                line: i + 1,
            };
            let line = raw.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let obj = parse_line(line).map_err(|why| usage(format!("{}: {why}", at(place))))?;
            let (tenant_id, tenant) =
                identity(&obj).map_err(|why| usage(format!("{}: {why}", at(place))))?;
            let status = match obj.get("status") {
                Some(Value::String(s)) if !s.is_empty() => s.as_str(),
                _ => {
                    return Err(usage(format!(
                        "{}: not a report line: no \"status\" (a report line of `onboard --report` or `collect --report` has one)",
                        at(place)
                    )))
                }
            };
            let kind = kind_of(&obj).map_err(|why| usage(format!("{}: {why}", at(place))))?;
            if let Some(kind) = kind {
                match kind_at {
                    None => kind_at = Some((kind, place)),
                    Some((first, first_at)) if first != kind => {
                        return Err(usage(format!(
                            "{} is a line of a `{}` report, but {} is a line of a `{}` report: merge the reports of one run at a time",
                            at(place),
                            kind.command(),
                            at(first_at),
                            first.command()
                        )));
                    }
                    Some(_) => {}
                }
            }

            // The partition: the same tenant in two reports.
            let label = tenant
                .clone()
                .or_else(|| tenant_id.clone())
                .unwrap_or_default();
            let mut clash: Option<Place> = None;
            if let Some(id) = &tenant_id {
                match by_id.get(id) {
                    Some(p) if p.report != r => clash = Some(*p),
                    Some(_) => {}
                    None => {
                        by_id.insert(id.clone(), place);
                    }
                }
            }
            if let Some(name) = tenant.as_ref().map(|t| t.to_lowercase()) {
                let seen = by_name.entry(name).or_default();
                if clash.is_none() {
                    clash = seen
                        .iter()
                        .find(|s| {
                            s.place.report != r && (s.tenant_id.is_none() || tenant_id.is_none())
                        })
                        .map(|s| s.place);
                }
                seen.push(Seen {
                    place,
                    tenant_id: tenant_id.clone(),
                });
            }
            if let Some(first) = clash {
                overlaps.push(format!("{label} in {} and {}", at(first), at(place)));
            }

            merged.tenants += 1;
            if status == "ok" {
                merged.ok += 1;
            } else {
                merged.failed += 1;
            }
            count(&mut merged, kind, status == "ok", &obj);
            merged.text.push_str(line);
            merged.text.push('\n');
        }
    }
    if !overlaps.is_empty() {
        const SHOWN: usize = 5;
        let more = overlaps.len().saturating_sub(SHOWN);
        let mut list = overlaps[..overlaps.len().min(SHOWN)].join("; ");
        if more > 0 {
            list.push_str(&format!("; and {more} more"));
        }
        return Err(usage(format!(
            "the reports overlap: {} tenant{} in two reports ({list}); the shards of one run partition the tenants: were these reports made from different tenants files, shard counts, or runs?",
            overlaps.len(),
            if overlaps.len() == 1 { " is" } else { "s are" }
        )));
    }
    merged.kind = kind_at.map(|(k, _)| k);
    Ok(merged)
}

fn parse_line(line: &str) -> std::result::Result<Map<String, Value>, String> {
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not a report line: a JSON value that is not an object".into()),
        // serde's message says where (line and column), never the text.
        Err(e) => Err(format!("not a report line: not JSON ({e})")),
    }
}

/// The line's `tenant_id` (lowercased) and `tenant`: at least one, each a string or null.
fn identity(
    obj: &Map<String, Value>,
) -> std::result::Result<(Option<String>, Option<String>), String> {
    let field = |k: &str| match obj.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(format!("not a report line: \"{k}\" is not a string")),
    };
    let tenant = field("tenant")?;
    // A tenant listed by its GUID is that tenant ID even on a line without one (a tenant
    // that failed before its token said it).
    let id = field("tenant_id")?
        .or_else(|| {
            tenant
                .as_deref()
                .and_then(|t| uuid::Uuid::try_parse(t).ok())
                .map(|u| u.hyphenated().to_string())
        })
        .map(|s| s.to_ascii_lowercase());
    if id.is_none() && tenant.is_none() {
        return Err("not a report line: neither \"tenant_id\" nor \"tenant\"".into());
    }
    Ok((id, tenant))
}

/// `collect` lines have `sources` (a list), `onboard` lines a `stage`.
fn kind_of(obj: &Map<String, Value>) -> std::result::Result<Option<Kind>, String> {
    match obj.get("sources") {
        Some(Value::Array(sources)) => {
            if sources.iter().any(|s| !s.is_object()) {
                return Err(
                    "not a report line: \"sources\" holds something other than objects".into(),
                );
            }
            Ok(Some(Kind::Collect))
        }
        Some(Value::Null) | None => Ok(obj.contains_key("stage").then_some(Kind::Onboard)),
        Some(_) => Err("not a report line: \"sources\" is not a list".into()),
    }
}

/// Adds a line to the totals: records and refused (collect), the reason of a failure.
fn count(m: &mut Merged, kind: Option<Kind>, ok: bool, obj: &Map<String, Value>) {
    let sources: &[Value] = match obj.get("sources") {
        Some(Value::Array(s)) => s,
        _ => &[],
    };
    for s in sources {
        m.records += s.get("records").and_then(Value::as_u64).unwrap_or(0);
        m.refused += s.get("refused").and_then(Value::as_u64).unwrap_or(0);
    }
    if ok {
        return;
    }
    let mut reason = |group: (u8, String), key: String| {
        *m.failures.entry(group).or_default().entry(key).or_default() += 1;
    };
    match kind {
        Some(Kind::Collect) => {
            let failed: Vec<&str> = sources
                .iter()
                .filter(|s| s.get("status").and_then(Value::as_str) != Some("ok"))
                .map(|s| s.get("source").and_then(Value::as_str).unwrap_or("?"))
                .collect();
            if failed.is_empty() {
                reason((0, "tenant".into()), String::new());
            }
            for source in failed {
                reason((1, source.to_string()), String::new());
            }
        }
        Some(Kind::Onboard) => {
            let stage = obj.get("stage").and_then(Value::as_str).unwrap_or("?");
            let rank = match stage {
                "token" => 0,
                "roles" => 1,
                "probe" => 2,
                _ => 3,
            };
            let key = obj
                .get("aadsts")
                .and_then(Value::as_u64)
                .map(|c| format!("AADSTS{c}"))
                .or_else(|| (stage == "roles").then(|| "missing role".to_string()))
                .or_else(|| {
                    obj.get("http_status")
                        .and_then(Value::as_u64)
                        .map(|s| format!("HTTP {s}"))
                })
                .unwrap_or_else(|| "other".into());
            reason((rank, stage.to_string()), key);
        }
        None => {}
    }
}

impl Merged {
    /// One line for stderr, e.g. "merge: 3 onboard reports, 120 tenants: 118 ok, 2 failed
    /// (token 1: AADSTS700016 x1; probe 1: HTTP 403 x1)", or for `collect` "merge: 4 collect
    /// reports, 120 tenants: 119 ok, 1 failed (graph-alerts 1); 53120 records, 2 refused".
    pub fn summary(&self) -> String {
        let what = match self.kind {
            Some(k) => format!("{} {}", self.reports, k.command()),
            None => self.reports.to_string(),
        };
        let mut s = format!(
            "merge: {what} report{}, {} tenant{}: {} ok, {} failed",
            plural(self.reports),
            self.tenants,
            plural(self.tenants),
            self.ok,
            self.failed
        );
        if !self.failures.is_empty() {
            let parts: Vec<String> = self
                .failures
                .iter()
                .map(|((_, group), keys)| {
                    let n: usize = keys.values().sum();
                    let detail: Vec<String> = keys
                        .iter()
                        .filter(|(k, _)| !k.is_empty())
                        .map(|(k, c)| format!("{k} x{c}"))
                        .collect();
                    if detail.is_empty() {
                        format!("{group} {n}")
                    } else {
                        format!("{group} {n}: {}", detail.join(", "))
                    }
                })
                .collect();
            let sep = if self.kind == Some(Kind::Collect) {
                ", "
            } else {
                "; "
            };
            s.push_str(&format!(" ({})", parts.join(sep)));
        }
        if self.kind == Some(Kind::Collect) {
            s.push_str(&format!(
                "; {} record{}, {} refused",
                self.records,
                plural(self.records as usize),
                self.refused
            ));
        }
        s
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// Exit 8 when some tenant failed, naming how many.
pub fn outcome(m: &Merged) -> Result<()> {
    if m.failed > 0 {
        return Err(fail(
            Exit::SomeFailed,
            format!(
                "{} of {} tenants failed; see the merged report",
                m.failed, m.tenants
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep(shown: &str, text: &str) -> Report {
        Report {
            shown: shown.into(),
            text: text.into(),
        }
    }

    #[test]
    fn onboard_shards_merge_in_order_with_a_summary() {
        let a = rep(
            "a",
            "{\"name\":\"C\",\"tenant\":\"c.com\",\"tenant_id\":\"ID1\",\"status\":\"ok\",\"stage\":\"probe\"}\n",
        );
        let b = rep(
            "b",
            "{\"name\":\"F\",\"tenant\":\"f.com\",\"tenant_id\":null,\"status\":\"failed\",\"stage\":\"token\",\"aadsts\":700016}\r\n\n",
        );
        let m = merge(&[a, rep("empty", ""), b]).unwrap();
        assert_eq!(m.tenants, 2);
        assert_eq!(m.text.lines().count(), 2);
        assert!(m.text.starts_with("{\"name\":\"C\""));
        assert_eq!(
            m.summary(),
            "merge: 3 onboard reports, 2 tenants: 1 ok, 1 failed (token 1: AADSTS700016 x1)"
        );
        assert!(outcome(&m).is_err());
    }

    #[test]
    fn the_same_tenant_in_two_reports_is_refused() {
        let id = |f: &str, t: &str, id: &str| {
            rep(
                f,
                &format!("{{\"tenant\":\"{t}\",\"tenant_id\":\"{id}\",\"status\":\"ok\"}}\n"),
            )
        };
        // Same GUID, other spelling of the tenant.
        let e = merge(&[id("a", "c.com", "X"), id("b", "X", "x")]).unwrap_err();
        assert!(e.to_string().contains("a:1 and b:1"), "{e}");
        // Same name, one without an ID.
        let e = merge(&[
            id("a", "C.com", "X"),
            rep("b", "\n{\"tenant\":\"c.COM\",\"status\":\"failed\"}\n"),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("a:1 and b:2"), "{e}");
        // A tenant listed by GUID, without a tenant_id (it failed first), and by domain.
        let guid = "6f1a0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b";
        let e = merge(&[
            rep(
                "a",
                &format!("{{\"tenant\":\"{guid}\",\"status\":\"failed\"}}\n"),
            ),
            id("b", "c.com", &guid.to_uppercase()),
        ])
        .unwrap_err();
        assert!(e.to_string().contains("a:1 and b:1"), "{e}");
        // Same name, different IDs (collect's `tenant` is a display name): two tenants.
        assert!(merge(&[id("a", "Shop", "X"), id("b", "Shop", "Y")]).is_ok());
        // Twice in one report (onboard's own duplicate line) is kept.
        let twice = "{\"tenant\":\"c\",\"tenant_id\":\"X\",\"status\":\"ok\"}\n{\"tenant\":\"X\",\"tenant_id\":\"X\",\"status\":\"failed\"}\n";
        assert_eq!(merge(&[rep("a", twice)]).unwrap().tenants, 2);
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        for bad in [
            "nope",
            "[1]",
            "{\"tenant\":\"c\"}",
            "{\"status\":\"ok\"}",
            "{\"status\":\"ok\",\"tenant\":5}",
            "{\"status\":\"ok\",\"tenant\":\"c\",\"sources\":3}",
            "{\"status\":\"ok\",\"tenant\":\"c\"",
        ] {
            let e = merge(&[rep("r.ndjson", &format!("\n{bad}\n"))]).unwrap_err();
            assert!(e.to_string().starts_with("r.ndjson:2: "), "{bad}: {e}");
            assert_eq!(crate::error::exit_code_of(&e), 2);
        }
    }

    #[test]
    fn onboard_and_collect_reports_do_not_mix() {
        let on = rep(
            "on",
            "{\"tenant\":\"a\",\"status\":\"ok\",\"stage\":\"probe\"}\n",
        );
        let co = rep(
            "co",
            "{\"tenant\":\"b\",\"status\":\"ok\",\"sources\":[]}\n",
        );
        let e = merge(&[on, co]).unwrap_err();
        assert!(
            e.to_string().contains("co:1") && e.to_string().contains("on:1"),
            "{e}"
        );
    }

    #[test]
    fn collect_summary_counts_records_and_refused() {
        let co = rep(
            "co",
            "{\"tenant\":\"A\",\"tenant_id\":\"1\",\"status\":\"ok\",\"sources\":[{\"source\":\"graph-alerts\",\"status\":\"ok\",\"records\":10,\"refused\":1}]}\n\
             {\"tenant\":\"B\",\"tenant_id\":\"2\",\"status\":\"failed\",\"sources\":[{\"source\":\"graph-alerts\",\"status\":\"failed\",\"records\":0,\"refused\":0},{\"source\":\"graph-incidents\",\"status\":\"ok\",\"records\":5}]}\n",
        );
        let m = merge(&[co]).unwrap();
        assert_eq!(
            m.summary(),
            "merge: 1 collect report, 2 tenants: 1 ok, 1 failed (graph-alerts 1); 15 records, 1 refused"
        );
    }

    #[test]
    fn shard_count() {
        assert!(check_shards(None, 3).is_ok());
        assert!(check_shards(Some(3), 3).is_ok());
        assert!(check_shards(Some(4), 3)
            .unwrap_err()
            .to_string()
            .contains("missing"));
        assert!(check_shards(Some(2), 3).is_err());
    }
}
