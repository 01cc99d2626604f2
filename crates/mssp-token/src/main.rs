//! mssp-token: wiring only. Parse the command line, run the command, map the outcome to the
//! contract's exit code.

use clap::{CommandFactory, Parser};
use mssp_token::cli::{Cli, Command};
use mssp_token::{
    api, client_credentials, consent, error, inspect, log, login, onboard, refresh,
};

fn main() {
    let cli = Cli::parse();
    log::set_verbose(cli.verbose);
    let code = match run(cli) {
        Ok(()) => 0,
        Err(e) => {
            error::report(&e);
            error::exit_code_of(&e)
        }
    };
    // Exit here: a thread still blocked on stdin must not keep the process alive.
    std::process::exit(code);
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Sandbox(args) => entra_sandbox::run(entra_sandbox::SandboxOptions {
            port: args.port,
            config: args.config,
            rate_limit: args.rate_limit,
            generate_tenants: args.generate_tenants,
            tenants_file: args.tenants_file,
            faults: args.faults,
            fault_seed: args.fault_seed,
            retry_after_secs: args.retry_after,
            stall_secs: args.stall_secs,
            latency_ms: args.latency_ms,
            threads: args.threads,
            tls: args.tls,
        }),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "mssp-token",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Login(args) => runtime()?.block_on(login::run(args)),
        Command::Token(args) => runtime()?.block_on(client_credentials::run(args)),
        Command::Refresh(args) => runtime()?.block_on(refresh::run(args)),
        Command::Consent(args) => runtime()?.block_on(consent::run(args)),
        Command::Api(args) => runtime()?.block_on(api::run(args)),
        Command::Inspect(args) => inspect::run(args),
        Command::Onboard(args) => runtime()?.block_on(onboard::run(args)),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| {
            error::fail(
                error::Exit::Internal,
                format!("cannot start the async runtime: {e}"),
            )
        })
}
