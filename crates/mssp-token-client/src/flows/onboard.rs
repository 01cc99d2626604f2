//! Onboarding many tenants: for every tenant of a tenants file, its tenant ID (a domain resolved
//! through discovery), a token (client credentials) checked against that ID, the role check and
//! an optional API probe; over [`super::fan_out`] (bounded concurrency), a deadline per tenant
//! counted from its first request, retries inside the HTTP client; one result per tenant. One
//! tenant's failure (a panic included) never stops the others; the same tenant listed twice
//! (as a domain and as its GUID) runs once. Errors in the file name `file:line`.

use super::fan_out;
use crate::apis::{not_offered, ApiTarget};
use crate::authority::{parse_client_id, Authority, Cloud, Tenant};
use crate::credentials::Credential;
use crate::entra::{discovery, EntraError};
use crate::error::{at, fail, usage, Exit};
use crate::http::Http;
use crate::identity::{self, Identity};
use crate::rate_limit::FirstPass;
use crate::store::tenants::TenantIds;
use crate::tenants_file::{Entry, Settings};
use crate::token::Target;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A tenant's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// The stages of one tenant, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Token,
    Roles,
    Probe,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Token => "token",
            Stage::Roles => "roles",
            Stage::Probe => "probe",
        }
    }
}

/// One line of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantResult {
    pub name: String,
    pub tenant: String,
    pub tenant_id: Option<String>,
    pub status: Status,
    /// The stage that failed, or the last one passed.
    pub stage: Stage,
    pub error: Option<String>,
    pub aadsts: Option<u64>,
    pub roles: Vec<String>,
    /// `--partner`: the delegated permissions (`scp`) of the partner's token (its `roles` are
    /// the GDAP roles, the `wids`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<Vec<String>>,
    pub expires_at: Option<String>,
    pub http_status: Option<u16>,
    pub elapsed_ms: u64,
}

/// What applies to every tenant unless the file says otherwise.
pub struct Common {
    /// The file's name, for `file:line` in messages.
    pub shown: String,
    /// Settings given on the command line (they win over the file's [defaults]).
    pub settings: Settings,
    pub cloud: Cloud,
    /// A login host instead of the cloud's.
    pub authority: Option<String>,
    pub credential: Credential,
    /// The API the probe calls.
    pub api: ApiTarget,
    /// A base URL that replaces the API's (regional hosts, the sandbox).
    pub base_url: Option<url::Url>,
    /// `--partner`: every tenant's token is the partner's refresh token redeemed there (GDAP).
    pub partner: Option<Arc<super::partner::Partner>>,
}

/// Everything one tenant needs.
pub struct Plan {
    entry: Entry,
    /// `file:line:`, for messages.
    here: String,
    identity_cloud: Cloud,
    identity: Identity,
    roles: Vec<String>,
    probe: Option<url::Url>,
    api: ApiTarget,
    partner: Option<Arc<super::partner::Partner>>,
}

/// Checks every entry before any request (a bad file fails whole, with its line) and makes
/// each tenant's plan. A probe that sends tokens to another host than the API's is said on
/// stderr (once per host); one that would send them in clear text is refused.
pub fn plan_all(entries: &[Entry], defaults: &Settings, common: &Common) -> Result<Vec<Plan>> {
    let plans = entries
        .iter()
        .map(|e| plan(e, defaults, common))
        .collect::<Result<Vec<Plan>>>()?;
    warn_foreign_probes(&plans, common);
    Ok(plans)
}

/// The host (and port) a probe URL sends the bearer token to.
fn origin(u: &url::Url) -> String {
    match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    }
}

/// One warning per host outside the API's (the cloud's API host, or --base-url) that probes
/// would send tenants' bearer tokens to.
fn warn_foreign_probes(plans: &[Plan], common: &Common) {
    let mut foreign: BTreeMap<String, (String, String, usize)> = BTreeMap::new();
    for p in plans {
        let Some(url) = &p.probe else { continue };
        let cloud = p.identity_cloud;
        let api_base = match &common.base_url {
            Some(b) => Some(b.clone()),
            None => common.api.in_cloud(cloud).map(|e| e.base()),
        };
        let Some(api_base) = api_base else { continue };
        if origin(url) == origin(&api_base) && url.scheme() == api_base.scheme() {
            continue;
        }
        let entry = foreign.entry(origin(url)).or_insert_with(|| {
            (
                p.here.clone(),
                format!("{} ({})", common.api.title(), origin(&api_base)),
                0,
            )
        });
        entry.2 += 1;
    }
    for (host, (first, api, n)) in foreign {
        let tenants = if n == 1 {
            "1 tenant's bearer token".to_string()
        } else {
            format!("{n} tenants' bearer tokens")
        };
        crate::warn!(
            "{first} the probe goes to {host}, not to {api}: {tenants} will be sent there. Use a path (e.g. /api/alerts?$top=1) unless you trust that host"
        );
    }
}

