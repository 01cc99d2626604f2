//! `mssp-token onboard`: for every tenant in a file, a token, the role check and an optional API
//! probe; one NDJSON line per tenant and a summary; exit 8 when some tenants failed.
//!
//! The report goes to stdout, or with `--report FILE` line by line to `FILE.partial` (0600),
//! renamed to FILE once every tenant ran: FILE is never half written, and an earlier report
//! stays until a complete one replaces it. SIGINT or SIGTERM stops the run: the partial file
//! keeps the results so far, stderr says where and how many, and the exit code is 130 or 143
//! (128 + the signal, as a shell reports it).

use crate::args;
use crate::cli::OnboardArgs;
use anyhow::Result;
use mssp_token_client::error::{fail, io_reason, usage, Exit};
use mssp_token_client::flows::onboard::{self, Common, RunOptions, Status, TenantResult};
use mssp_token_client::http::RateLimiter;
use mssp_token_client::redacted::scrub;
use mssp_token_client::store::cache::Cache;
use mssp_token_client::store::tenants::TenantIds;
use mssp_token_client::tenants_file::{self, Settings};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
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
        partner: match &a.partner {
            Some(name) => Some(Arc::new(args::partner(name, &a.store, &a.identity)?)),
            None => None,
        },
    };
    let plans = onboard::plan_all(&entries, &file.defaults, &common)?;

    let mut http = args::http(a.identity.ca_file.as_deref())?;
    http.retry.attempts = a.retries;
    // The per-tenant deadline bounds the retries; the budget only keeps one wait sane.
    http.retry.budget = Duration::from_secs(a.deadline);
    if let Some(rps) = a.max_rps {
        http.limiter = Some(Arc::new(RateLimiter::per_second(rps)));
    }
    // Before any request: a report path that cannot be written fails now, not after the run.
    let mut sink = match &a.report {
        Some(path) => Sink::Partial(Partial::create(path)?),
        None => Sink::Stdout(std::io::stdout()),
    };
    let opts = RunOptions {
        concurrency: a.concurrency as usize,
        deadline: Duration::from_secs(a.deadline),
        remembered: remembered_tenant_ids(),
    };
    quiet_panics();
    let signals = Signals::listen()?;
    let started = Instant::now();
    let total = plans.len();
    let mut results: Vec<TenantResult> = Vec::with_capacity(total);
    let interrupted = {
        let run = onboard::run(&http, plans, &opts, |r| {
            sink.line(r);
            results.push(r.clone());
        });
        tokio::select! {
            _ = run => None,
            signal = signals.next() => Some(signal),
        }
    };
    let summary = onboard::summarize(&results, started.elapsed());
    if let Some((name, code)) = interrupted {
        let where_ = sink.stop();
        mssp_token_client::info!("{summary}");
        mssp_token_client::info!(
            "mssp-token: interrupted by {name}: {} of {total} tenants ran{where_}",
            results.len()
        );
        let _ = std::io::stdout().flush();
        std::process::exit(code);
    }
    sink.finish()?;
    mssp_token_client::info!("{summary}");
    let failed = results.iter().filter(|r| r.status != Status::Ok).count();
    if failed > 0 {
        return Err(fail(
            Exit::SomeFailed,
            format!("{failed} of {total} tenants failed (the others ran); see the report"),
        ));
    }
    Ok(())
}

/// Tenant IDs remembered in the cache folder; without a usable cache folder, every domain is
/// resolved (said with --verbose).
fn remembered_tenant_ids() -> Option<TenantIds> {
    match Cache::open() {
        Ok(c) => Some(TenantIds::in_cache(&c)),
        Err(e) => {
            mssp_token_client::verbose!("not remembering tenant IDs: {e}");
            None
        }
    }
}

/// A panic in one tenant's task becomes that tenant's "internal error" result (see
/// fan_out); here it is said on stderr in one scrubbed line instead of Rust's panic text.
fn quiet_panics() {
    std::panic::set_hook(Box::new(|info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "mssp-token: internal error{at}: {} (a bug in mssp-token: please report it)",
            mssp_token_client::redacted::for_terminal(&scrub(&msg))
        );
    }));
}

/// Where the report lines go.
enum Sink {
    Stdout(std::io::Stdout),
    Partial(Partial),
}

