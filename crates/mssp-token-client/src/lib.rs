//! The mssp-token client: everything below the command line.
//!
//! Data flows one way: domain values (built once by the binary's `args.rs`) -> a flow
//! (`flows/`) -> the one Entra client (`entra/`, a method per grant, applying the credential
//! itself) -> a [`token::TokenSet`] with its claims decoded once -> [`checks`] -> a store
//! ([`store`]) and/or [`output`]. Nothing here knows clap or a flag's name: callers add
//! `--tenant` or `tenants.toml:12` to the messages.
//!
//! Where things go: a new grant is a method in `entra/grants.rs`; a new API target is a row in
//! [`apis`]; a new token store is an implementation of [`store::TokenStore`]; a new command is a
//! file in the binary's `commands/` over a flow here.

pub mod log;

pub mod apis;
pub mod authority;
pub mod browser;
pub mod checks;
pub mod credentials;
pub mod entra;
pub mod error;
pub mod flows;
pub mod http;
pub mod identity;
pub mod jwt;
pub mod listener;
pub mod output;
pub mod rate_limit;
pub mod redacted;
pub mod redirect;
pub mod store;
pub mod tenants_file;
pub mod time;
pub mod token;
