//! `mssp-token onboard`: for every tenant in a file, a token (client credentials), the role
//! check and an optional API probe; bounded concurrency, a deadline per tenant, retries with
//! backoff inside the HTTP client, a global rate limit; one NDJSON result per tenant and a
//! summary. One tenant's failure never stops the others.

use crate::aadsts::EntraError;
use crate::authority::{Authority, Tenant};
use crate::cli::OnboardArgs;
use crate::credentials::{self, SecretSources};
use crate::error::{fail, usage, Exit};
use crate::http::{Http, RateLimiter};
use crate::identity::{Identity, DEFENDER_DEFAULT_SCOPE};
use crate::redacted::SecretString;
use crate::tenants_file::{self, Entry, Settings};
use crate::token::Target;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One line of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantResult {
    pub name: String,
    pub tenant: String,
    pub tenant_id: Option<String>,
    pub status: String,
    /// The stage that failed, or the last one passed.
    pub stage: String,
    pub error: Option<String>,
    pub aadsts: Option<u64>,
    pub roles: Vec<String>,
    pub expires_at: Option<String>,
    pub http_status: Option<u16>,
    pub elapsed_ms: u64,
}

pub async fn run(args: OnboardArgs) -> Result<()> {
    let shown = args.tenants.display().to_string();
    let text = std::fs::read_to_string(&args.tenants).map_err(|e| {
        usage(format!(
            "--tenants {shown}: cannot read it ({})",
            crate::credentials::io_reason(&e)
        ))
    })?;
    let file = tenants_file::parse(&text, &shown)?;
    let mut entries = file.tenants.clone();
    if let Some(report) = &args.only_failed {
        entries = only_failed(entries, report)?;
    }
    if let Some(shard) = &args.shard {
        let (k, n) = parse_shard(shard)?;
        entries = entries
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % n == k - 1)
            .map(|(_, e)| e)
            .collect();
    }
    let cli = Settings {
        client_id: args.identity.client_id.clone(),
        scope: (!args.identity.scope.is_empty()).then(|| args.identity.scope.join(" ")),
        resource: args.identity.resource.clone(),
        require_roles: (!args.require_role.is_empty()).then(|| args.require_role.clone()),
        probe: args.probe.clone(),
        cloud: None,
        client_secret_env: None,
    };
    let credential = credentials::resolve(&SecretSources {
        file: args.identity.client_secret_file.clone(),
        stdin: args.identity.client_secret_stdin,
        value: args
            .identity
            .client_secret
            .as_deref()
            .map(SecretString::new),
        certificate: args.identity.certificate.clone(),
        certificate_password: args
            .identity
            .certificate_password
            .as_deref()
            .map(SecretString::new),
        federated_token_file: args.identity.federated_token_file.clone(),
    })?;
    // Check every entry before any request: a bad file fails whole, with its line.
    let mut plans = Vec::with_capacity(entries.len());
    for e in &entries {
        plans.push(plan(e, &cli, &file.defaults, &args, &credential, &shown)?);
    }

    let mut http = Http::new(args.identity.ca_file.as_deref())?;
    http.retry.attempts = args.retries;
    // The per-tenant deadline bounds the retries; the budget only keeps one wait sane.
    http.retry.budget = Duration::from_secs(args.deadline);
    if let Some(rps) = args.max_rps {
        http.limiter = Some(Arc::new(RateLimiter::per_second(rps)));
    }
    let started = Instant::now();
    let total = plans.len();
    let progress = progress_bar(total);
    let sem = Arc::new(tokio::sync::Semaphore::new(args.concurrency as usize));
    let mut tasks = tokio::task::JoinSet::new();
    for p in plans {
        let (sem, http) = (sem.clone(), http.clone());
        let deadline = Duration::from_secs(args.deadline);
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            one(&http, p, deadline).await
        });
    }
    let mut out: Box<dyn Write + Send> = if args.report.is_some() {
        Box::new(Vec::<u8>::new())
    } else {
        Box::new(std::io::stdout())
    };
    let mut buffer = Vec::new();
    let mut results = Vec::with_capacity(total);
    while let Some(joined) = tasks.join_next().await {
        let r = joined.map_err(|e| fail(Exit::Internal, format!("a tenant's task failed: {e}")))?;
        let line = serde_json::to_string(&r).unwrap_or_default();
        if args.report.is_some() {
            buffer.extend_from_slice(line.as_bytes());
            buffer.push(b'\n');
        } else {
            let _ = writeln!(out, "{}", crate::redacted::scrub(&line));
        }
        if let Some(pb) = &progress {
            pb.inc(1);
        }
        results.push(r);
    }
    let _ = out.flush();
    if let Some(pb) = progress {
        pb.finish_and_clear();
    }
    if let Some(report) = &args.report {
        crate::storage::write_atomic(
            report,
            crate::redacted::scrub(&String::from_utf8_lossy(&buffer)).as_bytes(),
        )?;
    }
    let summary = summarize(&results, started.elapsed());
    crate::log::info(&summary);
    let failed = results.iter().filter(|r| r.status != "ok").count();
    if failed > 0 {
        return Err(fail(
            Exit::SomeFailed,
            format!("{failed} of {total} tenants failed (the others ran); see the report"),
        ));
    }
    Ok(())
}