fn plan(e: &Entry, defaults: &Settings, common: &Common) -> Result<Plan> {
    let s = e.settings.or(&common.settings).or(defaults);
    let here = format!("{}:{}:", common.shown, e.line);
    if let Some(p) = &common.partner {
        p.check_entry(&s, &here)?;
    }
    let partner_client = common.partner.as_ref().map(|p| p.client_id.clone());
    let client_id = s
        .client_id
        .as_deref()
        .or(partner_client.as_deref())
        .ok_or_else(|| {
            usage(format!(
                "{here} no client_id: set it in [defaults], on the tenant, or pass --client-id"
            ))
        })?;
    let client_id =
        parse_client_id(client_id).map_err(|err| at(&format!("{here} client_id"), err))?;
    let cloud = match &common.partner {
        Some(p) => p.cloud,
        None => s.cloud.unwrap_or(common.cloud),
    };
    let tenant = Tenant::parse(&e.tenant).map_err(|err| at(&format!("{here} tenant"), err))?;
    let authority = match &common.partner {
        Some(p) => p.authority(tenant)?,
        None => Authority::new(cloud, common.authority.as_deref(), tenant)?,
    };
    let target = match (&s.scope, &s.resource) {
        (Some(_), Some(_)) if e.settings.scope.is_none() && e.settings.resource.is_none() => {
            return Err(usage(format!(
                "{here} both scope and resource are set; keep one"
            )))
        }
        (Some(sc), _) if e.settings.resource.is_none() => {
            Target::Scopes(sc.split_whitespace().map(str::to_string).collect())
        }
        (_, Some(r)) => Target::Resource(r.clone()),
        (Some(sc), None) => Target::Scopes(sc.split_whitespace().map(str::to_string).collect()),
        (None, None) => identity::default_scope(common.api, cloud).map_err(|err| at(&here, err))?,
    };
    let credential = s.credential(&common.credential, &here)?;
    let identity = Identity {
        authority,
        client_id,
        credential,
        target,
    };
    if common.partner.is_none() {
        super::app_only::check_app_only(&identity).map_err(|err| at(&here, err))?;
    }
    let probe = match &s.probe {
        None => None,
        Some(p) => {
            let base = match &common.base_url {
                Some(b) => b.clone(),
                None => common
                    .api
                    .in_cloud(cloud)
                    .ok_or_else(|| {
                        usage(format!(
                            "{here} {}; pass --base-url",
                            not_offered(common.api, cloud)
                        ))
                    })?
                    .base(),
            };
            Some(super::pager::target_url(&base, p).map_err(|err| at(&here, err))?)
        }
    };
    Ok(Plan {
        entry: e.clone(),
        here: format!("{}:{}:", common.shown, e.line),
        identity_cloud: cloud,
        identity,
        roles: s.require_roles.unwrap_or_default(),
        probe,
        api: common.api,
        partner: common.partner.clone(),
    })
}

/// How the tenants run.
pub struct RunOptions {
    /// Tenants processed at once.
    pub concurrency: usize,
    /// Per tenant, counted from its first request (after the rate limiter let it go).
    pub deadline: Duration,
    /// Tenant IDs remembered in the cache folder (None: resolve every domain).
    pub remembered: Option<TenantIds>,
}

/// The tenants already claimed in this run: tenant ID -> (line, tenant as written).
type Claims = Arc<Mutex<HashMap<String, (usize, String)>>>;

/// Runs every plan over the fan-out; `done` sees each result as it finishes. Dropping the
/// future stops the tenants still running (an interrupted run).
pub async fn run(
    http: &Http,
    plans: Vec<Plan>,
    opts: &RunOptions,
    done: impl FnMut(&TenantResult),
) -> Vec<TenantResult> {
    let labels: Vec<(String, String)> = plans
        .iter()
        .map(|p| (p.entry.name.clone(), p.entry.tenant.clone()))
        .collect();
    let claims: Claims = Arc::default();
    let deadline = opts.deadline;
    fan_out::run(
        plans,
        opts.concurrency,
        "tenants",
        |p| {
            let http = http.clone();
            let remembered = opts.remembered.clone();
            let claims = claims.clone();
            async move { one(&http, p, deadline, remembered.as_ref(), &claims).await }
        },
        |i, why| internal_error(labels.get(i), why),
        done,
    )
    .await
}

