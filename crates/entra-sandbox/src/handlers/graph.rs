//! The Microsoft Graph security API, served by the sandbox on its own port:
//! GET /v1.0/security/alerts_v2 and GET /v1.0/security/incidents (`$expand=alerts`), plus the
//! test control POST /sandbox/graph/touch.
//!
//! Authentication as in defender.rs (a JWT signed by this sandbox, not expired, iss of a
//! configured tenant), with `aud` a Microsoft Graph audience: https://graph.microsoft.com (also
//! the national clouds' https://graph.microsoft.us, https://dod-graph.microsoft.us,
//! https://microsoftgraph.chinacloudapi.cn: the sandbox stands in for every cloud's Graph) or
//! Graph's app id 00000003-0000-0000-c000-000000000000. Otherwise 401
//! InvalidAuthenticationToken. Permissions: `roles` (or `scp`) SecurityAlert.Read.All or
//! SecurityAlert.ReadWrite.All (alerts), SecurityIncident.Read.All or
//! SecurityIncident.ReadWrite.All (incidents); else 403 Forbidden. Graph tokens get those roles
//! from the grant's Defender roles ([`token_roles`]: Alert.Read.All -> SecurityAlert.Read.All,
//! Incident.Read.All -> SecurityIncident.Read.All), or from a grant that names them.
//!
//! Errors: {"error":{"code","message","innerError":{"date","request-id","client-request-id"}}}
//! (client-request-id echoes the request's header), with `request-id` / `client-request-id`
//! response headers.
//!
//! Query: `$filter` on lastUpdateDateTime / createdDateTime (ge, gt, le, lt, two joined by
//! `and`; odata.rs), `$orderby` lastUpdateDateTime or createdDateTime, asc (default) or desc
//! (none: createdDateTime asc), ties broken by id; `$top` a whole number from 1 (0, negative or
//! not a number: 400), default and maximum `graph_max_top` (config, default 1000, Graph's): a
//! larger `$top` is clamped to it, the page then ends with @odata.nextLink when more remain
//! (the link keeps the `$top` asked for, clamped again); `$skip` up to 500 (more: 400, Graph refuses deep paging); `@odata.nextLink` with an opaque
//! `$skiptoken` (a keyset position: records touched between pages move, they are never skipped)
//! when more remain; `$expand=alerts` on incidents (other $expand: 400). `Prefer:
//! include-unknown-enum-members` shows evolvable enum members added after unknownFutureValue
//! (serviceSource microsoftDefenderForCloud, microsoftSentinel) and answers
//! `Preference-Applied`; without it they read "unknownFutureValue".
//!
//! Throttling: `graph_requests_per_minute` (config; Graph: 150, 0 = off) per app per tenant in
//! fixed one-minute windows; over it 429 TooManyRequests with Retry-After: delta-seconds (at
//! least 1), or with `graph_retry_after_date` (config) an HTTP-date (RFC 7231 IMF-fixdate, "Sun,
//! 06 Nov 1994 08:49:37 GMT"), rounded up to the whole second, never earlier than the end of
//! the window.
//!
//! POST /sandbox/graph/touch (form: tenant, new, update, at = RFC 3339, default now): adds `new`
//! alerts and updates `update` existing ones (same id, new lastUpdateDateTime, status moves on),
//! all at one lastUpdateDateTime, as Defender does while a collector runs. Answers
//! {"tenant","touched":[{"id","lastUpdateDateTime","new"}]}.

use crate::clock::{format_http_date, format_iso, parse_iso};
use crate::crypto::keys::guid;
use crate::data::graph::TenantGraph;
use crate::http::{Req, Resp};
use crate::odata::{self, Clause};
use crate::state::{now, Inner, TenantSel};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

const SKEW: i64 = 300;
pub const MAX_SKIP: usize = 500;
/// Graph's own app id (an accepted `aud`).
const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";
pub const AUDIENCES: [&str; 5] = [
    "https://graph.microsoft.com",
    "https://graph.microsoft.us",
    "https://dod-graph.microsoft.us",
    "https://microsoftgraph.chinacloudapi.cn",
    GRAPH_APP_ID,
];
const FIELDS: [&str; 2] = ["lastUpdateDateTime", "createdDateTime"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    Alerts,
    Incidents,
}