/// Everything one tenant needs.
struct Plan {
    entry: Entry,
    identity: Identity,
    roles: Vec<String>,
    probe: Option<url::Url>,
}

fn plan(
    e: &Entry,
    cli: &Settings,
    defaults: &Settings,
    args: &OnboardArgs,
    credential: &credentials::Credential,
    shown: &str,
) -> Result<Plan> {
    let s = e.settings.or(cli).or(defaults);
    let at = |msg: String| usage(format!("{shown}:{}: {msg}", e.line));
    let client_id = s.client_id.as_deref().ok_or_else(|| {
        at("no client_id: set it in [defaults], on the tenant, or pass --client-id".into())
    })?;
    let client_id =
        crate::authority::parse_client_id(client_id).map_err(|err| at(err.to_string()))?;
    let cloud = s.cloud.unwrap_or(args.identity.cloud);
    let tenant = Tenant::parse(&e.tenant).map_err(|err| at(err.to_string()))?;
    let authority = Authority::new(cloud, args.identity.authority.as_deref(), tenant)?;
    let target = match (&s.scope, &s.resource) {
        (Some(_), Some(_)) if e.settings.scope.is_none() && e.settings.resource.is_none() => {
            return Err(at("both scope and resource are set; keep one".into()))
        }
        (Some(sc), _) if e.settings.resource.is_none() => {
            Target::Scopes(sc.split_whitespace().map(str::to_string).collect())
        }
        (_, Some(r)) => Target::Resource(r.clone()),
        (Some(sc), None) => Target::Scopes(sc.split_whitespace().map(str::to_string).collect()),
        (None, None) => Target::Scopes(vec![DEFENDER_DEFAULT_SCOPE.to_string()]),
    };
    let credential = match &s.client_secret_env {
        None => credential.clone(),
        Some(var) => match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => {
                credentials::Credential::Secret(SecretString::new(v.trim()))
            }
            _ => {
                return Err(at(format!(
                    "client_secret_env = \"{var}\" but that environment variable is not set"
                )))
            }
        },
    };
    let identity = Identity {
        authority,
        client_id,
        credential,
        target,
    };
    crate::client_credentials::check_app_only(&identity).map_err(|err| at(err.to_string()))?;
    let probe = match &s.probe {
        None => None,
        Some(p) => {
            let base =
                match &args.base_url {
                    Some(b) => {
                        let u = url::Url::parse(b)
                            .map_err(|err| usage(format!("--base-url '{b}': {err}")))?;
                        crate::api::check_scheme(&u, "--base-url")?;
                        u
                    }
                    None => url::Url::parse(cloud.defender_api().ok_or_else(|| {
                        at("no Defender API in this cloud; pass --base-url".into())
                    })?)
                    .expect("built-in URL"),
                };
            Some(crate::api::target_url(&base, p).map_err(|err| at(err.to_string()))?)
        }
    };
    Ok(Plan {
        entry: e.clone(),
        identity,
        roles: s.require_roles.unwrap_or_default(),
        probe,
    })
}

async fn one(http: &Http, p: Plan, deadline: Duration) -> TenantResult {
    let started = Instant::now();
    let stage = Arc::new(Mutex::new("token"));
    let mut result = TenantResult {
        name: p.entry.name.clone(),
        tenant: p.entry.tenant.clone(),
        tenant_id: None,
        status: "ok".into(),
        stage: "token".into(),
        error: None,
        aadsts: None,
        roles: Vec::new(),
        expires_at: None,
        http_status: None,
        elapsed_ms: 0,
    };
    let shared = Arc::new(Mutex::new(result.clone()));
    let work = stages(http, &p, stage.clone(), shared.clone());
    let outcome = tokio::time::timeout(deadline, work).await;
    if let Ok(r) = shared.lock() {
        result = r.clone();
    }
    let at = stage.lock().map(|s| *s).unwrap_or("token");
    result.stage = at.to_string();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            result.status = "failed".into();
            result.aadsts = e
                .chain()
                .find_map(|c| c.downcast_ref::<EntraError>())
                .and_then(|x| x.code);
            result.error = Some(one_line(&e));
        }
        Err(_) => {
            result.status = "failed".into();
            result.error = Some(format!(
                "deadline of {} s passed during the {at} stage (--deadline)",
                deadline.as_secs()
            ));
        }
    }
    result.elapsed_ms = started.elapsed().as_millis() as u64;
    result
}

