//! The Defender APIs, served by the sandbox itself (api_base = the authority):
//! GET /api/alerts (Defender for Endpoint) and GET /api/incidents (Defender XDR).
//!
//! Authentication: `Authorization: Bearer <JWT>` signed by this sandbox (RS256, its kid), not
//! expired (nbf up to 5 minutes ahead tolerated), `iss` the v1 or v2 issuer of the token's `tid`
//! (a configured tenant), `aud`:
//! - /api/alerts: https://api.securitycenter.microsoft.com, or the same API's other names
//!   https://securitycenter.onmicrosoft.com/windowsatpservice and fc780465-2017-40d4-a0c5-307022471b92;
//! - /api/incidents: https://api.security.microsoft.com or https://api.securitycenter.microsoft.com
//!   (or 8ee8fdad-f234-4243-8f3b-15c294843740).
//!
//! Failures: 401 {"error":{"code":"Unauthorized",...}} with `WWW-Authenticate: Bearer ...`.
//! Permissions: app tokens need `roles` Alert.Read.All or Alert.ReadWrite.All (alerts),
//! Incident.Read.All or Incident.ReadWrite.All (incidents); delegated tokens (`scp`, e.g. from
//! `login --scope https://api.securitycenter.microsoft.com/Alert.Read`) need Alert.Read or
//! Alert.ReadWrite (Incident.Read or Incident.ReadWrite); else 403 Forbidden. The built-in app's
//! default delegated permission is only user_impersonation, so a plain v1 login token gets 403.
//!
//! Data: the token's tenant's items (data/alerts.rs). Query: `$top` (alerts: default and max 10000;
//! incidents: default and max 100; more is 400), `$skip`, `$filter` (odata.rs) on
//! lastUpdateTime / alertCreationTime (alerts) or lastUpdateTime / createdTime (incidents);
//! other query options (e.g. $expand) are ignored. `@odata.nextLink` when more items remain.
//! Optional throttling (SandboxOptions::rate_limit): N requests per minute per tenant, then 429
//! with Retry-After. Errors: {"error":{"code","message","target":<guid>}}.

use crate::crypto::keys::guid;
use crate::data::alerts::{self, TenantData};
use crate::http::{Req, Resp};
use crate::odata;
use crate::state::{now, Inner, TenantSel};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const SKEW: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Alerts,
    Incidents,
}

struct Spec {
    path: &'static str,
    context: &'static str,
    audiences: &'static [&'static str],
    app_roles: &'static [&'static str],
    delegated: &'static [&'static str],
    fields: [&'static str; 2],
    max_top: usize,
}

const ALERTS: Spec = Spec {
    path: "/api/alerts",
    context: "Alerts",
    audiences: &[
        "https://api.securitycenter.microsoft.com",
        "https://securitycenter.onmicrosoft.com/windowsatpservice",
        "fc780465-2017-40d4-a0c5-307022471b92",
    ],
    app_roles: &["Alert.ReadWrite.All", "Alert.Read.All"],
    delegated: &["Alert.ReadWrite", "Alert.Read"],
    fields: ["lastUpdateTime", "alertCreationTime"],
    max_top: 10_000,
};

const INCIDENTS: Spec = Spec {
    path: "/api/incidents",
    context: "Incidents",
    audiences: &[
        "https://api.security.microsoft.com",
        "https://api.securitycenter.microsoft.com",
        "8ee8fdad-f234-4243-8f3b-15c294843740",
    ],
    app_roles: &["Incident.ReadWrite.All", "Incident.Read.All"],
    delegated: &["Incident.ReadWrite", "Incident.Read"],
    fields: ["lastUpdateTime", "createdTime"],
    max_top: 100,
};

/// Throttling windows and generated data, per tenant.
pub struct Api {
    rate_limit: Option<u32>,
    /// Generated items are dated relative to this (Unix ms, the sandbox's start to the minute).
    anchor_ms: i64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// tenant -> (window start, requests in it)
    windows: HashMap<String, (u64, u32)>,
    data: HashMap<String, Arc<TenantData>>,
}