impl Which {
    fn path(self) -> &'static str {
        match self {
            Which::Alerts => "/v1.0/security/alerts_v2",
            Which::Incidents => "/v1.0/security/incidents",
        }
    }

    fn roles(self) -> [&'static str; 2] {
        match self {
            Which::Alerts => ["SecurityAlert.Read.All", "SecurityAlert.ReadWrite.All"],
            Which::Incidents => [
                "SecurityIncident.Read.All",
                "SecurityIncident.ReadWrite.All",
            ],
        }
    }
}

/// The `roles` of an app-only token for `resource`: unchanged unless it is a Graph audience;
/// for Graph, the Graph security permissions the grant implies (see the module docs).
pub fn token_roles(resource: &str, roles: Vec<String>) -> Vec<String> {
    let r = resource.trim_end_matches('/');
    if !AUDIENCES.iter().any(|a| r.eq_ignore_ascii_case(a)) {
        return roles;
    }
    let mut out: Vec<String> = Vec::new();
    for role in &roles {
        let mapped = match role.as_str() {
            "Alert.Read.All" => "SecurityAlert.Read.All",
            "Alert.ReadWrite.All" => "SecurityAlert.ReadWrite.All",
            "Incident.Read.All" => "SecurityIncident.Read.All",
            "Incident.ReadWrite.All" => "SecurityIncident.ReadWrite.All",
            r if r.starts_with("Security") => r,
            _ => continue,
        };
        if !out.iter().any(|o| o == mapped) {
            out.push(mapped.to_string());
        }
    }
    out
}

/// Graph state: data per tenant, throttling windows per (app, tenant).
pub struct Graph {
    anchor_ms: i64,
    per_tenant: usize,
    /// Requests per minute per app per tenant; 0 = no limit.
    limit: AtomicU32,
    windows: Mutex<HashMap<(String, String), (u64, u32)>>,
    data: Mutex<HashMap<String, Arc<Mutex<TenantGraph>>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Graph {
    pub fn new(per_tenant: usize, limit: u32, start: u64) -> Graph {
        Graph {
            anchor_ms: (start / 60 * 60) as i64 * 1000,
            per_tenant,
            limit: AtomicU32::new(limit),
            windows: Mutex::new(HashMap::new()),
            data: Mutex::new(HashMap::new()),
        }
    }

    /// Requests per minute per app per tenant (0 = no limit).
    pub fn rate_limit(&self) -> u32 {
        self.limit.load(Ordering::Relaxed)
    }

    /// The tenant's data, generated on first use (outside the map's lock).
    fn tenant(&self, tid: &str) -> Arc<Mutex<TenantGraph>> {
        if let Some(d) = lock(&self.data).get(tid) {
            return d.clone();
        }
        let fresh = Arc::new(Mutex::new(TenantGraph::generate(
            tid,
            self.anchor_ms,
            self.per_tenant,
        )));
        lock(&self.data)
            .entry(tid.to_string())
            .or_insert(fresh)
            .clone()
    }

    /// Counts a request at `now` (Unix seconds); `Some(retry_after_secs)` when over the limit:
    /// the window ends at `now + retry_after_secs` or earlier (windows start and end on whole
    /// seconds; the 1-second minimum rounds up).
    fn throttle(&self, app: &str, tid: &str, now: u64) -> Option<u64> {
        let limit = self.rate_limit();
        if limit == 0 {
            return None;
        }
        let mut w = lock(&self.windows);
        let w = w
            .entry((app.to_string(), tid.to_string()))
            .or_insert((now, 0));
        if now >= w.0 + 60 {
            *w = (now, 0);
        }
        if w.1 >= limit {
            return Some((w.0 + 60).saturating_sub(now).max(1));
        }
        w.1 += 1;
        None
    }
}

/// Graph's error shape.
pub fn error(req: &Req, status: u16, code: &str, message: &str) -> Resp {
    let request_id = guid();
    let client = req
        .header("client-request-id")
        .map(|c| {
            c.chars()
                .filter(|ch| ch.is_ascii_graphic())
                .take(100)
                .collect::<String>()
        })
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| request_id.clone());
    let date = format_iso(now() as i64 * 1000);
    Resp::json(
        status,
        &json!({"error": {"code": code, "message": message, "innerError": {
            "date": &date[..19],
            "request-id": request_id,
            "client-request-id": client,
        }}}),
    )
    .with_header("request-id", &request_id)
    .with_header("client-request-id", &client)
}

