//! Fault injection (`--faults SPEC`, `--seed N`, `--retry-after SECS`) and the request
//! counters behind GET /sandbox/stats.
//!
//! SPEC is comma-separated `kind=fraction`; kinds: 429 (throttled, Retry-After), 500 and 503
//! (Entra-shaped `server_error` / `temporarily_unavailable`, or Defender-shaped errors on
//! /api/*), reset (the connection is closed without a response, with a TCP reset), malformed
//! (200 with truncated JSON), html (502 with an HTML error page, as a proxy in front of the
//! service would send), stall (200 headers, then the body never comes: after `stall_secs` the
//! connection is closed). Each fraction is in [0, 1], their sum at most 1. Faults hit POST token
//! requests and GET /api/* and /v1.0/* (the Graph security API, answered with the Defender
//! shapes) only, never discovery, the sign-in pages or /sandbox/*.
//!
//! Choice: the k-th eligible request (k counted from 0 across the whole server) draws
//! u = splitmix64(seed, k) in [0, 1) and gets the first kind whose cumulative fraction exceeds
//! u, in the order 429, 500, 503, reset, malformed, html, stall. With `--seed` the sequence is
//! the same on every run (so the counts for a given number of requests are too); without it
//! the seed is random.

use crate::errors::{Aadsts, Trace};
use crate::http::Resp;
use anyhow::{bail, Result};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Throttle,
    Server,
    Unavailable,
    Reset,
    Malformed,
    Html,
    Stall,
}

pub const KINDS: [Kind; 7] = [
    Kind::Throttle,
    Kind::Server,
    Kind::Unavailable,
    Kind::Reset,
    Kind::Malformed,
    Kind::Html,
    Kind::Stall,
];

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Throttle => "429",
            Kind::Server => "500",
            Kind::Unavailable => "503",
            Kind::Reset => "reset",
            Kind::Malformed => "malformed",
            Kind::Html => "html",
            Kind::Stall => "stall",
        }
    }

    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// A parsed SPEC: a fraction per kind (in KINDS order).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Spec {
    pub fractions: [f64; 7],
}

impl Spec {
    pub fn parse(spec: &str) -> Result<Spec> {
        let allowed = KINDS.map(Kind::name).join(", ");
        let mut out = Spec::default();
        let mut seen = [false; 7];
        let mut any = false;
        for part in spec.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            any = true;
            let Some((k, v)) = part.split_once('=') else {
                bail!("--faults: '{part}' is not kind=fraction (e.g. 429=0.05)");
            };
            let (k, v) = (k.trim(), v.trim());
            let Some(kind) = KINDS
                .iter()
                .copied()
                .find(|x| x.name().eq_ignore_ascii_case(k))
            else {
                bail!("--faults: '{part}': unknown kind '{k}' (kinds: {allowed})");
            };
            let f: f64 = match v.parse() {
                Ok(f) if (0.0..=1.0).contains(&f) => f,
                _ => bail!("--faults: '{part}': the fraction must be a number from 0 to 1"),
            };
            let i = kind.index();
            if seen[i] {
                bail!("--faults: '{part}': kind '{k}' is given twice");
            }
            seen[i] = true;
            out.fractions[i] = f;
        }
        if !any {
            bail!("--faults: empty; give kind=fraction pairs, e.g. 429=0.05,reset=0.01 (kinds: {allowed})");
        }
        let sum: f64 = out.fractions.iter().sum();
        if sum > 1.0 + 1e-9 {
            bail!("--faults: '{spec}': the fractions add up to {sum}, more than 1");
        }
        Ok(out)
    }

    /// {"429": 0.05, ...} with the kinds given (non-zero).
    pub fn to_json(self) -> Value {
        let mut m = Map::new();
        for k in KINDS {
            let f = self.fractions[k.index()];
            if f > 0.0 {
                m.insert(k.name().into(), json!(f));
            }
        }
        Value::Object(m)
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fault chooser.
#[derive(Debug)]
pub struct Faults {
    pub spec: Spec,
    pub seed: u64,
    next: AtomicU64,
}

impl Faults {
    pub fn new(spec: Spec, seed: u64) -> Faults {
        Faults {
            spec,
            seed,
            next: AtomicU64::new(0),
        }
    }

    /// The fault for the next eligible request, if any.
    pub fn choose(&self) -> Option<Kind> {
        let k = self.next.fetch_add(1, Ordering::Relaxed);
        self.pick(k)
    }

    /// The fault of the k-th eligible request.
    pub fn pick(&self, k: u64) -> Option<Kind> {
        let r = splitmix64(self.seed ^ splitmix64(k));
        let u = (r >> 11) as f64 / (1u64 << 53) as f64;
        let mut acc = 0.0;
        for kind in KINDS {
            acc += self.spec.fractions[kind.index()];
            if u < acc {
                return Some(kind);
            }
        }
        None
    }
}

/// What a request is, for the counters and for fault eligibility.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    Token,
    Api,
    Discovery,
    Authorize,
    Sandbox,
    Other,
}

