//! mssp-token as a library: every concern in its own module. The binary (`main.rs`) only
//! wires the command line to these; the fuzz targets and property tests use the parsers.

pub mod aadsts;
pub mod api;
pub mod authority;
pub mod browser;
pub mod cache;
pub mod certificate;
pub mod checks;
pub mod cli;
pub mod client_credentials;
pub mod consent;
pub mod credentials;
pub mod entra;
pub mod error;
pub mod federated;
pub mod http;
pub mod identity;
pub mod inspect;
pub mod interactive;
pub mod jwt;
pub mod listener;
pub mod log;
pub mod login;
pub mod onboard;
pub mod output;
pub mod redacted;
pub mod redirect;
pub mod refresh;
pub mod storage;
pub mod tenants_file;
pub mod token;
