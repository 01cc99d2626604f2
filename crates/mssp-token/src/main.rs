//! mssp-token: parse the command line, run the command, map the outcome to the contract's exit
//! code. Nothing else.

mod args;
mod cli;
mod commands;

use clap::Parser;
use cli::{Cli, Command};
use mssp_token_client::error;

fn main() {
    let cli = Cli::parse();
    mssp_token_client::log::set_verbose(cli.verbose);
    let code = match run(cli.command) {
        Ok(()) => 0,
        Err(e) => {
            error::report(&e);
            error::exit_code_of(&e)
        }
    };
    // Exit here: a thread still blocked on stdin must not keep the process alive.
    std::process::exit(code);
}

fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Sandbox(a) => commands::sandbox::run(a),
        Command::Completions { shell } => commands::completions::run(shell),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Status(a) => commands::status::run(a),
        Command::Logout(a) => commands::logout::run(a),
        Command::Login(a) => runtime()?.block_on(commands::login::run(a)),
        Command::Token(a) => runtime()?.block_on(commands::token::run(a)),
        Command::Refresh(a) => runtime()?.block_on(commands::refresh::run(a)),
        Command::Consent(a) => runtime()?.block_on(commands::consent::run(a)),
        Command::Api(a) => runtime()?.block_on(commands::api::run(a)),
        Command::Onboard(a) => runtime()?.block_on(commands::onboard::run(a)),
        Command::Collect(a) => runtime()?.block_on(commands::collect::run(a)),
        Command::Report(a) => commands::report::run(a),
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
