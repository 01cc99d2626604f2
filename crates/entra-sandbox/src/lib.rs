//! `mssp-token sandbox`: a simulated Microsoft Entra ID on loopback (v1 and v2 authorize, token,
//! discovery and keys), for rehearsal and tests. Its tokens are valid nowhere else.
//!
//! Routes (authority = http://127.0.0.1:PORT; {t} = tenant GUID or domain, or common/organizations):
//! - GET|POST /{t}/oauth2/authorize, /{t}/oauth2/v2.0/authorize: sign-in + consent page
//!   (or, with prompt=none, a silent answer); GET /{t}/v2.0/adminconsent
//! - POST /sandbox/signin: the page's form (fields request, account, action=accept|cancel)
//! - POST /{t}/oauth2/token, /{t}/oauth2/v2.0/token: authorization_code, refresh_token,
//!   client_credentials
//! - GET /{t}/v2.0/.well-known/openid-configuration, /{t}/.well-known/openid-configuration,
//!   /{t}/discovery/v2.0/keys, /{t}/discovery/keys
//! - GET /sandbox/info; POST /sandbox/revoke-consent, /sandbox/revoke-sessions (test controls)
//! - client assertions: certificate (assertion.rs) and federated (federation.rs, with the
//!   simulated OIDC issuer GET /sandbox-oidc/.well-known/openid-configuration, .../jwks, and
//!   POST /sandbox/federated-token)
//! - GET /api/alerts, /api/incidents: the Defender APIs (defender.rs, data in data.rs)
//! - GET /sandbox/stats: request, fault and token counters (faults.rs)
//!
//! At scale (issue 4): `--tenants N` generated tenants with a fixed mix of states
//! (generate.rs), `--write-tenants FILE` a tenants file for `onboard` (roster.rs), `--faults`
//! injected faults and `--latency-ms` added latency (faults.rs), `--tls` HTTPS with a CA made at
//! start (tls.rs); the server (server.rs) is hyper on a multi-threaded tokio runtime.
//!
//! Files for clients (the main app's certificate as PEM and PFX, a federated token) live in a
//! private temporary folder removed when the sandbox stops (artifacts.rs).
//!
//! This module is deliberately independent of the rest of the crate (no `crate::` imports
//! outside `sandbox`): a bug in the client cannot hide the same bug here.

mod artifacts;
mod assertion;
mod authorize;
mod certs;
mod clock;
mod config;
mod control;
mod data;
mod defender;
mod discovery;
mod errors;
mod faults;
mod federation;
mod generate;
mod http;
mod issue;
mod jws;
mod keys;
mod odata;
mod pages;
mod roster;
mod scopes;
mod server;
mod simulated_user;
mod store;
mod tls;
mod token;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_app_only;
#[cfg(test)]
mod tests_defender;
#[cfg(test)]
mod tests_scale;

pub use simulated_user::simulated_user_sign_in;

use anyhow::{anyhow, Context, Result};
use artifacts::Artifacts;
use config::Config;
use http::{Req, Resp};
use keys::{new_rsa_key, Keys};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use store::{Flow, Store, Version};

/// Options for starting a sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Port on 127.0.0.1; `None` picks a free port.
    pub port: Option<u16>,
    /// A JSON file with tenants and apps; `None` uses the built-in set.
    pub config: Option<PathBuf>,
    /// Defender API throttling: requests per minute per tenant (/api/alerts and /api/incidents
    /// together); over it, 429 with Retry-After. `None`: no limit.
    pub rate_limit: Option<u32>,
    /// `--tenants N`: N generated tenants added to the configured ones (generate.rs).
    pub generate_tenants: Option<u32>,
    /// `--write-tenants FILE`: write a tenants file for `onboard` listing every tenant (and the
    /// plain list FILE.txt) once started (roster.rs).
    pub tenants_file: Option<PathBuf>,
    /// `--faults SPEC`: e.g. "429=0.05,503=0.02,reset=0.01" (faults.rs).
    pub faults: Option<String>,
    /// `--seed N`: deterministic fault choice (default: random).
    pub fault_seed: Option<u64>,
    /// `--retry-after SECS`: the Retry-After of injected 429 and 503 (default 1).
    pub retry_after_secs: Option<u32>,
    /// How long a `stall` fault holds the body back before closing (default 40 s).
    pub stall_secs: Option<u64>,
    /// `--latency-ms N`: added to every token and Defender API response.
    pub latency_ms: Option<u64>,
    /// `--threads N`: worker threads (default max(8, 4 × available cores)).
    pub threads: Option<usize>,
    /// `--tls`: HTTPS with a CA generated at start (info's "ca_file").
    pub tls: bool,
}

