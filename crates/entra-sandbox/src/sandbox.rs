//! [`Sandbox`]: a running sandbox. Starting one reads or builds the configuration, binds the
//! port, makes the keys and the client files, and spawns the server; dropping it stops them.

use crate::artifacts::Artifacts;
use crate::crypto::keys::{new_rsa_key, Keys};
use crate::data::config::Config;
use crate::data::{generate, roster};
use crate::faults;
use crate::handlers::{defender, federation, graph};
use crate::options::{SandboxOptions, DEFAULT_RETRY_AFTER, DEFAULT_STALL_SECS};
use crate::server;
use crate::state::{now, Inner};
use crate::store::Store;
use crate::tls;
use anyhow::{anyhow, Context, Result};
use rsa::RsaPrivateKey;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Three RSA-2048 keys (token signing, the main app's certificate, the OIDC issuer), made in
/// parallel to keep startup short.
fn three_keys() -> Result<(RsaPrivateKey, RsaPrivateKey, RsaPrivateKey)> {
    std::thread::scope(|s| {
        let a = s.spawn(new_rsa_key);
        let b = s.spawn(new_rsa_key);
        let c = new_rsa_key()?;
        let join = |h: std::thread::ScopedJoinHandle<'_, Result<RsaPrivateKey>>| {
            h.join()
                .unwrap_or_else(|_| Err(anyhow!("RSA key generation failed")))
        };
        Ok((join(a)?, join(b)?, c))
    })
}

/// A running sandbox. Dropping it stops the server (and waits for it) and removes its
/// temporary folder.
pub struct Sandbox {
    pub(crate) inner: Arc<Inner>,
    server: server::Server,
}

impl Sandbox {
    /// Binds 127.0.0.1 (the given port or a free one), starts the server, returns at once.
    pub fn start(opts: SandboxOptions) -> Result<Sandbox> {
        Sandbox::start_with(opts, false)
    }

    pub(crate) fn start_with(opts: SandboxOptions, log: bool) -> Result<Sandbox> {
        let mut cfg = match &opts.config {
            Some(p) => Config::load(p)?,
            None => Config::builtin(),
        };
        let generated = opts.generate_tenants.unwrap_or(0);
        generate::add(&mut cfg, generated, now())?;
        let faults = match &opts.faults {
            None => None,
            Some(spec) => Some(faults::Faults::new(
                faults::Spec::parse(spec)?,
                opts.fault_seed
                    .unwrap_or_else(|| rand::Rng::gen(&mut rand::thread_rng())),
            )),
        };
        let threads = match opts.threads {
            Some(0) => anyhow::bail!("--threads: at least 1"),
            Some(n) => n,
            None => server::default_threads(),
        };
        let addr = format!("127.0.0.1:{}", opts.port.unwrap_or(0));
        let listener = std::net::TcpListener::bind(&addr)
            .map_err(|e| anyhow!("cannot listen on {addr}: {e}"))?;
        let port = listener
            .local_addr()
            .map(|a| a.port())
            .context("the sandbox listener has no address")?;
        let scheme = if opts.tls { "https" } else { "http" };
        let authority = format!("{scheme}://127.0.0.1:{port}");
        cfg.set_authority(&authority);
        let tls = opts.tls.then(|| tls::generate(now())).transpose()?;
        let (signing, cert_key, oidc_key) = three_keys()?;
        let oidc = Keys::from_key(oidc_key);
        let subject = federation::main_subject(&cfg.apps[0], &authority);
        let files = Artifacts::create(&cert_key, &oidc, &authority, &subject, now() as i64)?;
        cfg.apps[0].certs.push(files.cert.clone());
        let ca_file = match &tls {
            Some(t) => Some(files.add_file("ca.pem", t.ca_pem.as_bytes())?),
            None => None,
        };
        let store = Store::new(&cfg);
        let tenants_file = match &opts.tenants_file {
            Some(path) => {
                let list = roster::write(path, &cfg, &store, now())?;
                Some((path.clone(), list))
            }
            None => None,
        };
        let graph = graph::Graph::new(
            cfg.graph_alerts_per_tenant,
            cfg.graph_requests_per_minute,
            now(),
        );
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            cfg,
            keys: Keys::from_key(signing),
            oidc,
            files,
            api: defender::Api::new(opts.rate_limit, now()),
            graph,
            authority,
            log,
            net: server::Net {
                faults,
                stats: faults::Stats::default(),
                latency: Duration::from_millis(opts.latency_ms.unwrap_or(0)),
                retry_after: opts.retry_after_secs.unwrap_or(DEFAULT_RETRY_AFTER),
                stall: Duration::from_secs(opts.stall_secs.unwrap_or(DEFAULT_STALL_SECS)),
                threads,
                tls: opts.tls,
                started: Instant::now(),
                tampers: Default::default(),
            },
            ca_file,
            tenants_file,
            generated,
        });
        let server =
            server::Server::spawn(inner.clone(), listener, threads, tls.map(|t| t.config))?;
        Ok(Sandbox { inner, server })
    }

    /// "http://127.0.0.1:PORT" (no trailing slash).
    pub fn authority(&self) -> String {
        self.inner.authority.clone()
    }

    /// The first-line JSON object of `mssp-token sandbox`.
    pub fn info(&self) -> Value {
        self.inner.info()
    }

    /// Queues a tamper spec: the next matching answers are replaced or amended (tamper.rs has
    /// the spec; POST /sandbox/tamper takes the same JSON). Returns the queue's length.
    pub fn tamper(&self, spec: &Value) -> anyhow::Result<usize> {
        self.inner.net.tampers.push(spec)
    }

    /// The main multi-tenant app: (client_id, client_secret).
    pub fn default_app(&self) -> (String, String) {
        let a = &self.inner.cfg.apps[0];
        let n = now();
        let secret = a
            .secrets
            .iter()
            .find(|s| !s.is_expired(n))
            .or(a.secrets.first())
            .map(|s| s.value.clone())
            .unwrap_or_default();
        (a.client_id.clone(), secret)
    }

    /// The main consented tenant: (GUID, domain) — the first tenant, other than the app's home,
    /// where the main app is consented.
    pub fn default_tenant(&self) -> (String, String) {
        let cfg = &self.inner.cfg;
        let app = &cfg.apps[0];
        let store = self.inner.lock();
        let t = cfg
            .tenants
            .iter()
            .find(|t| t.id != app.home_tenant && store.grant(&t.id, &app.client_id).is_some())
            .unwrap_or(&cfg.tenants[0]);
        (t.id.clone(), t.domain.clone())
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.server.stop();
    }
}
