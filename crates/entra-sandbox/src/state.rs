//! The shared state of a running sandbox ([`Inner`], behind an `Arc` in the server and in every
//! handler), how a path's tenant segment is resolved, issuers, and the clock.

use crate::artifacts::Artifacts;
use crate::crypto::keys::Keys;
use crate::data::config::{self, Config};
use crate::handlers::{defender, graph};
use crate::server;
use crate::store::{Store, Version};
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// Shared state of a running sandbox.
pub(crate) struct Inner {
    pub(crate) cfg: Config,
    pub(crate) keys: Keys,
    /// The simulated external OIDC issuer's key (federated tokens).
    pub(crate) oidc: Keys,
    /// cert.pem, cert.pfx, the federated token file (removed when Inner drops).
    pub(crate) files: Artifacts,
    /// Defender API state (throttling, generated data).
    pub(crate) api: defender::Api,
    /// Graph security API state (throttling, data that changes on demand).
    pub(crate) graph: graph::Graph,
    /// "http://127.0.0.1:PORT"
    pub(crate) authority: String,
    pub(crate) store: Mutex<Store>,
    /// One access-log line per request on stderr (`mssp-token sandbox` only; never queries or
    /// bodies, so no code, secret or token is logged).
    pub(crate) log: bool,
    /// Faults, latency, counters (server.rs).
    pub(crate) net: server::Net,
    /// With --tls: the CA certificate (PEM) in the private folder.
    pub(crate) ca_file: Option<PathBuf>,
    /// With --write-tenants: the tenants file and its plain list.
    pub(crate) tenants_file: Option<(PathBuf, PathBuf)>,
    /// How many tenants were generated (--tenants).
    pub(crate) generated: u32,
}

/// The tenant segment of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TenantSel {
    /// A configured tenant (GUID).
    Id(String),
    /// common or organizations: the signed-in account decides.
    Common,
    NotFound,
}

impl Inner {
    pub(crate) fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn resolve_tenant(&self, seg: &str) -> TenantSel {
        if seg.eq_ignore_ascii_case("common") || seg.eq_ignore_ascii_case("organizations") {
            return TenantSel::Common;
        }
        match self.cfg.find_tenant(seg) {
            Some(t) => TenantSel::Id(t.id.clone()),
            None => TenantSel::NotFound,
        }
    }

    pub(crate) fn issuer(&self, version: Version, tid: &str) -> String {
        match version {
            Version::V1 => format!("https://sts.windows.net/{tid}/"),
            Version::V2 => format!("{}/{tid}/v2.0", self.authority),
        }
    }

    pub(crate) fn tenant_name(&self, tid: &str) -> String {
        self.cfg
            .tenant_by_id(tid)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| tid.to_string())
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn now() -> u64 {
    config::epoch(std::time::SystemTime::now())
}