impl Sink {
    fn line(&mut self, r: &TenantResult) {
        // Not scrubbed again here: its one free text, `error`, is scrubbed where it is made
        // (flows::onboard::one_line, fan_out's panic text), and scrubbing every line against
        // every token of the run made a 1000-tenant onboard quadratic (10x the CPU).
        let line = serde_json::to_string(r).unwrap_or_default();
        match self {
            Sink::Stdout(out) => {
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            Sink::Partial(p) => p.line(&line),
        }
    }

    /// After a complete run: the partial report becomes the report.
    fn finish(self) -> Result<()> {
        match self {
            Sink::Stdout(mut out) => {
                let _ = out.flush();
                Ok(())
            }
            Sink::Partial(p) => p.finish(),
        }
    }

    /// After an interrupted run: the partial report is closed where it is; says where.
    fn stop(self) -> String {
        match self {
            Sink::Stdout(mut out) => {
                let _ = out.flush();
                String::new()
            }
            Sink::Partial(p) => p.stop(),
        }
    }
}

/// `FILE.partial`: the report as it grows, one flushed NDJSON line per tenant, mode 0600.
struct Partial {
    /// The report as named (for messages).
    shown: PathBuf,
    /// FILE.partial, beside the file the report replaces.
    path: PathBuf,
    file: File,
    /// The first write error (the run goes on; the report is then refused at the end).
    failed: Option<String>,
}

impl Partial {
    /// Checks the report path (a regular file, a symlink to one, or nothing) and creates
    /// FILE.partial beside the file it will replace. A stale FILE.partial (a regular file, left
    /// by an interrupted run) is replaced; anything else there is refused.
    fn create(report: &Path) -> Result<Partial> {
        mssp_token_client::store::file::check_writable(report)
            .map_err(|e| mssp_token_client::error::at("--report", e))?;
        let target = mssp_token_client::store::paths::replace_target(report)
            .map_err(|e| mssp_token_client::error::at("--report", e))?;
        let path = partial_path(&target);
        let cannot = |what: &str, e: std::io::Error| {
            fail(
                Exit::Storage,
                format!(
                    "--report {}: cannot {what} {} ({})",
                    report.display(),
                    path.display(),
                    io_reason(&e)
                ),
            )
        };
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => {
                std::fs::remove_file(&path).map_err(|e| cannot("replace the stale", e))?
            }
            Ok(m) => {
                return Err(fail(
                    Exit::Storage,
                    format!(
                        "--report {}: {} is in the way: it is {}, not a regular file; remove it or choose another report name",
                        report.display(),
                        path.display(),
                        mssp_token_client::store::paths::describe(&m.file_type())
                    ),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(cannot("examine", e)),
        }
        let mut options = std::fs::OpenOptions::new();
        // create_new: never follows a link planted at the path.
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(&path).map_err(|e| cannot("create", e))?;
        Ok(Partial {
            shown: report.to_path_buf(),
            path,
            file,
            failed: None,
        })
    }

    fn line(&mut self, line: &str) {
        if self.failed.is_some() {
            return;
        }
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line.as_bytes());
        bytes.push(b'\n');
        // One write per line, straight to the file (no buffer to lose on a signal).
        if let Err(e) = self.file.write_all(&bytes) {
            self.failed = Some(io_reason(&e));
        }
    }

    fn finish(self) -> Result<()> {
        let shown = self.shown.display().to_string();
        if let Some(why) = &self.failed {
            return Err(fail(
                Exit::Storage,
                format!(
                    "--report {shown}: writing {} failed ({why}); the report is incomplete there and {shown} was left as it was",
                    self.path.display()
                ),
            ));
        }
        let synced = self.file.sync_all();
        drop(self.file);
        synced.map_err(|e| {
            fail(
                Exit::Storage,
                format!(
                    "--report {shown}: fsync of {} failed ({}); {shown} was left as it was",
                    self.path.display(),
                    io_reason(&e)
                ),
            )
        })?;
        // Checked again: what is at the report path may have changed during the run.
        let target = mssp_token_client::store::paths::replace_target(&self.shown)
            .map_err(|e| mssp_token_client::error::at("--report", e))?;
        std::fs::rename(&self.path, &target).map_err(|e| {
            fail(
                Exit::Storage,
                format!(
                    "--report {shown}: cannot rename {} to it ({}); the complete report is in {}",
                    self.path.display(),
                    io_reason(&e),
                    self.path.display()
                ),
            )
        })?;
        if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }

    fn stop(self) -> String {
        let _ = self.file.sync_all();
        format!(
            "; their results are in {} ({} was left as it was)",
            self.path.display(),
            self.shown.display()
        )
    }
}

/// FILE.partial for FILE.
fn partial_path(target: &Path) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    target.with_file_name(name)
}

/// SIGINT and SIGTERM (Ctrl-C elsewhere), listened for from the start of the run.
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn listen() -> Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let cannot = |e: std::io::Error| {
                fail(
                    Exit::Internal,
                    format!("cannot listen for SIGINT/SIGTERM: {e}"),
                )
            };
            Ok(Signals {
                int: signal(SignalKind::interrupt()).map_err(cannot)?,
                term: signal(SignalKind::terminate()).map_err(cannot)?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The signal's name and the exit code for it (128 + its number).
    async fn next(mut self) -> (&'static str, i32) {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => ("SIGINT", 130),
                _ = self.term.recv() => ("SIGTERM", 143),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            ("Ctrl-C", 130)
        }
    }
}
