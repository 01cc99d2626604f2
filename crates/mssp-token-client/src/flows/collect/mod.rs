//! `collect`: every tenant's alerts and incidents, incrementally and exactly once.
//!
//! - [`source`]: what can be collected (paths, fields, page limits, budgets).
//! - [`window`]: the paging that writes every record version once (cursor, ties, windows).
//! - [`fetch`]: one source of one tenant over HTTP (queries, tokens, checked records).
//! - [`state`]: the state folder (a cursor per tenant and source) and [`sink`] (the output,
//!   repaired and recovered after a kill).
//! - [`budget`]: request budgets per tenant and API.
//!
//! Per tenant: its ID (a domain resolved through discovery), then each source in turn from its
//! cursor (or `since`), each page written and fsynced before its cursor is saved. Tenants run
//! over [`super::fan_out`]; one tenant's failure (a panic included) is its own result.

pub mod budget;
pub mod fetch;
pub mod sink;
pub mod source;
pub mod stamp;
pub mod state;
pub mod window;

use self::budget::Budgets;
use self::fetch::{Access, SourcePages, Tokens};
use self::sink::Sink;
use self::source::Source;
use self::stamp::Stamp;
use self::state::{Saved, StateDir};
use self::window::{Commit, Cursor, Rec, Tally};
use super::fan_out;
use super::partner::Partner;
use crate::apis::{not_offered, ApiTarget};
use crate::authority::{parse_client_id, Authority, Cloud, Tenant};
use crate::credentials::Credential;
use crate::entra::discovery;
use crate::error::{at, fail, usage, Exit};
use crate::http::Http;
use crate::identity::{self, Identity};
use crate::rate_limit::FirstPass;
use crate::store::tenants::TenantIds;
use crate::tenants_file::{Entry, Settings};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use url::Url;

/// Where a first run starts: `24h`, `7d` (back from `now`) or an RFC 3339 time, in the past.
pub fn since(text: &str, now: u64) -> Result<Stamp> {
    let t = text.trim();
    if let Some(s) = Stamp::parse(t) {
        if s.nanos() > now as i128 * 1_000_000_000 {
            return Err(usage(format!(
                "'{t}' is in the future; give a time in the past"
            )));
        }
        return Ok(s);
    }
    let d = humantime::parse_duration(t).map_err(|_| {
        usage(format!(
            "'{}' is neither a duration (24h, 7d, 90m) nor an RFC 3339 time (2026-11-01T00:00:00Z)",
            crate::authority::printable(t)
        ))
    })?;
    if d > Duration::from_secs(3650 * 86_400) {
        return Err(usage(format!("'{t}' reaches back more than ten years")));
    }
    Ok(Stamp::from_epoch(now as i64 - d.as_secs() as i64))
}

/// What applies to every tenant unless the file says otherwise.
pub struct Common {
    pub shown: String,
    pub settings: Settings,
    pub cloud: Cloud,
    pub authority: Option<String>,
    pub credential: Credential,
    pub base_url: Option<Url>,
    pub partner: Option<Arc<Partner>>,
    pub sources: Vec<Source>,
    pub page_size: Option<u32>,
    pub since: Stamp,
}

/// Everything one tenant needs.
pub struct Plan {
    entry: Entry,
    here: String,
    authority: Authority,
    /// Per source: its API's base URL and how its token is had.
    sources: Vec<(Source, Url, Access)>,
    page_size: Option<u32>,
    since: Stamp,
}

/// Checks every entry before any request (a bad file fails whole, naming its line).
pub fn plan_all(entries: &[Entry], defaults: &Settings, common: &Common) -> Result<Vec<Plan>> {
    entries.iter().map(|e| plan(e, defaults, common)).collect()
}