/// Default Retry-After of injected faults, seconds.
const DEFAULT_RETRY_AFTER: u32 = 1;
/// Default stall of the `stall` fault, seconds.
const DEFAULT_STALL_SECS: u64 = 40;

/// Shared state of a running sandbox.
struct Inner {
    cfg: Config,
    keys: Keys,
    /// The simulated external OIDC issuer's key (federated tokens).
    oidc: Keys,
    /// cert.pem, cert.pfx, the federated token file (removed when Inner drops).
    files: Artifacts,
    /// Defender API state (throttling, generated data).
    api: defender::Api,
    /// "http://127.0.0.1:PORT"
    authority: String,
    store: Mutex<Store>,
    /// One access-log line per request on stderr (`mssp-token sandbox` only; never queries or
    /// bodies, so no code, secret or token is logged).
    log: bool,
    /// Faults, latency, counters (server.rs).
    net: server::Net,
    /// With --tls: the CA certificate (PEM) in the private folder.
    ca_file: Option<PathBuf>,
    /// With --write-tenants: the tenants file and its plain list.
    tenants_file: Option<(PathBuf, PathBuf)>,
    /// How many tenants were generated (--tenants).
    generated: u32,
}

/// The tenant segment of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum TenantSel {
    /// A configured tenant (GUID).
    Id(String),
    /// common or organizations: the signed-in account decides.
    Common,
    NotFound,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn resolve_tenant(&self, seg: &str) -> TenantSel {
        if seg.eq_ignore_ascii_case("common") || seg.eq_ignore_ascii_case("organizations") {
            return TenantSel::Common;
        }
        match self.cfg.find_tenant(seg) {
            Some(t) => TenantSel::Id(t.id.clone()),
            None => TenantSel::NotFound,
        }
    }

    fn issuer(&self, version: Version, tid: &str) -> String {
        match version {
            Version::V1 => format!("https://sts.windows.net/{tid}/"),
            Version::V2 => format!("{}/{tid}/v2.0", self.authority),
        }
    }

    fn tenant_name(&self, tid: &str) -> String {
        self.cfg
            .tenant_by_id(tid)
            .map(|t| t.name.clone())
            .unwrap_or_else(|| tid.to_string())
    }

    /// The first-line JSON object of the `sandbox` command.
    fn info(&self) -> Value {
        let store = self.lock();
        let main_app = &self.cfg.apps[0];
        let now = now();
        let tenants: Vec<Value> = self
            .cfg
            .tenants
            .iter()
            .map(|t| {
                let grant = store.grant(&t.id, &main_app.client_id);
                json!({
                    "id": t.id,
                    "domain": t.domain,
                    "name": t.name,
                    "consented": grant.is_some(),
                    "roles": grant.map(|g| g.roles.clone()).unwrap_or_default(),
                    "users": t.users.iter().map(|u| u.upn.clone()).collect::<Vec<_>>(),
                    "home_of_apps": self.cfg.apps.iter().filter(|a| a.home_tenant == t.id)
                        .map(|a| a.client_id.clone()).collect::<Vec<_>>(),
                    "generated": t.generated.is_some(),
                    "state": t.generated.map(generate::Mix::label),
                })
            })
            .collect();
        let apps: Vec<Value> = self
            .cfg
            .apps
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let live = a.secrets.iter().find(|s| !s.is_expired(now));
                let shown = live.or(a.secrets.first());
                let mut v = json!({
                    "client_id": a.client_id,
                    "client_secret": shown.map(|s| s.value.clone()),
                    "secret_expired": live.is_none() && !a.secrets.is_empty(),
                    "redirect_uris": a.redirect_uris,
                    "multi_tenant": a.multi_tenant,
                    "name": a.name,
                    "home_tenant": a.home_tenant,
                    "public_client": a.public_client,
                    "federated_credentials": a.federated_credentials.iter().map(|f| json!({
                        "name": f.name, "issuer": f.issuer, "subject": f.subject,
                        "audience": f.audience,
                    })).collect::<Vec<_>>(),
                });
                if i == 0 {
                    let f = &self.files;
                    let extra = json!({
                        "certificate_file": f.cert_pem,
                        "pfx_file": f.pfx,
                        "pfx_password": f.pfx_password,
                        "pfx_password_file": f.pfx_password_file,
                        "certificate_thumbprint_s256": f.cert.s256,
                        "certificate_thumbprint": f.cert.sha1_hex,
                        "federated_token_file": f.federated_token_file,
                        "federated_issuer": f.federated_issuer,
                        "federated_subject": f.federated_subject,
                    });
                    if let (Some(m), Value::Object(e)) = (v.as_object_mut(), extra) {
                        m.extend(e);
                    }
                }
                v
            })
            .collect();
        let net = &self.net;
        let legacy = generate::legacy_app(&self.cfg, now).map(|a| a.client_id.clone());
        json!({
            "authority": self.authority,
            "api_base": self.authority,
            "ca_file": self.ca_file,
            "tls": net.tls,
            "sandbox": true,
            "simulated": "tokens are valid nowhere else",
            "federated_token_endpoint": format!("{}/sandbox/federated-token", self.authority),
            "stats_url": format!("{}/sandbox/stats", self.authority),
            "rate_limit_per_minute": self.api.rate_limit(),
            "generated_tenants": self.generated,
            "tenant_mix": (self.generated > 0).then_some(generate::MIX_RULE),
            "legacy_client_id": legacy,
            "legacy_secret_env": generate::LEGACY_SECRET_ENV,
            "tenants_file": self.tenants_file.as_ref().map(|(f, _)| f),
            "tenants_list_file": self.tenants_file.as_ref().map(|(_, l)| l),
            "faults": net.faults.as_ref().map(|f| f.spec.to_json()),
            "fault_seed": net.faults.as_ref().map(|f| f.seed),
            "retry_after_secs": net.retry_after,
            "stall_secs": net.stall.as_secs(),
            "latency_ms": net.latency.as_millis() as u64,
            "threads": net.threads,
            "tenants": tenants,
            "apps": apps,
        })
    }
}

