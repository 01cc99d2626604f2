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
mod federation;
mod http;
mod issue;
mod jws;
mod keys;
mod odata;
mod pages;
mod scopes;
mod simulated_user;
mod store;
mod token;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_app_only;
#[cfg(test)]
mod tests_defender;

pub use simulated_user::simulated_user_sign_in;

use anyhow::{anyhow, Context, Result};
use artifacts::Artifacts;
use config::Config;
use http::{Req, Resp, MAX_BODY, MAX_URL};
use keys::{new_rsa_key, Keys};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;
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
}

const WORKERS: usize = 4;

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
        json!({
            "authority": self.authority,
            "api_base": self.authority,
            "ca_file": null,
            "sandbox": true,
            "simulated": "tokens are valid nowhere else",
            "federated_token_endpoint": format!("{}/sandbox/federated-token", self.authority),
            "rate_limit_per_minute": self.api.rate_limit(),
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

/// Reads a tiny_http request (bounded), dispatches it (a panic becomes a 500), answers.
fn serve(inner: &Inner, mut rq: tiny_http::Request) {
    let target = rq.url().to_string();
    let method = rq.method().as_str().to_string();
    let resp = if target.len() > MAX_URL {
        Resp::plain_error(414, "uri_too_long", "The request URL is too long.")
    } else if rq.body_length().is_some_and(|n| n > MAX_BODY) {
        Resp::plain_error(413, "payload_too_large", "The request body is too large.")
    } else {
        let mut body = Vec::new();
        match rq
            .as_reader()
            .take(MAX_BODY as u64 + 1)
            .read_to_end(&mut body)
        {
            Err(_) => Resp::plain_error(400, "bad_request", "The request body could not be read."),
            Ok(n) if n > MAX_BODY => {
                Resp::plain_error(413, "payload_too_large", "The request body is too large.")
            }
            Ok(_) => {
                let headers = rq
                    .headers()
                    .iter()
                    .map(|h| {
                        (
                            h.field.as_str().as_str().to_string(),
                            h.value.as_str().to_string(),
                        )
                    })
                    .collect();
                let req = Req::new(&method, &target, headers, body);
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| dispatch(inner, &req)))
                    .unwrap_or_else(|_| {
                        Resp::plain_error(500, "server_error", "The sandbox hit an internal error.")
                    })
            }
        }
    };
    if inner.log {
        let path = target.split('?').next().unwrap_or("");
        eprintln!("sandbox: {method} {path} -> {}", resp.status);
    }
    let _ = rq.respond(to_tiny(resp));
}

fn to_tiny(resp: Resp) -> tiny_http::Response<std::io::Cursor<Vec<u8>>> {
    let mut headers = Vec::new();
    for (k, v) in &resp.headers {
        match tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            Ok(h) => headers.push(h),
            Err(()) => return tiny_http::Response::from_data(
                b"{\"error\":\"server_error\",\"error_description\":\"invalid response header\"}"
                    .to_vec(),
            )
            .with_status_code(500),
        }
    }
    let mut r = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
    for h in headers {
        r.add_header(h);
    }
    r
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

/// A running sandbox. Dropping it stops the worker threads and removes its temporary folder.
pub struct Sandbox {
    inner: Arc<Inner>,
    server: Arc<tiny_http::Server>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl Sandbox {
    /// Binds 127.0.0.1 (the given port or a free one), starts the workers, returns at once.
    pub fn start(opts: SandboxOptions) -> Result<Sandbox> {
        Sandbox::start_with(opts, false)
    }

    fn start_with(opts: SandboxOptions, log: bool) -> Result<Sandbox> {
        let mut cfg = match &opts.config {
            Some(p) => Config::load(p)?,
            None => Config::builtin(),
        };
        let addr = format!("127.0.0.1:{}", opts.port.unwrap_or(0));
        let server = tiny_http::Server::http(&addr)
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let port = server
            .server_addr()
            .to_ip()
            .map(|a| a.port())
            .context("the sandbox listener has no IP address")?;
        let authority = format!("http://127.0.0.1:{port}");
        cfg.set_authority(&authority);
        let (signing, cert_key, oidc_key) = three_keys()?;
        let oidc = Keys::from_key(oidc_key);
        let subject = federation::main_subject(&cfg.apps[0], &authority);
        let files = Artifacts::create(&cert_key, &oidc, &authority, &subject, now() as i64)?;
        cfg.apps[0].certs.push(files.cert.clone());
        let inner = Arc::new(Inner {
            store: Mutex::new(Store::new(&cfg)),
            cfg,
            keys: Keys::from_key(signing),
            oidc,
            files,
            api: defender::Api::new(opts.rate_limit, now()),
            authority,
            log,
        });
        let server = Arc::new(server);
        let stop = Arc::new(AtomicBool::new(false));
        let mut workers = Vec::new();
        for i in 0..WORKERS {
            let (inner, server, stop) = (inner.clone(), server.clone(), stop.clone());
            let w = std::thread::Builder::new()
                .name(format!("sandbox-{i}"))
                .spawn(move || {
                    while !stop.load(Ordering::SeqCst) {
                        match server.recv_timeout(Duration::from_millis(100)) {
                            Ok(Some(rq)) => serve(&inner, rq),
                            Ok(None) => {}
                            Err(_) => std::thread::sleep(Duration::from_millis(50)),
                        }
                    }
                })
                .context("cannot start a sandbox worker thread")?;
            workers.push(w);
        }
        Ok(Sandbox {
            inner,
            server,
            stop,
            workers,
        })
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
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
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
    for t in info["tenants"].as_array().into_iter().flatten() {
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
    s.push_str("  Ctrl-C to stop.");
    s
}
