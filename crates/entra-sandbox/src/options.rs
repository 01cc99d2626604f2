//! [`SandboxOptions`]: what `mssp-token sandbox` flags (or a test) ask of a sandbox, and the
//! defaults of the optional ones.

use std::path::PathBuf;

/// Options for starting a sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1; `None` picks a free port.
    pub port: Option<u16>,
    /// A JSON file with tenants and apps; `None` uses the built-in set.
    pub config: Option<PathBuf>,
    /// Defender API throttling: requests per minute per tenant (/api/alerts and /api/incidents
    /// together); over it, 429 with Retry-After. `None`: no limit.
    pub rate_limit: Option<u32>,
    /// `--tenants N`: N generated tenants added to the configured ones (data/generate.rs).
    pub generate_tenants: Option<u32>,
    /// `--write-tenants FILE`: write a tenants file for `onboard` listing every tenant (and the
    /// plain list FILE.txt) once started (data/roster.rs).
    pub tenants_file: Option<PathBuf>,
    /// `--faults SPEC`: e.g. "429=0.05,503=0.02,reset=0.01" (faults.rs).
    pub faults: Option<String>,
    /// `--seed N`: deterministic fault choice (default: random).
    pub fault_seed: Option<u64>,
    /// `--retry-after SECS`: the Retry-After of injected 429 and 503 (default 1).
    pub retry_after_secs: Option<u32>,
    /// How long a `stall` fault holds the body back before closing (default 40 s).
    pub stall_secs: Option<u64>,
    /// `--latency-ms N`: added to every token and Defender API response.
    pub latency_ms: Option<u64>,
    /// `--threads N`: worker threads (default max(8, 4 × available cores)).
    pub threads: Option<usize>,
    /// `--tls`: HTTPS with a CA generated at start (info's "ca_file").
    pub tls: bool,
}

/// Default Retry-After of injected faults, seconds.
pub(crate) const DEFAULT_RETRY_AFTER: u32 = 1;
/// Default stall of the `stall` fault, seconds.
pub(crate) const DEFAULT_STALL_SECS: u64 = 40;