/// Seconds since the Unix epoch.
fn now() -> u64 {
    config::epoch(std::time::SystemTime::now())
}

/// Routes one request.
fn dispatch(inner: &Inner, req: &Req) -> Resp {
    let segs: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let get = req.method == "GET" || req.method == "HEAD";
    let either = get || req.method == "POST";
    match segs.as_slice() {
        ["sandbox", "signin"] if req.method == "POST" => authorize::signin_post(inner, req),
        ["sandbox", "info"] if get => Resp::json(200, &inner.info()),
        ["sandbox", "stats"] if get => Resp::json(200, &inner.net.stats_json()),
        ["sandbox", "revoke-consent"] if req.method == "POST" => {
            control::revoke_consent(inner, req)
        }
        ["sandbox", "revoke-sessions"] if req.method == "POST" => {
            control::revoke_sessions(inner, req)
        }
        ["sandbox", "federated-token"] if req.method == "POST" => federation::mint(inner, req),
        [federation::OIDC_PATH, ".well-known", "openid-configuration"] if get => {
            federation::openid_configuration(inner)
        }
        [federation::OIDC_PATH, ".well-known", "jwks"] if get => federation::jwks(inner),
        ["api", "alerts"] => defender::handle(inner, req, defender::Which::Alerts),
        ["api", "incidents"] => defender::handle(inner, req, defender::Which::Incidents),
        ["api", ..] => defender::error(
            404,
            "ResourceNotFound",
            "The sandbox serves only /api/alerts and /api/incidents.",
        ),
        [t, "oauth2", "authorize"] if either => {
            authorize::authorize(inner, t, Version::V1, Flow::Authorize, req)
        }
        [t, "oauth2", "v2.0", "authorize"] if either => {
            authorize::authorize(inner, t, Version::V2, Flow::Authorize, req)
        }
        [t, "v2.0", "adminconsent"] if get => {
            authorize::authorize(inner, t, Version::V2, Flow::AdminConsent, req)
        }
        [t, "oauth2", "token"] => token::token(inner, t, Version::V1, req),
        [t, "oauth2", "v2.0", "token"] => token::token(inner, t, Version::V2, req),
        [t, "v2.0", ".well-known", "openid-configuration"] if get => {
            discovery::openid_configuration(inner, t, Version::V2)
        }
        [t, ".well-known", "openid-configuration"] if get => {
            discovery::openid_configuration(inner, t, Version::V1)
        }
        [t, "discovery", "v2.0", "keys"] if get => discovery::keys(inner, t, Version::V2),
        [t, "discovery", "keys"] if get => discovery::keys(inner, t, Version::V1),
        _ => Resp::plain_error(
            404,
            "not_found",
            "The mssp-token sandbox does not serve this path.",
        ),
    }
}

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
    inner: Arc<Inner>,
    server: server::Server,
}

