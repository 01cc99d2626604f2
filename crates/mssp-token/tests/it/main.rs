//! mssp-token's integration tests: ONE test binary (linking everything once instead of once per
//! file), a module per area. mssp-token runs as a real subprocess in every test (the built
//! binary, with a browser stand-in through $BROWSER); the simulated Entra ID is started in this
//! process (support::Sandbox), except in sandbox_command.rs, whose subject is the
//! `mssp-token sandbox` process itself.
//!
//! Run one area with `cargo test -p mssp-token --test it login::` (module paths filter).
//! The python stand-ins live in tests/support/, the playwright driver in tests/browser/.

mod keyring_session;
mod support;

mod apis;
mod app_only;
mod certificate;
mod chromium;
mod collect;
mod consent;
mod device_code;
mod hardening_bad_input;
mod hardening_listener;
mod hardening_paths;
mod hardening_secrets;
mod hardening_storage;
mod hostile_answers;
mod inspect;
mod login;
mod login_errors;
mod network_faults;
mod onboard;
mod partner;
mod profiles;
mod properties;
mod refresh;
mod report_merge;
mod sandbox_command;
mod status;
mod stores;
mod token;
mod wrong_tenant;