async fn stages(
    http: &Http,
    p: &Plan,
    stage: Arc<Mutex<&'static str>>,
    out: Arc<Mutex<TenantResult>>,
) -> Result<()> {
    let set = crate::client_credentials::acquire(http, &p.identity).await?;
    let roles = crate::jwt::Jwt::decode(&set.access_token)
        .map(|j| j.roles())
        .unwrap_or_default();
    if let Ok(mut o) = out.lock() {
        o.tenant_id = Some(set.tenant_id.clone());
        o.roles = roles.clone();
        o.expires_at = Some(set.expires_at.clone());
    }
    set_stage(&stage, "roles");
    crate::checks::roles_present(&set, &p.roles)?;
    let Some(url) = &p.probe else {
        return Ok(());
    };
    set_stage(&stage, "probe");
    let req = http
        .request(reqwest::Method::GET, url.as_str())
        .bearer_auth(&set.access_token)
        .header("Accept", "application/json");
    let resp = http.send_with_retries(req).await?;
    if let Ok(mut o) = out.lock() {
        o.http_status = Some(resp.status);
    }
    if !(200..300).contains(&resp.status) {
        return Err(crate::api::explain(&resp, url, &set.access_token));
    }
    Ok(())
}

fn set_stage(stage: &Mutex<&'static str>, s: &'static str) {
    if let Ok(mut g) = stage.lock() {
        *g = s;
    }
}

/// An error on one line: the message and its causes joined.
fn one_line(e: &anyhow::Error) -> String {
    let mut parts = vec![e.to_string()];
    parts.extend(e.chain().skip(1).map(|c| c.to_string()));
    let joined = parts.join(": ");
    let lines: Vec<String> = joined
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| !l.is_empty())
        .collect();
    crate::redacted::scrub(&lines.join("; "))
}

fn parse_shard(s: &str) -> Result<(usize, usize)> {
    let bad = || {
        usage(format!(
            "--shard '{}': expected K/N with 1 <= K <= N, e.g. 2/8",
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

fn only_failed(entries: Vec<Entry>, report: &std::path::Path) -> Result<Vec<Entry>> {
    let text = std::fs::read_to_string(report).map_err(|e| {
        usage(format!(
            "--only-failed {}: cannot read it ({})",
            report.display(),
            crate::credentials::io_reason(&e)
        ))
    })?;
    let mut failed = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let r: TenantResult = serde_json::from_str(line).map_err(|_| {
            usage(format!(
                "--only-failed {}:{}: not a report line written by `onboard`",
                report.display(),
                i + 1
            ))
        })?;
        if r.status != "ok" {
            failed.insert(r.tenant.to_ascii_lowercase());
        }
    }
    let picked: Vec<Entry> = entries
        .into_iter()
        .filter(|e| failed.remove(&e.tenant.to_ascii_lowercase()))
        .collect();
    for missing in &failed {
        crate::log::warn(&format!(
            "{missing} failed in the report but is not in the tenants file; skipped"
        ));
    }
    Ok(picked)
}

fn progress_bar(total: usize) -> Option<indicatif::ProgressBar> {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return None;
    }
    let pb = indicatif::ProgressBar::new(total as u64);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} tenants {elapsed}")
    {
        pb.set_style(style);
    }
    Some(pb)
}

/// "onboard: 1000 tenants in 1.8 s: 950 ok, 50 failed (token 35: AADSTS700016 x20, ...; roles 15)"
pub fn summarize(results: &[TenantResult], elapsed: Duration) -> String {
    let ok = results.iter().filter(|r| r.status == "ok").count();
    let failed = results.len() - ok;
    let mut by_stage: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for r in results.iter().filter(|r| r.status != "ok") {
        let key = r
            .aadsts
            .map(|c| format!("AADSTS{c}"))
            .or_else(|| (r.stage == "roles").then(|| "missing role".to_string()))
            .or_else(|| r.http_status.map(|s| format!("HTTP {s}")))
            .unwrap_or_else(|| "other".into());
        *by_stage
            .entry(r.stage.as_str())
            .or_default()
            .entry(key)
            .or_default() += 1;
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
                format!("{stage} {n}: {}", detail.join(", "))
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
        let mk = |status: &str, stage: &str, code: Option<u64>| TenantResult {
            name: "n".into(),
            tenant: "t".into(),
            tenant_id: None,
            status: status.into(),
            stage: stage.into(),
            error: None,
            aadsts: code,
            roles: vec![],
            expires_at: None,
            http_status: None,
            elapsed_ms: 1,
        };
        let s = summarize(
            &[
                mk("ok", "roles", None),
                mk("failed", "token", Some(700016)),
                mk("failed", "token", Some(700016)),
                mk("failed", "roles", None),
            ],
            Duration::from_millis(1500),
        );
        assert_eq!(
            s,
            "onboard: 4 tenants in 1.5 s: 1 ok, 3 failed (roles 1: missing role x1; token 2: AADSTS700016 x2)"
        );
    }
}
