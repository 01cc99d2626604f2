//! `mssp-token status`: the offline inventory of every profile in the store (flows::inventory).
//! A table on stdout (the state coloured on a terminal only, never with NO_COLOR), or one JSON
//! array with `-o json`; a summary on stderr. Exit 0 when every profile could be read, even if
//! some need a sign-in (that is in the output); exit 7 after the whole list when some profile
//! could not be read (each is listed with its error, and named on stderr).

use crate::cli::{ReportFormat, StatusArgs};
use anyhow::Result;
use mssp_token_client::error::{at, fail, Exit};
use mssp_token_client::flows::inventory::{self, Inventory};
use mssp_token_client::store::profiles::Profiles;
use std::io::IsTerminal;

pub fn run(a: StatusArgs) -> Result<()> {
    // Only the index: no key, no keyring, no network (`--passphrase-file` is not needed).
    let kind = crate::args::store_kind(&a.store);
    let store = Profiles::open_index(kind).map_err(|e| at("--store", e))?;
    let inv = inventory::list(&store, mssp_token_client::time::now_epoch())?;
    let text = match a.output {
        ReportFormat::Json => inventory::to_json(&inv),
        ReportFormat::Text => inventory::to_table(&inv, color()),
    };
    mssp_token_client::output::stdout(&text)?;
    summary(&inv)
}

/// Colour only on a terminal, and never when NO_COLOR is set or TERM is dumb.
fn color() -> bool {
    std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::env::var("TERM").as_deref() != Ok("dumb")
}

/// The summary on stderr; Err (exit 7) when some profile could not be read.
fn summary(inv: &Inventory) -> Result<()> {
    let store = format!("the {} store ({})", inv.store.name(), inv.dir.display());
    if inv.entries.is_empty() {
        let others = inventory::elsewhere(inv.store)
            .into_iter()
            .map(|(k, dir, names)| {
                format!(
                    "; the {} store ({}) has {}: add --store {} (or set MSSP_TOKEN_STORE)",
                    k.name(),
                    dir.display(),
                    names.join(", "),
                    k.name()
                )
            })
            .collect::<String>();
        mssp_token_client::info!(
            "No profiles in {store}{others}. Save one with `mssp-token login --profile NAME`."
        );
        return Ok(());
    }
    let total = inv.entries.len();
    let dead = inv.needing_login().len();
    let unreadable = inv.unreadable();
    let errors = inv
        .entries
        .iter()
        .filter(|e| e.state == inventory::State::Error)
        .count();
    let mut parts = Vec::new();
    if dead > 0 {
        parts.push(format!(
            "{dead} need{} a sign-in",
            if dead == 1 { "s" } else { "" }
        ));
    }
    if !unreadable.is_empty() {
        parts.push(format!("{} unreadable", unreadable.len()));
    }
    if errors > 0 {
        parts.push(format!("{errors} with a failed last refresh"));
    }
    mssp_token_client::info!(
        "{total} profile{} in {store}{}.",
        if total == 1 { "" } else { "s" },
        if parts.is_empty() {
            String::new()
        } else {
            format!(": {}", parts.join(", "))
        }
    );
    if unreadable.is_empty() {
        return Ok(());
    }
    let list = unreadable
        .iter()
        .map(|e| format!("\n  {}", e.error.as_deref().unwrap_or(&e.profile)))
        .collect::<String>();
    Err(fail(
        Exit::Storage,
        format!(
            "{} of {total} profiles could not be read (the others are listed):{list}",
            unreadable.len()
        ),
    ))
}