impl Api {
    pub fn new(rate_limit: Option<u32>, start: u64) -> Api {
        Api {
            rate_limit,
            anchor_ms: (start / 60 * 60) as i64 * 1000,
            state: Mutex::new(State::default()),
        }
    }

    pub fn rate_limit(&self) -> Option<u32> {
        self.rate_limit
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a request; `Some(retry_after_secs)` when over the limit.
    fn throttle(&self, tid: &str, now: u64) -> Option<u64> {
        let limit = self.rate_limit?;
        let mut st = self.lock();
        let w = st.windows.entry(tid.to_string()).or_insert((now, 0));
        if now >= w.0 + 60 {
            *w = (now, 0);
        }
        if w.1 >= limit {
            return Some((w.0 + 60).saturating_sub(now).max(1));
        }
        w.1 += 1;
        None
    }

    /// The tenant's items, generated on first use (outside the lock: with thousands of
    /// tenants, first calls for different tenants must not queue behind each other).
    fn data(&self, tid: &str, domain: &str) -> Arc<TenantData> {
        if let Some(d) = self.lock().data.get(tid) {
            return d.clone();
        }
        let fresh = Arc::new(alerts::generate(tid, domain, self.anchor_ms));
        self.lock()
            .data
            .entry(tid.to_string())
            .or_insert(fresh)
            .clone()
    }
}

/// {"error":{"code","message","target"}}
pub fn error(status: u16, code: &str, message: &str) -> Resp {
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message, "target": guid()}}),
    )
}

fn unauthorized(message: &str, invalid: bool) -> Resp {
    let challenge = if invalid {
        "Bearer error=\"invalid_token\""
    } else {
        "Bearer"
    };
    error(401, "Unauthorized", message).with_header("WWW-Authenticate", challenge)
}

pub fn handle(inner: &Inner, req: &Req, which: Which) -> Resp {
    let spec = match which {
        Which::Alerts => &ALERTS,
        Which::Incidents => &INCIDENTS,
    };
    if req.method != "GET" && req.method != "HEAD" {
        return error(
            405,
            "MethodNotAllowed",
            &format!("The sandbox serves only GET {}.", spec.path),
        );
    }
    let claims = match authenticate(inner, req, spec) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tid = claims["tid"].as_str().unwrap_or_default().to_string();
    if let Some(secs) = inner.api.throttle(&tid, now()) {
        let limit = inner.api.rate_limit.unwrap_or(0);
        return error(
            429,
            "TooManyRequests",
            &format!("API calls quota exceeded! Maximum admitted {limit} per 1m."),
        )
        .with_header("Retry-After", &secs.to_string());
    }
    if let Err(r) = authorize(&claims, spec) {
        return r;
    }
    list(inner, req, spec, &tid)
}

/// The bearer token's claims, or the 401.
fn authenticate(inner: &Inner, req: &Req, spec: &Spec) -> Result<Value, Resp> {
    let Some(h) = req.header("authorization") else {
        return Err(unauthorized(
            "Authorization header is missing: send 'Authorization: Bearer <access token>'.",
            false,
        ));
    };
    let token = h
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .and_then(|_| h.get(7..))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("The Authorization header is not 'Bearer <token>'.", false))?;
    let jws = inner.keys.verify_jwt(token).ok_or_else(|| {
        unauthorized(
            "The access token is invalid: it is not a JWT signed by this sandbox (a token from another sandbox run, or from real Entra ID, is not accepted).",
            true,
        )
    })?;
    let now = now() as i64;
    match jws.claim_time("exp") {
        Some(exp) if now < exp => {}
        _ => return Err(unauthorized("The access token has expired.", true)),
    }
    if jws.claim_time("nbf").is_some_and(|n| n > now + SKEW) {
        return Err(unauthorized(
            "The access token is not valid yet (nbf).",
            true,
        ));
    }
    let tid = jws.claim_str("tid").unwrap_or_default();
    let known = matches!(inner.resolve_tenant(tid), TenantSel::Id(t) if t == tid);
    let iss = jws.claim_str("iss").unwrap_or_default();
    let issuers = [
        inner.issuer(crate::store::Version::V1, tid),
        inner.issuer(crate::store::Version::V2, tid),
    ];
    if !known || !issuers.iter().any(|i| i == iss) {
        return Err(unauthorized(
            "The access token's issuer or tenant (iss, tid) is not one of this sandbox's tenants.",
            true,
        ));
    }
    let auds = jws.audiences();
    let ok = auds.iter().any(|a| {
        let a = a.trim_end_matches('/');
        spec.audiences.iter().any(|x| a.eq_ignore_ascii_case(x))
    });
    if !ok {
        return Err(unauthorized(
            &format!(
                "The access token's audience '{}' is not valid for {}: request a token for {} (v2 scope {}/.default).",
                auds.join(", ").chars().take(200).collect::<String>(),
                spec.path,
                spec.audiences[0],
                spec.audiences[0]
            ),
            true,
        ));
    }
    Ok(Value::Object(jws.claims))
}

