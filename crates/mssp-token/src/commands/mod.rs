//! One file per command: arguments -> domain values (`crate::args`) -> a flow of the client
//! library -> output. No command imports another; what two commands share is a flow.

pub mod api;
pub mod collect;
pub mod completions;
pub mod consent;
pub mod inspect;
pub mod login;
pub mod logout;
pub mod onboard;
pub mod refresh;
pub mod report;
pub mod sandbox;
pub mod status;
pub mod token;

use mssp_token_client::output::{self, Format};
use mssp_token_client::store::file::TokenFiles;
use mssp_token_client::store::TokenStore;
use mssp_token_client::token::TokenSet;
use std::path::Path;

/// What is printed of a set whose refresh token lives in a partner profile: everything but
/// that refresh token, which opens every customer (a copy in a terminal's scrollback or a CI log
/// would be one more key to all of them). A customer's own profile prints it, as `login` always
/// has.
fn shown(set: &TokenSet, partner: bool) -> TokenSet {
    let mut shown = set.clone();
    if partner {
        shown.refresh_token = None;
    }
    shown
}

/// Whether profile `name` of `store` is a partner session (from its index; false if unreadable).
fn is_partner(store: &mssp_token_client::store::profiles::Profiles, name: &str) -> bool {
    store
        .summary(name)
        .map(|s| s["kind"] == "partner")
        .unwrap_or(false)
}

/// Saves the set (if asked, through the token-file store) and prints it.
fn deliver(set: &TokenSet, format: Format, save: Option<&Path>) -> anyhow::Result<()> {
    if let Some(path) = save {
        let key = path.to_string_lossy();
        TokenFiles.put(&key, set)?;
        mssp_token_client::info!("Saved to {} (mode 0600).", path.display());
    }
    output::print(set, format)
}