fn unauthorized(req: &Req, message: &str) -> Resp {
    error(req, 401, "InvalidAuthenticationToken", message).with_header(
        "WWW-Authenticate",
        &format!("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"{GRAPH_APP_ID}\""),
    )
}

pub fn handle(inner: &Inner, req: &Req, which: Which) -> Resp {
    if req.method != "GET" && req.method != "HEAD" {
        return error(
            req,
            405,
            "Request_BadRequest",
            &format!("The sandbox serves only GET {}.", which.path()),
        );
    }
    let claims = match authenticate(inner, req) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let tid = claims["tid"].as_str().unwrap_or_default().to_string();
    let app = claims["appid"]
        .as_str()
        .or(claims["azp"].as_str())
        .unwrap_or_default()
        .to_string();
    let at = now();
    if let Some(secs) = inner.graph.throttle(&app, &tid, at) {
        let retry = if inner.cfg.graph_retry_after_date {
            format_http_date((at + secs) as i64)
        } else {
            secs.to_string()
        };
        return error(
            req,
            429,
            "TooManyRequests",
            &format!("Too many requests: the limit is {} requests per minute per app per tenant. Retry after {secs} seconds.", inner.graph.rate_limit()),
        )
        .with_header("Retry-After", &retry);
    }
    if let Err(r) = authorize(req, &claims, which) {
        return r;
    }
    list(inner, req, which, &tid)
}

fn authenticate(inner: &Inner, req: &Req) -> Result<Value, Resp> {
    let Some(h) = req.header("authorization") else {
        return Err(unauthorized(req, "Access token is empty."));
    };
    let token = h
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("bearer "))
        .and_then(|_| h.get(7..))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized(req, "Access token is empty."))?;
    let jws = inner.keys.verify_jwt(token).ok_or_else(|| {
        unauthorized(
            req,
            "Access token validation failure: it is not a JWT signed by this sandbox.",
        )
    })?;
    let now = now() as i64;
    match jws.claim_time("exp") {
        Some(exp) if now < exp => {}
        _ => {
            return Err(unauthorized(
                req,
                "Lifetime validation failed, the token is expired.",
            ))
        }
    }
    if jws.claim_time("nbf").is_some_and(|n| n > now + SKEW) {
        return Err(unauthorized(
            req,
            "Lifetime validation failed, the token is not yet valid.",
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
            req,
            "Access token validation failure. Invalid issuer or tenant.",
        ));
    }
    let ok = jws.audiences().iter().any(|a| {
        let a = a.trim_end_matches('/');
        AUDIENCES.iter().any(|x| a.eq_ignore_ascii_case(x))
    });
    if !ok {
        return Err(unauthorized(
            req,
            "Access token validation failure. Invalid audience: request a token for https://graph.microsoft.com (v2 scope https://graph.microsoft.com/.default).",
        ));
    }
    Ok(Value::Object(jws.claims))
}

fn authorize(req: &Req, claims: &Value, which: Which) -> Result<(), Resp> {
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
    let want = which.roles();
    let has = |have: &[&str]| {
        have.iter()
            .any(|h| want.iter().any(|w| h.eq_ignore_ascii_case(w)))
    };
    if has(&roles) || has(&scp) {
        return Ok(());
    }
    let (kind, found) = if claims.get("scp").is_some() {
        ("scopes", scp.join(", "))
    } else {
        ("application roles", roles.join(", "))
    };
    Err(error(
        req,
        403,
        "Forbidden",
        &format!(
            "Missing {kind}. API required {kind}: {}. Found in the access token: {}.",
            want.join(", "),
            if found.is_empty() { "none" } else { &found }
        ),
    ))
}

