//! Request handlers: plain functions from the shared state and a request ([`crate::http::Req`])
//! to a response, one file per concern. routes.rs decides which one answers a path.
//!
//! - authorize.rs: the authorize endpoints (v1, v2), v2 admin consent, the sign-in form's POST
//! - token.rs: the token endpoints (v1, v2): authorization_code, refresh_token, client_credentials
//! - discovery.rs: OpenID discovery documents and the JWKS
//! - federation.rs: the simulated external OIDC issuer and federated client assertions
//! - defender.rs: the Defender APIs (/api/alerts, /api/incidents)
//! - graph.rs: the Microsoft Graph security API (/v1.0/security/alerts_v2, /v1.0/security/incidents)
//!   and its test control POST /sandbox/graph/touch
//! - control.rs: sandbox-only test controls (revoke consent, revoke sessions)
//! - devicecode.rs: the device code endpoints (v1, v2), the code-entry page and its sign-in,
//!   and the token endpoint's device_code polls

pub(crate) mod authorize;
pub(crate) mod control;
pub(crate) mod defender;
pub(crate) mod devicecode;
pub(crate) mod discovery;
pub(crate) mod federation;
pub(crate) mod graph;
pub(crate) mod token;
