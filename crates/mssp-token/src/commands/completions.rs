//! `mssp-token completions SHELL`.

use crate::cli::Cli;
use clap::CommandFactory;

pub fn run(shell: clap_complete::Shell) -> anyhow::Result<()> {
    clap_complete::generate(
        shell,
        &mut Cli::command(),
        "mssp-token",
        &mut std::io::stdout(),
    );
    Ok(())
}