/// A `$top` value: a whole number from 1 (digits only; too many digits for usize saturate, to
/// be clamped like any large value); None for 0, a sign or anything else.
fn parse_top(v: &str) -> Option<usize> {
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = v.parse::<usize>().unwrap_or(usize::MAX);
    (n >= 1).then_some(n)
}

/// ($skiptoken) the last record's (sort time, id).
fn encode_token(t: i64, id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{t}|{id}"))
}

fn decode_token(s: &str) -> Option<(i64, String)> {
    let raw = String::from_utf8(URL_SAFE_NO_PAD.decode(s).ok()?).ok()?;
    let (t, id) = raw.split_once('|')?;
    Some((t.parse().ok()?, id.to_string()))
}

fn list(inner: &Inner, req: &Req, which: Which, tid: &str) -> Resp {
    let q = req.query_params();
    let bad = |m: &str| error(req, 400, "BadRequest", m);
    let max_top = inner.cfg.graph_max_top.max(1);
    let top = match q.get("$top").map(parse_top) {
        None => max_top,
        Some(Some(n)) => n.min(max_top),
        Some(None) => return bad("Invalid value for $top: it must be a whole number, at least 1."),
    };
    let skip = match q.get("$skip").map(|v| v.trim().parse::<usize>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_SKIP => n,
        Some(Ok(_)) => {
            return bad(&format!(
                "The $skip value exceeds the limit of {MAX_SKIP}: page by lastUpdateDateTime ($filter) or follow @odata.nextLink."
            ))
        }
        Some(Err(_)) => return bad("Invalid value for $skip."),
    };
    let after = match q.get("$skiptoken").map(decode_token) {
        None => None,
        Some(Some(k)) => Some(k),
        Some(None) => return bad("Invalid $skiptoken."),
    };
    let clauses: Vec<Clause> = match q.get("$filter").map(|f| odata::parse(f, &FIELDS)) {
        None => Vec::new(),
        Some(Ok(c)) => c,
        Some(Err(m)) => return bad(&m),
    };
    let (field, desc) = match q.get("$orderby").map(|o| {
        let w: Vec<&str> = o.split_whitespace().collect();
        let f = FIELDS
            .iter()
            .position(|f| w.first().is_some_and(|x| x.eq_ignore_ascii_case(f)));
        let dir = match w.get(1).map(|d| d.to_ascii_lowercase()) {
            None => Some(false),
            Some(d) if d == "asc" => Some(false),
            Some(d) if d == "desc" => Some(true),
            _ => None,
        };
        match (f, dir, w.len() <= 2) {
            (Some(f), Some(d), true) => Ok((f, d)),
            _ => Err(()),
        }
    }) {
        None => (1, false),
        Some(Ok(x)) => x,
        Some(Err(())) => {
            return bad("Invalid $orderby: the sandbox supports lastUpdateDateTime or createdDateTime, asc or desc.")
        }
    };
    let expand = match (which, q.get("$expand")) {
        (_, None) => false,
        (Which::Incidents, Some(e)) if e.trim().eq_ignore_ascii_case("alerts") => true,
        (_, Some(e)) => {
            return bad(&format!(
                "Could not find a property named '{}' to expand.",
                e.chars().take(100).collect::<String>()
            ))
        }
    };
    let unknown_enums = req.header("prefer").is_some_and(|p| {
        p.split(',').any(|x| {
            x.trim()
                .eq_ignore_ascii_case("include-unknown-enum-members")
        })
    });
    let data = inner.graph.tenant(tid);
    let g = lock(&data);
    // (created, updated, id) of each record.
    let rows: Vec<(usize, i64, i64, &str)> = match which {
        Which::Alerts => g
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| (i, a.created, a.updated, a.id.as_str()))
            .collect(),
        Which::Incidents => g
            .incidents
            .iter()
            .enumerate()
            .map(|(i, n)| (i, n.created, n.updated, ""))
            .collect(),
    };
    let ids: Vec<String> = match which {
        Which::Alerts => Vec::new(),
        Which::Incidents => g.incidents.iter().map(|n| n.id.to_string()).collect(),
    };
    let id_of = |r: &(usize, i64, i64, &str)| -> String {
        match which {
            Which::Alerts => r.3.to_string(),
            Which::Incidents => ids[r.0].clone(),
        }
    };
    let key = |r: &(usize, i64, i64, &str)| if field == 0 { r.2 } else { r.1 };
    let mut matching: Vec<(i64, String, usize)> = rows
        .iter()
        .filter(|r| {
            clauses
                .iter()
                .all(|c| c.matches(if c.field == 0 { r.2 } else { r.1 }))
        })
        .map(|r| (key(r), id_of(r), r.0))
        .collect();
    matching.sort();
    if desc {
        matching.reverse();
    }
    let start = match &after {
        None => skip,
        Some((t, id)) => matching
            .iter()
            .position(|(k, i, _)| {
                let ord = (*k, i.as_str()).cmp(&(*t, id.as_str()));
                if desc {
                    ord.is_lt()
                } else {
                    ord.is_gt()
                }
            })
            .unwrap_or(matching.len()),
    };
    let page: Vec<&(i64, String, usize)> = matching.iter().skip(start).take(top).collect();
    let value: Vec<Value> = page
        .iter()
        .map(|(_, _, i)| match which {
            Which::Alerts => g.alert_json(*i, unknown_enums),
            Which::Incidents => g.incident_json(*i, expand, unknown_enums),
        })
        .collect();
    let base = &inner.authority;
    let context = match (which, expand) {
        (Which::Alerts, _) => "security/alerts_v2",
        (Which::Incidents, false) => "security/incidents",
        (Which::Incidents, true) => "security/incidents(alerts())",
    };
    let mut body = json!({
        "@odata.context": format!("{base}/v1.0/$metadata#{context}"),
        "value": value,
    });
    if start + page.len() < matching.len() {
        if let Some((t, id, _)) = page.last() {
            let enc = |x: &str| {
                url::form_urlencoded::byte_serialize(x.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20")
            };
            let mut parts: Vec<String> =
                q.0.iter()
                    .filter(|(k, _)| k != "$skip" && k != "$skiptoken")
                    .map(|(k, v)| format!("{}={}", enc(k).replace("%24", "$"), enc(v)))
                    .collect();
            parts.push(format!("$skiptoken={}", encode_token(*t, id)));
            let query = parts.join("&");
            body["@odata.nextLink"] = format!("{base}{}?{query}", which.path()).into();
        }
    }
    let mut resp = Resp::json(200, &body);
    if unknown_enums {
        resp = resp.with_header("Preference-Applied", "include-unknown-enum-members");
    }
    resp
}

