//! `mssp-token sandbox`: a simulated Microsoft Entra ID on loopback (v1 and v2 authorize, token,
//! discovery and keys), for rehearsal and tests. Its tokens are valid nowhere else.
//!
//! Routes (authority = http://127.0.0.1:PORT; {t} = tenant GUID or domain, or common/organizations;
//! the table is routes.rs, the handlers are in handlers/):
//! - GET|POST /{t}/oauth2/authorize, /{t}/oauth2/v2.0/authorize: sign-in + consent page
//!   (or, with prompt=none, a silent answer); GET /{t}/v2.0/adminconsent
//! - POST /sandbox/signin: the page's form (fields request, account, action=accept|cancel)
//! - POST /{t}/oauth2/devicecode, /{t}/oauth2/v2.0/devicecode: the device code flow; GET|POST
//!   /sandbox/device (the code-entry page at verification_uri), POST /sandbox/device/signin
//!   (handlers/devicecode.rs); the token endpoints take its device_code polls
//! - POST /{t}/oauth2/token, /{t}/oauth2/v2.0/token: authorization_code, refresh_token,
//!   client_credentials
//! - GET /{t}/v2.0/.well-known/openid-configuration, /{t}/.well-known/openid-configuration,
//!   /{t}/discovery/v2.0/keys, /{t}/discovery/keys
//! - GET /sandbox/info (info.rs); POST /sandbox/revoke-consent, /sandbox/revoke-sessions (test
//!   controls, handlers/control.rs)
//! - client assertions: certificate (assertion.rs) and federated (handlers/federation.rs, with
//!   the simulated OIDC issuer GET /sandbox-oidc/.well-known/openid-configuration, .../jwks, and
//!   POST /sandbox/federated-token)
//! - GET /api/alerts, /api/incidents: the Defender APIs (handlers/defender.rs, data in
//!   data/alerts.rs)
//! - GET /v1.0/security/alerts_v2, /v1.0/security/incidents: the Microsoft Graph security API
//!   (handlers/graph.rs, data in data/graph.rs); POST /sandbox/graph/touch adds and updates
//!   alerts on demand
//! - GET /sandbox/stats: request, fault and token counters (faults.rs)
//! - POST /sandbox/tamper: make the next answers hostile (tamper.rs), for tests of the client
//!
//! At scale (issue 4): `--tenants N` generated tenants with a fixed mix of states
//! (data/generate.rs), `--write-tenants FILE` a tenants file for `onboard` (data/roster.rs),
//! `--faults` injected faults and `--latency-ms` added latency (faults.rs), `--tls` HTTPS with a
//! CA made at start (tls.rs); the server (server.rs) is hyper on a multi-threaded tokio runtime.
//!
//! Files for clients (the main app's certificate as PEM and PFX, a federated token) live in a
//! private temporary folder removed when the sandbox stops (artifacts.rs).
//!
//! The running sandbox is a [`Sandbox`] (sandbox.rs) around shared state (state.rs); [`run()`]
//! (run.rs) is the `mssp-token sandbox` command.
//!
//! This crate imports nothing from the mssp-token client: a bug in the client cannot hide the
//! same bug here.

// The public face: options, the running sandbox, the command, the simulated user.
mod options;
mod run;
mod sandbox;
mod simulated_user;

// A running sandbox: shared state, the info object, the banner, the routing table.
mod banner;
mod info;
mod routes;
mod state;

// Request handlers, and what they share: Entra's errors, scopes, client assertions, token
// issuance, the HTML pages, OData $filter, the server-side store.
mod assertion;
mod errors;
mod gdap;
mod handlers;
mod issue;
mod odata;
mod pages;
mod scopes;
mod store;

// Configuration and data (tenants, apps, Defender items); keys, JWS and certificates.
mod crypto;
mod data;

// Serving: the HTTP server, the request model, TLS, faults and counters, client files, dates.
mod artifacts;
mod clock;
mod faults;
mod http;
mod server;
mod tamper;
mod tls;

#[cfg(test)]
mod tests;

pub use options::SandboxOptions;
pub use run::run;
pub use sandbox::Sandbox;
pub use simulated_user::{simulated_user_device_sign_in, simulated_user_sign_in};

/// The built-in configuration (tenants, apps, settings) as JSON: a starting point for a
/// `--config` file that changes a few settings.
pub fn builtin_config_json() -> &'static str {
    data::config::BUILTIN_JSON
}