fn plan(e: &Entry, defaults: &Settings, common: &Common) -> Result<Plan> {
    let s = e.settings.or(&common.settings).or(defaults);
    let here = format!("{}:{}:", common.shown, e.line);
    let tenant = Tenant::parse(&e.tenant).map_err(|err| at(&format!("{here} tenant"), err))?;
    let (cloud, authority) = match &common.partner {
        Some(p) => {
            p.check_entry(&s, &here)?;
            (p.cloud, p.authority(tenant)?)
        }
        None => {
            let cloud = s.cloud.unwrap_or(common.cloud);
            (
                cloud,
                Authority::new(cloud, common.authority.as_deref(), tenant)?,
            )
        }
    };
    // The partner's credential is the profile's; the file's applies to app-only tokens.
    let credential = match &common.partner {
        Some(_) => Credential::None,
        None => s.credential(&common.credential, &here)?,
    };
    let mut sources = Vec::new();
    for &source in &common.sources {
        let api = source.api();
        let base = match &common.base_url {
            Some(b) => b.clone(),
            None => api
                .in_cloud(cloud)
                .ok_or_else(|| {
                    usage(format!(
                        "{here} {}; collect another source, or give the API's address with --base-url",
                        not_offered(api, cloud)
                    ))
                })?
                .base(),
        };
        let target = identity::default_scope(api, cloud).map_err(|err| at(&here, err))?;
        let access = match &common.partner {
            Some(p) => Access::Partner {
                partner: p.clone(),
                authority: authority.clone(),
                target,
            },
            None => {
                let client_id = s.client_id.as_deref().ok_or_else(|| {
                    usage(format!(
                        "{here} no client_id: set it in [defaults], on the tenant, or pass --client-id"
                    ))
                })?;
                let client_id = parse_client_id(client_id)
                    .map_err(|err| at(&format!("{here} client_id"), err))?;
                let id = Identity {
                    authority: authority.clone(),
                    client_id,
                    credential: credential.clone(),
                    target,
                };
                super::app_only::check_app_only(&id).map_err(|err| at(&here, err))?;
                Access::AppOnly(id)
            }
        };
        sources.push((source, base, access));
    }
    Ok(Plan {
        entry: e.clone(),
        here,
        authority,
        sources,
        page_size: common.page_size,
        since: common.since.clone(),
    })
}

/// A tenant's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// One source of one tenant, in the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceReport {
    pub source: Source,
    pub status: Status,
    pub records: u64,
    pub duplicates: u64,
    /// Records naming another tenant (or none): never written.
    pub refused: u64,
    /// Items without a readable id or update time: never written.
    pub malformed: u64,
    pub pages: u64,
    /// The cursor after this run.
    pub cursor: Option<String>,
    pub error: Option<String>,
    /// Still being collected (only while the run goes on; never in the report).
    #[serde(skip)]
    pub running: bool,
}

/// One line of the report (`--report`), per tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantReport {
    pub tenant: String,
    pub tenant_id: Option<String>,
    pub status: Status,
    pub sources: Vec<SourceReport>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// How the tenants run.
pub struct RunOptions {
    pub concurrency: usize,
    /// Per tenant, counted from its first request.
    pub deadline: Duration,
    pub remembered: Option<TenantIds>,
    /// App-only tokens are kept here between runs (None: always from Entra).
    pub cache: Option<crate::store::cache::Cache>,
}

/// What the tenants share: the state folder, the output, the budgets.
pub struct Shared {
    pub state: StateDir,
    pub sink: Mutex<Sink>,
    pub budgets: Budgets,
    claims: Mutex<HashMap<String, (usize, String)>>,
}

impl Shared {
    /// Opens the output over the state folder: a last line cut short is removed, and lines
    /// written after the last saved cursor are taken back into the cursors.
    pub fn new(state: StateDir, mut sink: Sink) -> Result<Shared> {
        let taken = sink.recover(&state)?;
        if taken > 0 {
            crate::info!(
                "mssp-token: {taken} records written by an interrupted run after its last saved cursor are kept and counted (not collected again)"
            );
        }
        sink.mark_start(&state)?;
        Ok(Shared {
            state,
            sink: Mutex::new(sink),
            budgets: Budgets::default(),
            claims: Mutex::default(),
        })
    }
}

/// Runs every plan; `done` sees each tenant's report as it finishes.
pub async fn run(
    http: &Http,
    plans: Vec<Plan>,
    opts: &RunOptions,
    shared: Arc<Shared>,
    done: impl FnMut(&TenantReport),
) -> Vec<TenantReport> {
    let labels: Vec<String> = plans.iter().map(|p| p.entry.name.clone()).collect();
    let deadline = opts.deadline;
    fan_out::run(
        plans,
        opts.concurrency,
        "tenants",
        |p| {
            let http = http.clone();
            let remembered = opts.remembered.clone();
            let cache = opts.cache.clone();
            let shared = shared.clone();
            async move { one(&http, p, deadline, remembered.as_ref(), cache, &shared).await }
        },
        |i, why| TenantReport {
            tenant: labels.get(i).cloned().unwrap_or_default(),
            tenant_id: None,
            status: Status::Failed,
            sources: Vec::new(),
            error: Some(format!(
                "internal error: {why} (a bug in mssp-token: please report it; the other tenants ran)"
            )),
            elapsed_ms: 0,
        },
        done,
    )
    .await
}

