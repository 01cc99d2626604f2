//! What the sandbox knows and serves: its configuration (tenants, users, grants, apps), the
//! generated tenants of `--tenants N`, the tenants file of `--write-tenants`, and the simulated
//! Defender alerts and incidents, and the Graph security alerts and incidents (graph.rs).

pub(crate) mod alerts;
pub(crate) mod config;
pub(crate) mod generate;
pub(crate) mod graph;
pub(crate) mod roster;