/// roles (application) or scp (delegated) must hold one of the API's permissions.
fn authorize(claims: &Value, spec: &Spec) -> Result<(), Resp> {
    let roles: Vec<&str> = claims["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let scp: Vec<&str> = claims["scp"]
        .as_str()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let has = |have: &[&str], want: &[&str]| {
        have.iter()
            .any(|h| want.iter().any(|w| h.eq_ignore_ascii_case(w)))
    };
    if has(&roles, spec.app_roles) || has(&scp, spec.delegated) {
        return Ok(());
    }
    let msg = if claims.get("scp").is_some() {
        format!(
            "The user token does not have any of the required delegated permissions ({}) to access the resource.",
            spec.delegated.join(", ")
        )
    } else {
        format!(
            "The application does not have any of the required application permissions ({}) to access the resource.",
            spec.app_roles.join(", ")
        )
    };
    Err(error(403, "Forbidden", &msg))
}

fn list(inner: &Inner, req: &Req, spec: &Spec, tid: &str) -> Resp {
    let q = req.query_params();
    let bad = |m: &str| error(400, "InvalidRequest", m);
    let top = match q.get("$top").map(|v| v.trim().parse::<usize>()) {
        None => spec.max_top,
        Some(Ok(n)) if n <= spec.max_top => n,
        Some(_) => {
            return bad(&format!(
                "Invalid $top: it must be a whole number from 0 to {}.",
                spec.max_top
            ))
        }
    };
    let skip = match q.get("$skip").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) => n,
        Some(Err(_)) => return bad("Invalid $skip: it must be a whole number."),
    };
    let raw_filter = q.get("$filter");
    let clauses = match raw_filter.map(|f| odata::parse(f, &spec.fields)) {
        None => Vec::new(),
        Some(Ok(c)) => c,
        Some(Err(m)) => return bad(&m),
    };
    let domain = inner
        .cfg
        .tenant_by_id(tid)
        .map(|t| t.domain.clone())
        .unwrap_or_default();
    let data = inner.api.data(tid, &domain);
    let items = match spec.context {
        "Alerts" => &data.alerts,
        _ => &data.incidents,
    };
    let matching: Vec<&Value> = items
        .iter()
        .filter(|it| {
            clauses.iter().all(|c| {
                let t = if c.field == 0 { it.updated } else { it.created };
                c.matches(t)
            })
        })
        .map(|it| &it.json)
        .collect();
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(top)
        .map(|v| (*v).clone())
        .collect();
    let base = &inner.authority;
    let mut body = json!({
        "@odata.context": format!("{base}/api/$metadata#{}", spec.context),
        "value": page,
    });
    let next = skip.saturating_add(top);
    if top > 0 && next < matching.len() {
        let mut link = format!("{base}{}?$top={top}&$skip={next}", spec.path);
        if let Some(f) = raw_filter {
            let enc: String = url::form_urlencoded::byte_serialize(f.as_bytes()).collect();
            link.push_str(&format!("&$filter={}", enc.replace('+', "%20")));
        }
        body["@odata.nextLink"] = link.into();
    }
    Resp::json(200, &body)
}