#[derive(Default)]
struct Progress {
    tenant_id: Option<String>,
    sources: Vec<SourceReport>,
}

async fn one(
    http: &Http,
    p: Plan,
    deadline: Duration,
    remembered: Option<&TenantIds>,
    cache: Option<crate::store::cache::Cache>,
    shared: &Shared,
) -> TenantReport {
    let started = Instant::now();
    let pass = FirstPass::new();
    let mut http = http.clone();
    match &http.limiter {
        Some(l) => http.limiter = Some(Arc::new(l.observed_by(pass.clone()))),
        None => pass.mark(),
    }
    let progress = Arc::new(Mutex::new(Progress::default()));
    let outcome = fan_out::within_from(
        deadline,
        &pass,
        sources(&http, &p, remembered, cache, shared, progress.clone()),
    )
    .await;
    let mut reached = progress
        .lock()
        .map(|mut g| std::mem::take(&mut *g))
        .unwrap_or_default();
    let error = match outcome {
        Some(Ok(())) => None,
        Some(Err(e)) => Some(crate::error::one_line(&e)),
        None => {
            let why = format!(
                "deadline of {} s (counted from the tenant's first request) passed; what was written stays, and the next run goes on from there (--deadline)",
                deadline.as_secs()
            );
            // The source that was running is the one the deadline cut.
            if let Some(s) = reached.sources.iter_mut().find(|s| s.running) {
                s.status = Status::Failed;
                s.error = Some(why.clone());
            }
            Some(why)
        }
    };
    for s in reached.sources.iter_mut() {
        s.running = false;
    }
    let failed = error.is_some() || reached.sources.iter().any(|s| s.status == Status::Failed);
    TenantReport {
        tenant: p.entry.name.clone(),
        tenant_id: reached.tenant_id,
        status: if failed { Status::Failed } else { Status::Ok },
        sources: reached.sources,
        error,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// The tenant's ID, then each source in turn. A source's failure is recorded in its report
/// and the next source runs; an error before any source (ID, duplicate) is the tenant's.
async fn sources(
    http: &Http,
    p: &Plan,
    remembered: Option<&TenantIds>,
    cache: Option<crate::store::cache::Cache>,
    shared: &Shared,
    progress: Arc<Mutex<Progress>>,
) -> Result<()> {
    let tenant_id = discovery::tenant_id(http, &p.authority, remembered).await?;
    let tenant_id = tenant_id.to_ascii_lowercase();
    if let Ok(mut g) = progress.lock() {
        g.tenant_id = Some(tenant_id.clone());
    }
    claim(shared, &tenant_id, p)?;
    let mut tokens: HashMap<ApiTarget, Tokens> = HashMap::new();
    for (source, base, access) in &p.sources {
        let source = *source;
        let mut report = SourceReport {
            source,
            status: Status::Ok,
            records: 0,
            duplicates: 0,
            refused: 0,
            malformed: 0,
            pages: 0,
            cursor: None,
            error: None,
            running: true,
        };
        let index = {
            let mut g = progress
                .lock()
                .map_err(|_| fail(Exit::Internal, "progress lock poisoned"))?;
            g.sources.push(report.clone());
            g.sources.len() - 1
        };
        let tokens = tokens
            .entry(source.api())
            .or_insert_with(|| Tokens::new(access.clone(), &tenant_id, cache.clone()));
        let mut tally = Tally::default();
        let outcome = one_source(
            http, p, shared, &tenant_id, source, base, tokens, &mut tally, &progress, index,
        )
        .await;
        report.records = tally.written;
        report.duplicates = tally.duplicates;
        report.refused = tally.refused;
        report.malformed = tally.malformed;
        report.pages = tally.pages;
        report.cursor = progress
            .lock()
            .ok()
            .and_then(|g| g.sources.get(index).and_then(|s| s.cursor.clone()));
        report.running = false;
        match outcome {
            Ok(()) if tally.refused + tally.malformed > 0 => {
                report.status = Status::Failed;
                report.error = Some(format!(
                    "{} records refused: {} named another tenant (or none), {} had no readable id or update time; nothing of them was written",
                    tally.refused + tally.malformed,
                    tally.refused,
                    tally.malformed
                ));
            }
            Ok(()) => {}
            Err(e) => {
                report.status = Status::Failed;
                report.error = Some(crate::error::one_line(&e));
            }
        }
        if let Ok(mut g) = progress.lock() {
            g.sources[index] = report;
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
async fn one_source(
    http: &Http,
    p: &Plan,
    shared: &Shared,
    tenant_id: &str,
    source: Source,
    base: &Url,
    tokens: &mut Tokens,
    tally: &mut Tally,
    progress: &Arc<Mutex<Progress>>,
    index: usize,
) -> Result<()> {
    let saved = shared.state.load(tenant_id, source)?;
    let mut saved = saved.unwrap_or_else(|| Saved {
        version: 1,
        tenant: p.entry.name.clone(),
        tenant_id: tenant_id.to_string(),
        source,
        cursor: p.since.as_str().to_string(),
        ids_at_cursor: Vec::new(),
        written: 0,
        updated_at: String::new(),
        out: None,
    });
    // The name in today's tenants file (the cursor file keeps the one of its first run).
    saved.tenant = p.entry.name.clone();
    let cursor = saved
        .cursor()
        .ok_or_else(|| fail(Exit::Storage, "the cursor is not a time"))?;
    let budget = shared
        .budgets
        .get(tenant_id, source.budget_key(), source.budget());
    let mut pages = SourcePages {
        http,
        source,
        base: base.clone(),
        tenant_id: tenant_id.to_string(),
        tokens,
        budget,
    };
    let mut commit = Committer {
        shared,
        saved,
        progress,
        index,
    };
    let top = p
        .page_size
        .unwrap_or(source.max_page())
        .min(source.max_page());
    // First commit even with nothing new: a first run's `since` becomes the cursor.
    let mut counts = Tally::default();
    let r = window::collect(
        &mut pages,
        &mut commit,
        source.ordered(),
        source.pages_with_links(),
        top,
        cursor,
        &mut counts,
    )
    .await;
    *tally = counts;
    r.map(|_| ())
}

/// Writes a page's records and saves the cursor, under the one writer lock, without an await
/// (a deadline cannot cut it in half).
struct Committer<'a> {
    shared: &'a Shared,
    saved: Saved,
    progress: &'a Arc<Mutex<Progress>>,
    index: usize,
}

#[derive(Serialize)]
struct OutHead<'a> {
    tenant: &'a str,
    tenant_id: &'a str,
    source: &'a str,
    id: &'a str,
    last_updated: &'a str,
}

impl Commit for Committer<'_> {
    fn commit(&mut self, body: &str, records: &[&Rec], cursor: &Cursor) -> Result<()> {
        let mut bytes = Vec::with_capacity(records.iter().map(|r| r.json(body).len() + 256).sum());
        for r in records {
            let head = OutHead {
                tenant: &self.saved.tenant,
                tenant_id: &self.saved.tenant_id,
                source: self.saved.source.name(),
                id: &r.id,
                last_updated: r.stamp.as_str(),
            };
            serde_json::to_writer(&mut bytes, &head)
                .map_err(|e| fail(Exit::Internal, format!("cannot encode a record: {e}")))?;
            // {"tenant":...,"last_updated":"..."} + ,"record":<the API's JSON>}
            bytes.pop();
            bytes.extend_from_slice(b",\"record\":");
            bytes.extend_from_slice(r.json(body).as_bytes());
            bytes.extend_from_slice(b"}\n");
        }
        let mut next = self.saved.clone();
        next.set_cursor(cursor);
        next.written += records.len() as u64;
        next.updated_at = crate::time::rfc3339(crate::time::now_epoch());
        crate::store::lock::blocking(|| -> Result<()> {
            let mut sink = self
                .shared
                .sink
                .lock()
                .map_err(|_| fail(Exit::Internal, "the output lock is poisoned"))?;
            let mark = sink.write(&bytes)?;
            if mark.is_some() {
                next.out = mark;
            }
            self.shared.state.save(&next)
        })?;
        self.saved = next;
        if let Ok(mut g) = self.progress.lock() {
            if let Some(s) = g.sources.get_mut(self.index) {
                s.cursor = Some(self.saved.cursor.clone());
                // Kept here as pages land: a deadline that cuts the source keeps the count.
                s.records += records.len() as u64;
            }
        }
        Ok(())
    }
}

/// The first line to reach a tenant ID runs it; another naming the same tenant fails.
fn claim(shared: &Shared, tenant_id: &str, p: &Plan) -> Result<()> {
    let mut taken = shared
        .claims
        .lock()
        .map_err(|_| fail(Exit::Internal, "the tenant list lock is poisoned"))?;
    match taken.get(tenant_id) {
        None => {
            taken.insert(tenant_id.to_string(), (p.entry.line, p.entry.tenant.clone()));
            Ok(())
        }
        Some((line, tenant)) => Err(usage(format!(
            "{} {} is tenant {tenant_id}, the same tenant as line {line} ({}), which this run collects instead; list each tenant once",
            p.here,
            crate::authority::printable(&p.entry.tenant),
            crate::authority::printable(tenant)
        ))),
    }
}

/// The cause of a failure, for the summary: an AADSTS code, an HTTP status, the deadline, or
/// refused records.
fn cause(error: &str) -> String {
    if let Some(i) = error.find("AADSTS") {
        let code: String = error[i + 6..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if !code.is_empty() {
            return format!("AADSTS{code}");
        }
    }
    if error.starts_with("deadline") {
        return "deadline".into();
    }
    if error.contains("records refused") {
        return "refused records".into();
    }
    if let Some(i) = error.find("HTTP ") {
        let code: String = error[i + 5..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        if code.len() == 3 {
            return format!("HTTP {code}");
        }
    }
    if error.contains("throttled") {
        return "throttled".into();
    }
    "other".into()
}

/// The summary for stderr: totals, records per tenant and source (the first 50 tenants), and
/// failures by cause.
pub fn summarize(reports: &[TenantReport], elapsed: Duration) -> String {
    let mut by_source: BTreeMap<Source, (u64, u64, u64)> = BTreeMap::new();
    let mut causes: BTreeMap<String, usize> = BTreeMap::new();
    for r in reports {
        for s in &r.sources {
            let e = by_source.entry(s.source).or_default();
            e.0 += s.records;
            e.1 += s.duplicates;
            e.2 += s.refused + s.malformed;
            if let Some(err) = &s.error {
                *causes.entry(cause(err)).or_default() += 1;
            }
        }
        if r.sources.iter().all(|s| s.error.is_none()) {
            if let Some(err) = &r.error {
                *causes.entry(cause(err)).or_default() += 1;
            }
        }
    }
    let failed = reports
        .iter()
        .filter(|r| r.status == Status::Failed)
        .count();
    let total: u64 = by_source.values().map(|v| v.0).sum();
    let refused: u64 = by_source.values().map(|v| v.2).sum();
    let mut out = format!(
        "collect: {} tenants in {:.1} s: {total} records written, {refused} refused; {} ok, {failed} failed",
        reports.len(),
        elapsed.as_secs_f64(),
        reports.len() - failed
    );
    if !causes.is_empty() {
        let parts: Vec<String> = causes.iter().map(|(c, n)| format!("{c} x{n}")).collect();
        out.push_str(&format!(" ({})", parts.join(", ")));
    }
    for (s, (w, d, x)) in &by_source {
        out.push_str(&format!(
            "\n  {}: {w} written, {d} duplicates dropped, {x} refused",
            s.name()
        ));
    }
    let shown = 50;
    let mut sorted: Vec<&TenantReport> = reports.iter().collect();
    sorted.sort_by_key(|r| (r.status != Status::Failed, r.tenant.clone()));
    for r in sorted.iter().take(shown) {
        let per: Vec<String> = r
            .sources
            .iter()
            .map(|s| match &s.error {
                None => format!("{} {}", s.source.name(), s.records),
                Some(e) => format!("{} {} (failed: {e})", s.source.name(), s.records),
            })
            .collect();
        let mut line = format!(
            "\n  {} ({}): {}",
            r.tenant,
            r.tenant_id.as_deref().unwrap_or("?"),
            per.join(", ")
        );
        if r.sources.is_empty()
            || (r.error.is_some() && r.sources.iter().all(|s| s.error.is_none()))
        {
            if let Some(e) = &r.error {
                line.push_str(&format!("failed: {e}"));
            }
        }
        out.push_str(&line);
    }
    if sorted.len() > shown {
        out.push_str(&format!(
            "\n  ... {} more tenants (every tenant is in --report)",
            sorted.len() - shown
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_takes_a_duration_or_a_time() {
        let now = 1_796_036_400;
        assert_eq!(
            since("24h", now).unwrap(),
            Stamp::from_epoch(now as i64 - 86_400)
        );
        assert_eq!(
            since("2026-11-01T00:00:00Z", now).unwrap().as_str(),
            "2026-11-01T00:00:00Z"
        );
        assert!(since("2099-01-01T00:00:00Z", now).is_err());
        assert!(since("yesterday", now).is_err());
        assert!(since("20000d", now).is_err());
    }

    #[test]
    fn causes() {
        assert_eq!(cause("the API answered HTTP 503 (x)"), "HTTP 503");
        assert_eq!(
            cause("AADSTS7000215: Invalid client secret"),
            "AADSTS7000215"
        );
        assert_eq!(cause("deadline of 5 s"), "deadline");
    }
}
