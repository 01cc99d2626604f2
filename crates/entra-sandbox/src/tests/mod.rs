//! Unit tests of the sandbox, by area; compiled only for `cargo test`.
//!
//! - support.rs: shared helpers (a sandbox, an HTTP client, sign-in, token requests, claims)
//! - endpoints.rs: authorize, token, discovery and the test controls end to end, plus
//!   dispatch-level checks for inputs a real client would never send
//! - app_only.rs: certificate and federated client assertions, app-only claims, admin consent
//! - defender.rs: the Defender APIs end to end
//! - graph.rs: the Microsoft Graph security API end to end (alerts_v2, incidents, touch)
//! - devicecode.rs: the device code flow (v1, v2), its page, polls, Conditional Access, expiry
//! - scale.rs: generated tenants, the tenants file, faults and counters, latency, TLS
//! - tamper.rs: hostile answers on demand (replaced, echoed, amended)
//! - partner.rs: GDAP partner redemption in customer tenants (gdap.rs)

mod app_only;
mod defender;
mod devicecode;
mod endpoints;
mod graph;
mod partner;
mod scale;
mod support;
mod tamper;