/// The result of a tenant whose task panicked (a bug).
fn internal_error(label: Option<&(String, String)>, why: &str) -> TenantResult {
    let (name, tenant) = label.cloned().unwrap_or_default();
    TenantResult {
        name,
        tenant,
        tenant_id: None,
        status: Status::Failed,
        stage: Stage::Token,
        error: Some(format!(
            "internal error: {} (a bug in mssp-token: please report it; the other tenants ran)",
            crate::error::one_line(&anyhow::anyhow!(why.to_string()))
        )),
        aadsts: None,
        roles: Vec::new(),
        scp: None,
        expires_at: None,
        http_status: None,
        elapsed_ms: 0,
    }
}

/// What a tenant reached so far (kept when its deadline passes).
#[derive(Default)]
struct Progress {
    stage: Option<Stage>,
    tenant_id: Option<String>,
    roles: Vec<String>,
    scp: Option<Vec<String>>,
    expires_at: Option<String>,
    http_status: Option<u16>,
}

async fn one(
    http: &Http,
    p: Plan,
    deadline: Duration,
    remembered: Option<&TenantIds>,
    claims: &Claims,
) -> TenantResult {
    let started = Instant::now();
    // The deadline starts at the tenant's first request: when the rate limiter lets it go, or
    // now when there is none.
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
        stages(&http, &p, remembered, claims, progress.clone()),
    )
    .await;
    let reached = progress
        .lock()
        .map(|mut g| std::mem::take(&mut *g))
        .unwrap_or_default();
    let stage = reached.stage.unwrap_or(Stage::Token);
    let (status, error, aadsts) = match outcome {
        Some(Ok(())) => (Status::Ok, None, None),
        Some(Err(e)) => (
            Status::Failed,
            Some(crate::error::one_line(&e)),
            e.chain()
                .find_map(|c| c.downcast_ref::<EntraError>())
                .and_then(|x| x.code),
        ),
        None => (
            Status::Failed,
            Some(format!(
                "deadline of {} s (counted from the tenant's first request) passed during the {} stage (--deadline)",
                deadline.as_secs(),
                stage.as_str()
            )),
            None,
        ),
    };
    TenantResult {
        name: p.entry.name.clone(),
        tenant: p.entry.tenant.clone(),
        tenant_id: reached.tenant_id,
        status,
        stage,
        error,
        aadsts,
        roles: reached.roles,
        scp: reached.scp,
        expires_at: reached.expires_at,
        http_status: reached.http_status,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

async fn stages(
    http: &Http,
    p: &Plan,
    remembered: Option<&TenantIds>,
    claims: &Claims,
    progress: Arc<Mutex<Progress>>,
) -> Result<()> {
    let note = |f: &dyn Fn(&mut Progress)| {
        if let Ok(mut g) = progress.lock() {
            f(&mut g);
        }
    };
    note(&|g| g.stage = Some(Stage::Token));
    let tenant_id = discovery::tenant_id(http, &p.identity.authority, remembered).await?;
    note(&|g| g.tenant_id = Some(tenant_id.clone()));
    claim(claims, &tenant_id, p)?;
    let set = match &p.partner {
        None => {
            let set = super::app_only::acquire(http, &p.identity, &tenant_id).await?;
            note(&|g| {
                g.roles = set.claims.roles.clone();
                g.expires_at = Some(set.expires_at.clone());
                g.stage = Some(Stage::Roles);
            });
            crate::checks::roles_present(&set, &p.roles)?;
            set
        }
        Some(partner) => {
            let got = partner
                .redeem_at(http, &p.identity.authority, &tenant_id, &p.identity.target)
                .await?;
            note(&|g| {
                g.roles = got.roles.clone();
                g.scp = Some(got.scp.clone());
                g.expires_at = Some(got.set.expires_at.clone());
                g.stage = Some(Stage::Roles);
            });
            super::partner::roles_present(&got, &p.roles)?;
            got.set
        }
    };
    let Some(url) = &p.probe else {
        return Ok(());
    };
    note(&|g| g.stage = Some(Stage::Probe));
    // Checked when the file was read; checked again where the token leaves.
    super::pager::check_scheme(url, "the probe URL")?;
    let req = http
        .request(reqwest::Method::GET, url.as_str())
        .bearer_auth(&set.access_token)
        .header("Accept", "application/json");
    let resp = http.send_with_retries(req).await?;
    note(&|g| g.http_status = Some(resp.status));
    if !(200..300).contains(&resp.status) {
        return Err(super::pager::explain(&resp, url, &set.access_token, p.api));
    }
    Ok(())
}

/// The first line to reach a tenant ID runs it; another line naming the same tenant (a domain
/// and its GUID) fails, naming both lines, and sends nothing.
fn claim(claims: &Claims, tenant_id: &str, p: &Plan) -> Result<()> {
    let mut taken = claims
        .lock()
        .map_err(|_| fail(Exit::Internal, "the tenant list lock is poisoned"))?;
    match taken.get(tenant_id) {
        None => {
            taken.insert(
                tenant_id.to_string(),
                (p.entry.line, p.entry.tenant.clone()),
            );
            Ok(())
        }
        Some((line, tenant)) => {
            let this = crate::authority::printable(&p.entry.tenant);
            let other = crate::authority::printable(tenant);
            Err(usage(format!(
                "{} {this} is tenant {tenant_id}, the same tenant as line {line} ({other}), which this run onboards instead; list each tenant once",
                p.here
            )))
        }
    }
}

/// `K/N`: the K-th of N slices (1-based).
pub fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || {
        usage(format!(
            "'{}': expected K/N with 1 <= K <= N, e.g. 2/8",
            crate::authority::printable(s)
        ))
    };
    let (k, n) = s.split_once('/').ok_or_else(bad)?;
    let k: usize = k.trim().parse().map_err(|_| bad())?;
    let n: usize = n.trim().parse().map_err(|_| bad())?;
    if k == 0 || n == 0 || k > n {
        return Err(bad());
    }
    Ok((k, n))
}

