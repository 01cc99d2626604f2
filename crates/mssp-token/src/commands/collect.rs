//! `mssp-token collect`: every tenant's alerts and incidents as NDJSON records (stdout, or
//! appended to `--out FILE`), each record version once, with a cursor per tenant and source in
//! `--state DIR`; a summary on stderr; `--report FILE` one result line per tenant (for `report
//! merge`); exit 8 when some tenants failed.
//!
//! Killed at any point (SIGKILL included), the next run loses nothing and repeats nothing with
//! `--out FILE` (see flows::collect::sink); on stdout, records of the page being written when
//! the process died may come again (stdout cannot be read back).

use crate::args;
use crate::cli::CollectArgs;
use anyhow::Result;
use mssp_token_client::error::{at, fail, io_reason, usage, Exit};
use mssp_token_client::flows::collect::sink::Sink;
use mssp_token_client::flows::collect::state::StateDir;
use mssp_token_client::flows::collect::{self, Common, RunOptions, Shared, Status, TenantReport};
use mssp_token_client::flows::onboard;
use mssp_token_client::http::RateLimiter;
use mssp_token_client::store::cache::Cache;
use mssp_token_client::store::tenants::TenantIds;
use mssp_token_client::tenants_file::{self, Settings};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A page of records may be large (Graph alerts with their evidence): up to this many bytes.
const MAX_PAGE_BYTES: usize = 64 * 1024 * 1024;

pub async fn run(a: CollectArgs) -> Result<()> {
    let shown = a.tenants.display().to_string();
    let text = std::fs::read_to_string(&a.tenants).map_err(|e| {
        usage(format!(
            "--tenants {shown}: cannot read it ({})",
            io_reason(&e)
        ))
    })?;
    let file = tenants_file::parse(&text, &shown)?;
    let mut entries = file.tenants.clone();
    if let Some(k_of_n) = args::shard(a.shard.as_deref())? {
        entries = onboard::shard(entries, k_of_n);
    }
    let since = collect::since(&a.since, mssp_token_client::time::now_epoch())
        .map_err(|e| at("--since", e))?;
    let common = Common {
        shown,
        settings: Settings {
            client_id: a.identity.client_id.clone(),
            scope: None,
            resource: None,
            require_roles: None,
            probe: None,
            cloud: None,
            client_secret_env: None,
        },
        cloud: args::cloud(a.identity.cloud),
        authority: a.identity.authority.clone(),
        credential: args::credential(&a.identity)?,
        base_url: args::base_url(a.base_url.as_deref())?,
        partner: match &a.partner {
            Some(name) => Some(Arc::new(args::partner(name, &a.store, &a.identity)?)),
            None => None,
        },
        sources: args::sources(&a.source),
        page_size: a.page_size,
        since,
    };
    if a.identity.scope.len() + usize::from(a.identity.resource.is_some()) > 0 {
        return Err(usage(
            "--scope and --resource do not apply to collect: each source's token is for its own API (Graph, Defender for Endpoint, Defender XDR)",
        ));
    }
    let plans = collect::plan_all(&entries, &file.defaults, &common)?;

    let mut http = args::http(a.identity.ca_file.as_deref())?;
    http.retry.attempts = a.retries;
    http.retry.budget = Duration::from_secs(a.deadline);
    http.max_body = MAX_PAGE_BYTES;
    if let Some(rps) = a.max_rps {
        http.limiter = Some(Arc::new(RateLimiter::per_second(rps)));
    }
    // Before any request: the state folder (locked), the output (repaired), the report path.
    if let Some(r) = &a.report {
        mssp_token_client::store::file::check_writable(r).map_err(|e| at("--report", e))?;
    }
    let state = StateDir::open(&a.state).map_err(|e| at("--state", e))?;
    let sink = match &a.out {
        Some(p) => Sink::file(p)?,
        None => Sink::stdout(),
    };
    let shared = Arc::new(Shared::new(state, sink)?);
    // One cache folder for both: tenant IDs remembered, and (unless --no-cache) tokens.
    let cache = match Cache::open() {
        Ok(c) => Some(c),
        Err(e) => {
            mssp_token_client::verbose!("not using the cache folder: {e}");
            None
        }
    };
    let opts = RunOptions {
        concurrency: a.concurrency as usize,
        deadline: Duration::from_secs(a.deadline),
        remembered: cache.as_ref().map(TenantIds::in_cache),
        cache: if a.no_cache { None } else { cache },
    };
    let started = Instant::now();
    let total = plans.len();
    let mut report_lines = String::new();
    let results: Vec<TenantReport> = collect::run(&http, plans, &opts, shared, |r| {
        report_lines.push_str(&serde_json::to_string(r).unwrap_or_default());
        report_lines.push('\n');
    })
    .await;
    if let Some(r) = &a.report {
        mssp_token_client::store::file::write_atomic(r, report_lines.as_bytes())
            .map_err(|e| at("--report", e))?;
    }
    mssp_token_client::info!("{}", collect::summarize(&results, started.elapsed()));
    let failed = results.iter().filter(|r| r.status != Status::Ok).count();
    if failed > 0 {
        return Err(fail(
            Exit::SomeFailed,
            format!(
                "{failed} of {total} tenants failed (the others were collected); their cursors stay where their last written record is, so the next run goes on from there"
            ),
        ));
    }
    Ok(())
}