/// POST /sandbox/graph/touch (see the module docs).
pub fn touch(inner: &Inner, req: &Req) -> Resp {
    let f = req.form_params();
    let bad = |m: &str| Resp::plain_error(400, "invalid_request", m);
    let tid = match f.get("tenant").map(|s| inner.resolve_tenant(s)) {
        Some(TenantSel::Id(t)) => t,
        _ => return bad("form field 'tenant' must be a configured tenant (GUID or domain)"),
    };
    let count = |name: &str| match f.get(name).map(|v| v.trim().parse::<usize>()) {
        None => Ok(0),
        Some(Ok(n)) if n <= 10_000 => Ok(n),
        _ => Err(bad(&format!(
            "form field '{name}' must be a whole number from 0 to 10000"
        ))),
    };
    let (new, update) = match (count("new"), count("update")) {
        (Ok(n), Ok(u)) => (n, u),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let at = match f.get("at").map(parse_iso) {
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0),
        Some(Some(t)) => t,
        Some(None) => return bad("form field 'at' must be an RFC 3339 time"),
    };
    let data = inner.graph.tenant(&tid);
    let touched = lock(&data).touch(new, update, at);
    let list: Vec<Value> = touched
        .iter()
        .map(|t| json!({"id": t.id, "lastUpdateDateTime": format_iso(t.updated), "new": t.new}))
        .collect();
    Resp::json(200, &json!({"tenant": tid, "touched": list}))
}