impl Sandbox {
    /// Binds 127.0.0.1 (the given port or a free one), starts the server, returns at once.
    pub fn start(opts: SandboxOptions) -> Result<Sandbox> {
        Sandbox::start_with(opts, false)
    }

    fn start_with(opts: SandboxOptions, log: bool) -> Result<Sandbox> {
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
        let inner = Arc::new(Inner {
            store: Mutex::new(store),
            cfg,
            keys: Keys::from_key(signing),
            oidc,
            files,
            api: defender::Api::new(opts.rate_limit, now()),
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

/// `mssp-token sandbox`: start, print the info line on stdout and a banner on stderr, serve
/// until the process is killed. On SIGINT, SIGTERM or SIGHUP (Unix) the sandbox stops cleanly,
/// removing its temporary folder, and the process exits with 128 + the signal number.
pub fn run(opts: SandboxOptions) -> Result<()> {
    stop_signal::install();
    let sb = Sandbox::start_with(opts, true)?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", sb.info()).context("cannot write to stdout")?;
    out.flush().context("cannot write to stdout")?;
    drop(out);
    eprintln!("{}", banner(&sb));
    loop {
        if let Some(sig) = stop_signal::received() {
            drop(sb);
            eprintln!("mssp-token sandbox: stopped.");
            std::process::exit(128 + sig);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// SIGINT/SIGTERM/SIGHUP set a flag (the only thing a signal handler may safely do); `run`
/// polls it so that the sandbox is dropped normally.
mod stop_signal {
    use std::sync::atomic::{AtomicI32, Ordering};

    static RECEIVED: AtomicI32 = AtomicI32::new(0);

    #[cfg(unix)]
    extern "C" fn on_signal(sig: libc::c_int) {
        RECEIVED.store(sig, Ordering::SeqCst);
    }

    pub fn install() {
        #[cfg(unix)]
        for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            let handler: extern "C" fn(libc::c_int) = on_signal;
            // SAFETY: the handler only stores into an atomic, which is async-signal-safe.
            unsafe {
                libc::signal(sig, handler as libc::sighandler_t);
            }
        }
    }

    pub fn received() -> Option<i32> {
        match RECEIVED.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}

fn banner(sb: &Sandbox) -> String {
    let inner = &sb.inner;
    let (client_id, secret) = sb.default_app();
    let (tid, domain) = sb.default_tenant();
    let info = sb.info();
    let mut s = String::new();
    s.push_str("mssp-token sandbox: a SIMULATED Microsoft Entra ID on loopback\n");
    s.push_str(
        "  simulated: tokens are valid nowhere else (own signing key, regenerated at each start)\n",
    );
    s.push_str(&format!("  authority   {}\n", inner.authority));
    s.push_str("  tenants\n");
    for t in info["tenants"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["generated"] != true)
    {
        let roles: Vec<&str> = t["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.as_str())
            .collect();
        let users: Vec<&str> = t["users"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str())
            .collect();
        s.push_str(&format!(
            "    {:<18} {} {:<32} {}  users: {}\n",
            t["name"].as_str().unwrap_or(""),
            t["id"].as_str().unwrap_or(""),
            t["domain"].as_str().unwrap_or(""),
            if t["consented"].as_bool() == Some(true) {
                format!("consented, roles [{}]", roles.join(", "))
            } else {
                "NOT consented".to_string()
            },
            users.join(", ")
        ));
    }
    if inner.generated > 0 {
        let n = inner.generated;
        s.push_str(&format!(
            "    + {n} generated tenants: {} ... {} (Tenant 00001 ...; admin@<domain>)\n      mix: {}\n",
            generate::domain(1),
            generate::domain(n),
            generate::MIX_RULE
        ));
    }
    s.push_str("  apps\n");
    for a in &inner.cfg.apps {
        let n = now();
        let expired = !a.secrets.is_empty() && a.secrets.iter().all(|x| x.is_expired(n));
        s.push_str(&format!(
            "    {} ({}{})\n      client id     {}\n      client secret {}{}\n      redirect URIs {}\n",
            a.name,
            if a.multi_tenant { "multi-tenant" } else { "single-tenant" },
            if a.public_client { ", public client" } else { "" },
            a.client_id,
            a.secrets.first().map(|x| x.value.as_str()).unwrap_or("(none)"),
            if expired { "  (EXPIRED)" } else { "" },
            a.redirect_uris.join(" ")
        ));
    }
    let f = &inner.files;
    s.push_str(&format!(
        "  main app certificate  {} (PEM: certificate + key)\n                        {} (PFX, password {})\n                        thumbprint {} (x5t#S256 {})\n",
        f.cert_pem.display(),
        f.pfx.display(),
        f.pfx_password,
        f.cert.sha1_hex,
        f.cert.s256
    ));
    s.push_str(&format!(
        "  federated token       {} (issuer {}, subject {}; more from POST {}/sandbox/federated-token)\n",
        f.federated_token_file.display(),
        f.federated_issuer,
        f.federated_subject,
        inner.authority
    ));
    s.push_str(&format!(
        "  Defender API          {}/api/alerts, {}/api/incidents{}\n",
        inner.authority,
        inner.authority,
        inner
            .api
            .rate_limit()
            .map(|n| format!(" ({n} requests per minute per tenant)"))
            .unwrap_or_default()
    ));
    s.push_str(&format!(
        "  try: AZURE_CLIENT_SECRET='{secret}' mssp-token token --authority {} --tenant {domain} --client-id {client_id} --scope https://api.securitycenter.microsoft.com/.default\n",
        inner.authority
    ));
    s.push_str(&format!(
        "       mssp-token token --authority {} --tenant {domain} --client-id {client_id} --certificate {}\n",
        inner.authority,
        f.cert_pem.display()
    ));
    s.push_str(&format!(
        "       mssp-token token --authority {} --tenant {domain} --client-id {client_id} --federated-token-file {}\n",
        inner.authority,
        f.federated_token_file.display()
    ));
    s.push_str(&format!("  main tenant: {domain} ({tid})\n"));
    if let Some(ca) = &inner.ca_file {
        s.push_str(&format!(
            "  TLS: trust the sandbox CA {} (--ca-file, curl --cacert, MSAL verify=)\n",
            ca.display()
        ));
    }
    if let Some((f, l)) = &inner.tenants_file {
        s.push_str(&format!(
            "  tenants file          {} (plain list {}); legacy-app tenants read ${}\n",
            f.display(),
            l.display(),
            generate::LEGACY_SECRET_ENV
        ));
    }
    let net = &inner.net;
    if let Some(f) = &net.faults {
        s.push_str(&format!(
            "  faults                {} (seed {}, Retry-After {} s, stall {} s)\n",
            f.spec.to_json(),
            f.seed,
            net.retry_after,
            net.stall.as_secs()
        ));
    }
    if !net.latency.is_zero() {
        s.push_str(&format!(
            "  latency               +{} ms on token and API responses\n",
            net.latency.as_millis()
        ));
    }
    s.push_str(&format!(
        "  server                {} worker threads; counters at {}/sandbox/stats\n",
        net.threads, inner.authority
    ));
    s.push_str("  Ctrl-C to stop.");
    s
}
