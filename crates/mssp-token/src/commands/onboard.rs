//! `mssp-token onboard`: for every tenant in a file, a token, the role check and an optional API
//! probe; one NDJSON line per tenant (stdout, or --report FILE written atomically) and a
//! summary; exit 8 when some tenants failed.

use crate::args;
use crate::cli::OnboardArgs;
use anyhow::Result;
use mssp_token_client::error::{fail, io_reason, usage, Exit};
use mssp_token_client::flows::onboard::{self, Common, Status};
use mssp_token_client::http::RateLimiter;
use mssp_token_client::redacted::scrub;
use mssp_token_client::tenants_file::{self, Settings};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub async fn run(a: OnboardArgs) -> Result<()> {
    let shown = a.tenants.display().to_string();
    let text = std::fs::read_to_string(&a.tenants).map_err(|e| {
        usage(format!(
            "--tenants {shown}: cannot read it ({})",
            io_reason(&e)
        ))
    })?;
    let file = tenants_file::parse(&text, &shown)?;
    let mut entries = file.tenants.clone();
    if let Some(report) = &a.only_failed {
        let text = std::fs::read_to_string(report).map_err(|e| {
            usage(format!(
                "--only-failed {}: cannot read it ({})",
                report.display(),
                io_reason(&e)
            ))
        })?;
        entries = onboard::only_failed(entries, &text, &report.display().to_string())
            .map_err(|e| mssp_token_client::error::at("--only-failed", e))?;
    }
    if let Some(k_of_n) = args::shard(a.shard.as_deref())? {
        entries = onboard::shard(entries, k_of_n);
    }
    let common = Common {
        shown,
        settings: Settings {
            client_id: a.identity.client_id.clone(),
            scope: (!a.identity.scope.is_empty()).then(|| a.identity.scope.join(" ")),
            resource: a.identity.resource.clone(),
            require_roles: (!a.require_role.is_empty()).then(|| a.require_role.clone()),
            probe: a.probe.clone(),
            cloud: None,
            client_secret_env: None,
        },
        cloud: args::cloud(a.identity.cloud),
        authority: a.identity.authority.clone(),
        credential: args::credential(&a.identity)?,
        api: args::api(a.api, a.xdr),
        base_url: args::base_url(a.base_url.as_deref())?,
    };
    let plans = onboard::plan_all(&entries, &file.defaults, &common)?;

    let mut http = args::http(a.identity.ca_file.as_deref())?;
    http.retry.attempts = a.retries;
    // The per-tenant deadline bounds the retries; the budget only keeps one wait sane.
    http.retry.budget = Duration::from_secs(a.deadline);
    if let Some(rps) = a.max_rps {
        http.limiter = Some(Arc::new(RateLimiter::per_second(rps)));
    }
    let started = Instant::now();
    let total = plans.len();
    let mut report = Vec::new();
    let to_file = a.report.is_some();
    let mut stdout = std::io::stdout();
    let results = onboard::run(
        &http,
        plans,
        a.concurrency as usize,
        Duration::from_secs(a.deadline),
        |r| {
            let line = scrub(&serde_json::to_string(r).unwrap_or_default());
            if to_file {
                report.extend_from_slice(line.as_bytes());
                report.push(b'\n');
            } else {
                let _ = writeln!(stdout, "{line}");
            }
        },
    )
    .await?;
    let _ = stdout.flush();
    if let Some(path) = &a.report {
        mssp_token_client::store::file::write_atomic(path, &report)?;
    }
    mssp_token_client::info!("{}", onboard::summarize(&results, started.elapsed()));
    let failed = results.iter().filter(|r| r.status != Status::Ok).count();
    if failed > 0 {
        return Err(fail(
            Exit::SomeFailed,
            format!("{failed} of {total} tenants failed (the others ran); see the report"),
        ));
    }
    Ok(())
}