const PATH_KINDS: [PathKind; 6] = [
    PathKind::Token,
    PathKind::Api,
    PathKind::Discovery,
    PathKind::Authorize,
    PathKind::Sandbox,
    PathKind::Other,
];

impl PathKind {
    pub fn of(path: &str) -> PathKind {
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match segs.as_slice() {
            ["sandbox", "signin"] => PathKind::Authorize,
            ["sandbox" | "sandbox-oidc", ..] => PathKind::Sandbox,
            ["api", ..] | ["v1.0", ..] => PathKind::Api,
            [_, "oauth2", "token"] | [_, "oauth2", "v2.0", "token"] => PathKind::Token,
            [_, "oauth2", "authorize"]
            | [_, "oauth2", "v2.0", "authorize"]
            | [_, "v2.0", "adminconsent"] => PathKind::Authorize,
            [_, "v2.0", ".well-known", _] | [_, ".well-known", _] | [_, "discovery", ..] => {
                PathKind::Discovery
            }
            _ => PathKind::Other,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            PathKind::Token => "token",
            PathKind::Api => "api",
            PathKind::Discovery => "discovery",
            PathKind::Authorize => "authorize",
            PathKind::Sandbox => "sandbox",
            PathKind::Other => "other",
        }
    }

    fn index(self) -> usize {
        PATH_KINDS.iter().position(|k| *k == self).unwrap_or(5)
    }

    /// Faults, added latency and tampering apply to POST token requests and GET (or HEAD)
    /// requests under /api/ (Defender) and /v1.0/ (Graph), both `PathKind::Api`.
    pub fn eligible(self, method: &str) -> bool {
        match self {
            PathKind::Token => method == "POST",
            PathKind::Api => method == "GET" || method == "HEAD",
            _ => false,
        }
    }
}

/// Counters for GET /sandbox/stats.
#[derive(Debug, Default)]
pub struct Stats {
    requests: [AtomicU64; 6],
    faults: [AtomicU64; 7],
    /// By status class: 1xx..5xx (index 1..=5).
    responses: [AtomicU64; 6],
    tokens_issued: AtomicU64,
}