/// The entries of slice K of N.
pub fn shard(entries: Vec<Entry>, (k, n): (usize, usize)) -> Vec<Entry> {
    entries
        .into_iter()
        .enumerate()
        .filter(|(i, _)| i % n == k - 1)
        .map(|(_, e)| e)
        .collect()
}

/// The entries that failed in an earlier report (`report` names it in messages).
pub fn only_failed(entries: Vec<Entry>, text: &str, report: &str) -> Result<Vec<Entry>> {
    let mut failed = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: TenantResult = serde_json::from_str(line).map_err(|_| {
            usage(format!(
                "{report}:{}: not a report line written by `onboard`",
                i + 1
            ))
        })?;
        if r.status != Status::Ok {
            failed.insert(r.tenant.to_ascii_lowercase());
        }
    }
    let picked: Vec<Entry> = entries
        .into_iter()
        .filter(|e| failed.remove(&e.tenant.to_ascii_lowercase()))
        .collect();
    for missing in &failed {
        crate::warn!("{missing} failed in the report but is not in the tenants file; skipped");
    }
    Ok(picked)
}

/// "onboard: 1000 tenants in 1.8 s: 950 ok, 50 failed (token 35: AADSTS700016 x20, ...; roles 15)"
pub fn summarize(results: &[TenantResult], elapsed: Duration) -> String {
    let ok = results.iter().filter(|r| r.status == Status::Ok).count();
    let failed = results.len() - ok;
    let mut by_stage: BTreeMap<Stage, BTreeMap<String, usize>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.status != Status::Ok) {
        let key = r
            .aadsts
            .map(|c| format!("AADSTS{c}"))
            .or_else(|| (r.stage == Stage::Roles).then(|| "missing role".to_string()))
            .or_else(|| r.http_status.map(|s| format!("HTTP {s}")))
            .unwrap_or_else(|| "other".into());
        *by_stage.entry(r.stage).or_default().entry(key).or_default() += 1;
    }
    let mut s = format!(
        "onboard: {} tenants in {:.1} s: {ok} ok, {failed} failed",
        results.len(),
        elapsed.as_secs_f64()
    );
    if failed > 0 {
        let parts: Vec<String> = by_stage
            .iter()
            .map(|(stage, codes)| {
                let n: usize = codes.values().sum();
                let detail: Vec<String> = codes.iter().map(|(c, k)| format!("{c} x{k}")).collect();
                format!("{} {n}: {}", stage.as_str(), detail.join(", "))
            })
            .collect();
        s.push_str(&format!(" ({})", parts.join("; ")));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards() {
        assert_eq!(parse_shard("2/8").unwrap(), (2, 8));
        for bad in ["0/3", "4/3", "x", "1/0", "a/b"] {
            assert!(parse_shard(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn summary_groups_by_stage_and_code() {
        let mk = |status: Status, stage: Stage, code: Option<u64>| TenantResult {
            name: "n".into(),
            tenant: "t".into(),
            tenant_id: None,
            status,
            stage,
            error: None,
            aadsts: code,
            roles: vec![],
            scp: None,
            expires_at: None,
            http_status: None,
            elapsed_ms: 1,
        };
        let s = summarize(
            &[
                mk(Status::Ok, Stage::Roles, None),
                mk(Status::Failed, Stage::Token, Some(700016)),
                mk(Status::Failed, Stage::Token, Some(700016)),
                mk(Status::Failed, Stage::Roles, None),
            ],
            Duration::from_millis(1500),
        );
        assert_eq!(
            s,
            "onboard: 4 tenants in 1.5 s: 1 ok, 3 failed (token 2: AADSTS700016 x2; roles 1: missing role x1)"
        );
    }
}
