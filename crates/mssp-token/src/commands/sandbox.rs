//! `mssp-token sandbox`: the simulated Entra ID (the entra-sandbox crate) on loopback. This and
//! `login --sandbox` are the only places the client meets the sandbox.

use crate::cli::SandboxArgs;

pub fn run(a: SandboxArgs) -> anyhow::Result<()> {
    entra_sandbox::run(entra_sandbox::SandboxOptions {
        port: a.port,
        config: a.config,
        rate_limit: a.rate_limit,
        generate_tenants: a.generate_tenants,
        tenants_file: a.tenants_file,
        faults: a.faults,
        fault_seed: a.fault_seed,
        retry_after_secs: a.retry_after,
        stall_secs: a.stall_secs,
        latency_ms: a.latency_ms,
        threads: a.threads,
        tls: a.tls,
    })
}