impl Stats {
    pub fn request(&self, k: PathKind) {
        self.requests[k.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn fault(&self, k: Kind) {
        self.faults[k.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn response(&self, status: u16) {
        let class = usize::from(status / 100).min(5);
        self.responses[class].fetch_add(1, Ordering::Relaxed);
    }

    pub fn token_issued(&self) {
        self.tokens_issued.fetch_add(1, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn tokens_issued(&self) -> u64 {
        self.tokens_issued.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub fn faults_of(&self, k: Kind) -> u64 {
        self.faults[k.index()].load(Ordering::Relaxed)
    }

    /// {"requests": {"total", "token", "api", "discovery", "authorize", "sandbox", "other"},
    ///  "faults": {"total", "429", "500", "503", "reset", "malformed", "html", "stall"},
    ///  "responses": {"1xx".."5xx"}, "tokens_issued"}
    pub fn to_json(&self) -> Value {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut req = Map::new();
        req.insert(
            "total".into(),
            json!(self.requests.iter().map(load).sum::<u64>()),
        );
        for k in PATH_KINDS {
            req.insert(k.name().into(), json!(load(&self.requests[k.index()])));
        }
        let mut faults = Map::new();
        faults.insert(
            "total".into(),
            json!(self.faults.iter().map(load).sum::<u64>()),
        );
        for k in KINDS {
            faults.insert(k.name().into(), json!(load(&self.faults[k.index()])));
        }
        let mut resp = Map::new();
        for c in 1..=5 {
            resp.insert(format!("{c}xx"), json!(load(&self.responses[c])));
        }
        json!({
            "requests": req,
            "faults": faults,
            "responses": resp,
            "tokens_issued": load(&self.tokens_issued),
        })
    }
}

/// The response of a fault that has one (429, 500, 503, malformed, html; reset and stall are
/// handled by the server). `authority` names the sandbox in the malformed API body.
pub fn response(kind: Kind, path: PathKind, retry_after: u32, authority: &str) -> Resp {
    let api = path == PathKind::Api;
    let retry = retry_after.to_string();
    match (kind, api) {
        (Kind::Throttle, false) => entra(
            429,
            "temporarily_unavailable",
            50196,
            "The server terminated an operation because it encountered a client request loop: too many requests (simulated throttling, mssp-token sandbox --faults). Retry after the interval in the Retry-After header.",
        )
        .with_header("Retry-After", &retry),
        (Kind::Throttle, true) => defender(
            429,
            "TooManyRequests",
            "API calls quota exceeded! Maximum admitted calls reached (simulated by mssp-token sandbox --faults). Retry after the interval in the Retry-After header.",
        )
        .with_header("Retry-After", &retry),
        (Kind::Server, false) => entra(
            500,
            "server_error",
            50000,
            "There was an error issuing a token or an issue with our sign-in service (simulated by mssp-token sandbox --faults). Please try again.",
        ),
        (Kind::Server, true) => defender(
            500,
            "InternalServerError",
            "An internal server error occurred (simulated by mssp-token sandbox --faults).",
        ),
        (Kind::Unavailable, false) => entra(
            503,
            "temporarily_unavailable",
            90033,
            "A transient error has occurred: the directory service is temporarily unavailable (simulated by mssp-token sandbox --faults). Please try again.",
        )
        .with_header("Retry-After", &retry),
        (Kind::Unavailable, true) => defender(
            503,
            "ServiceUnavailable",
            "The service is temporarily unavailable (simulated by mssp-token sandbox --faults).",
        )
        .with_header("Retry-After", &retry),
        (Kind::Html, _) => Resp::html(
            502,
            "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>mssp-token sandbox (simulated proxy error)</center>\r\n</body>\r\n</html>\r\n".to_string(),
        ),
        _ => Resp::new(
            200,
            "application/json; charset=utf-8",
            truncated_body(api, authority).into_bytes(),
        ),
    }
}

/// A JSON body cut short (what a dropped upstream connection leaves behind).
pub fn truncated_body(api: bool, authority: &str) -> String {
    if api {
        format!("{{\"@odata.context\":\"{authority}/api/$metadata#Alerts\",\"value\":[{{\"id\":\"da6384")
    } else {
        "{\"token_type\":\"Bearer\",\"expires_in\":3599,\"ext_expires_in\":3599,\"access_token\":\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1Ni".to_string()
    }
}

fn entra(status: u16, error: &'static str, code: u32, message: &str) -> Resp {
    Aadsts::new(status, error, code, message).to_json(&Trace::new(None))
}

fn defender(status: u16, code: &str, message: &str) -> Resp {
    crate::handlers::defender::error(status, code, message)
}
