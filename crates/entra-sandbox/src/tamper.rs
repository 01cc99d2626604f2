//! Tampering: tests and rehearsals make the next answers hostile, to see what the client does
//! with what a broken or malicious endpoint (or a proxy in front of it) could send.
//!
//! `Sandbox::tamper(&spec)` or POST /sandbox/tamper with the spec as a JSON body queues a spec:
//!
//! - `"on"`: which requests it hits: `"token"` (POST .../oauth2[/v2.0]/token, the default),
//!   `"api"` (GET anything under /api/, the Defender API, and under /v1.0/, the Graph security
//!   API), `"discovery"` (openid-configuration and keys).
//! - `"tenant"`: a tenant GUID: the spec hits only that tenant's requests: on the API routes,
//!   those whose bearer token's `tid` is it (the token is read, not verified); on token and
//!   discovery requests, those whose path names it (by GUID or domain; common and organizations
//!   name no tenant). Other tenants' requests pass untouched and do not use up the spec's count.
//! - `"count"`: how many such requests it hits (default 1, at most 100000).
//! - Either a replacement answer (the request is not processed at all): `"status"` (100..=599),
//!   `"headers"` (an object of strings) and `"body"` (a string; `{request_body}` in it becomes the
//!   raw request body, JSON-string-escaped when the body starts with `{`, which makes an endpoint
//!   that echoes the form it received). Content-Type comes from `"headers"` or is guessed (JSON
//!   when the body starts with `{`, else text/plain).
//! - Or amendments to the genuine answer (the request is processed, so a refresh token still
//!   rotates): `"fields"` sets top-level members of a JSON answer (`null` removes one);
//!   `"claims"` sets claims of its `access_token`, which is signed again with the tenant key (so it
//!   stays a valid JWT with, say, another customer's `tid` or an absurd `exp`); `"records"` sets
//!   members of one record of a JSON answer's `value` array (`null` removes one), the record
//!   `"record_index"` (default 0; no such record: the answer passes unchanged), e.g.
//!   `{"on": "api", "records": {"tenantId": "<another customer's GUID>"}}` for wrong-customer
//!   data. `fields`, `claims` and `records` combine in one spec. Amendments apply to 2xx JSON
//!   answers only; others pass unchanged (and still count).
//! - `{"clear": true}` empties the queue.
//!
//! A request takes the first queued spec whose `on` (and `tenant`, if given) matches it. Faults
//! (`--faults`) are drawn only for requests that no spec took.

use crate::faults::PathKind;
use crate::http::Resp;
use anyhow::{bail, Context, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};
use std::collections::VecDeque;
use std::sync::Mutex;

/// What a spec does to the requests it takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Replace {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    Amend(Amendment),
}

/// The amendments of a spec (see the module docs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Amendment {
    /// Top-level members of the JSON answer.
    pub fields: Map<String, Value>,
    /// Claims of its `access_token` (signed again).
    pub claims: Map<String, Value>,
    /// Members of `value[record_index]`.
    pub records: Map<String, Value>,
    pub record_index: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Spec {
    on: PathKind,
    /// Only requests of this tenant (lower-case GUID).
    tenant: Option<String>,
    left: u32,
    action: Action,
}

/// The queue of specs.
#[derive(Debug, Default)]
pub struct Tampers(Mutex<VecDeque<Spec>>);

impl Tampers {
    /// Queues `spec` (or empties the queue for `{"clear": true}`); returns the queue's length.
    pub fn push(&self, spec: &Value) -> Result<usize> {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if spec.get("clear").and_then(Value::as_bool) == Some(true) {
            q.clear();
            return Ok(0);
        }
        q.push_back(parse(spec)?);
        Ok(q.len())
    }

    /// The action for one request of `kind`, if a queued spec takes it. `tenant` gives the
    /// request's tenant (lower-case GUID, see [`request_tenant`]); it is called only when a spec
    /// of that kind is restricted to a tenant.
    pub fn take(&self, kind: PathKind, tenant: impl FnOnce() -> Option<String>) -> Option<Action> {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if q.is_empty() {
            return None;
        }
        let mut tenant = Some(tenant);
        let mut known: Option<Option<String>> = None;
        let i = q.iter().position(|s| {
            if s.on != kind {
                return false;
            }
            let Some(want) = &s.tenant else {
                return true;
            };
            let got = known.get_or_insert_with(|| tenant.take().and_then(|f| f()));
            got.as_deref() == Some(want.as_str())
        })?;
        let spec = &mut q[i];
        spec.left -= 1;
        let action = spec.action.clone();
        if spec.left == 0 {
            q.remove(i);
        }
        Some(action)
    }
}

fn parse(spec: &Value) -> Result<Spec> {
    let Some(obj) = spec.as_object() else {
        bail!("a tamper spec is a JSON object");
    };
    for key in obj.keys() {
        if ![
            "on",
            "tenant",
            "count",
            "status",
            "headers",
            "body",
            "fields",
            "claims",
            "records",
            "record_index",
        ]
        .contains(&key.as_str())
        {
            bail!("unknown tamper field '{key}' (on, tenant, count, status, headers, body, fields, claims, records, record_index, or clear)");
        }
    }
    let on = match obj.get("on").map(|v| v.as_str()) {
        None | Some(Some("token")) => PathKind::Token,
        Some(Some("api")) => PathKind::Api,
        Some(Some("discovery")) => PathKind::Discovery,
        _ => bail!("tamper 'on' must be \"token\", \"api\" or \"discovery\""),
    };
    let tenant = match obj.get("tenant") {
        None => None,
        Some(Value::String(t)) => match uuid::Uuid::parse_str(t) {
            Ok(u) if t.len() == 36 => Some(u.hyphenated().to_string()),
            _ => bail!("tamper 'tenant' must be a tenant GUID, not '{t}'"),
        },
        Some(_) => bail!("tamper 'tenant' must be a tenant GUID (a string)"),
    };
    let left = match obj.get("count") {
        None => 1,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=100_000) => n as u32,
            _ => bail!("tamper 'count' must be a whole number from 1 to 100000"),
        },
    };
    let replace = obj.contains_key("status") || obj.contains_key("body");
    let amend = ["fields", "claims", "records"]
        .iter()
        .any(|k| obj.contains_key(*k));
    if obj.contains_key("record_index") && !obj.contains_key("records") {
        bail!("tamper 'record_index' needs 'records'");
    }
    let action = match (replace, amend) {
        (true, true) => bail!("a tamper spec either replaces the answer (status, headers, body) or amends it (fields, claims, records), not both"),
        (false, false) => bail!("a tamper spec needs status/body (replace) or fields/claims/records (amend)"),
        (true, false) => {
            let status = match obj.get("status") {
                None => 200,
                Some(v) => match v.as_u64() {
                    Some(n @ 100..=599) => n as u16,
                    _ => bail!("tamper 'status' must be an HTTP status from 100 to 599"),
                },
            };
            let mut headers = Vec::new();
            if let Some(h) = obj.get("headers") {
                let Some(h) = h.as_object() else {
                    bail!("tamper 'headers' must be an object of strings");
                };
                for (k, v) in h {
                    let Some(v) = v.as_str() else {
                        bail!("tamper header '{k}' must be a string");
                    };
                    headers.push((k.clone(), v.to_string()));
                }
            }
            let body = match obj.get("body") {
                None => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(_) => bail!("tamper 'body' must be a string"),
            };
            Action::Replace {
                status,
                headers,
                body,
            }
        }
        (false, true) => {
            let object = |name: &str| -> Result<Map<String, Value>> {
                match obj.get(name) {
                    None => Ok(Map::new()),
                    Some(Value::Object(m)) => Ok(m.clone()),
                    Some(_) => bail!("tamper '{name}' must be an object"),
                }
            };
            let record_index = match obj.get("record_index") {
                None => 0,
                Some(v) => match v.as_u64() {
                    Some(n @ 0..=1_000_000) => n as usize,
                    _ => bail!("tamper 'record_index' must be a whole number from 0 to 1000000"),
                },
            };
            Action::Amend(Amendment {
                fields: object("fields")?,
                claims: object("claims")?,
                records: object("records")?,
                record_index,
            })
        }
    };
    Ok(Spec {
        on,
        tenant,
        left,
        action,
    })
}

/// The replacement answer, with `{request_body}` filled in.
pub fn replacement(
    status: u16,
    headers: &[(String, String)],
    body: &str,
    request_body: &[u8],
) -> Resp {
    let json = body.trim_start().starts_with('{');
    let raw = String::from_utf8_lossy(request_body);
    let filled = if json {
        let quoted = serde_json::to_string(&raw).unwrap_or_default();
        body.replace("{request_body}", &quoted[1..quoted.len().saturating_sub(1)])
    } else {
        body.replace("{request_body}", &raw)
    };
    let has_type = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
    let guessed = if json {
        "application/json; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let mut resp = Resp {
        status,
        headers: Vec::new(),
        body: filled.into_bytes(),
    };
    if !has_type {
        resp.headers.push(("Content-Type".into(), guessed.into()));
    }
    resp.headers.extend(headers.iter().cloned());
    resp
}

/// The tenant of a request, for specs restricted to one: on API routes the `tid` of the
/// bearer token (decoded, not verified); on token and discovery routes the path's tenant
/// segment, turned into its GUID by `find` (None for common, organizations, unknown).
pub fn request_tenant(
    kind: PathKind,
    path: &str,
    headers: &[(String, String)],
    find: impl Fn(&str) -> Option<String>,
) -> Option<String> {
    match kind {
        PathKind::Api => {
            let (_, h) = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))?;
            let token = h
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .and_then(|_| h.get(7..))?
                .trim();
            let payload = decode_payload(token).ok()?;
            Some(payload.get("tid")?.as_str()?.to_ascii_lowercase())
        }
        PathKind::Token | PathKind::Discovery => {
            let seg = path.trim_start_matches('/').split('/').next()?;
            find(seg)
        }
        _ => None,
    }
}

/// Applies an amendment to a 2xx JSON answer; `sign` signs the amended claims.
pub fn amend(resp: Resp, a: &Amendment, sign: impl Fn(&Value) -> String) -> Resp {
    let Amendment {
        fields,
        claims,
        records,
        record_index,
    } = a;
    if !(200..300).contains(&resp.status) {
        return resp;
    }
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(&resp.body) else {
        return resp;
    };
    if !claims.is_empty() {
        if let Some(Value::String(at)) = body.get("access_token") {
            if let Ok(mut payload) = decode_payload(at) {
                for (k, v) in claims {
                    if v.is_null() {
                        payload.remove(k);
                    } else {
                        payload.insert(k.clone(), v.clone());
                    }
                }
                let signed = sign(&Value::Object(payload));
                body.insert("access_token".into(), signed.into());
            }
        }
    }
    if !records.is_empty() {
        if let Some(Value::Object(rec)) = body
            .get_mut("value")
            .and_then(Value::as_array_mut)
            .and_then(|v| v.get_mut(*record_index))
        {
            set_members(rec, records);
        }
    }
    set_members(&mut body, fields);
    Resp {
        status: resp.status,
        headers: resp.headers,
        body: Value::Object(body).to_string().into_bytes(),
    }
}

/// Sets (or, for `null`, removes) members of `obj`.
fn set_members(obj: &mut Map<String, Value>, members: &Map<String, Value>) {
    for (k, v) in members {
        if v.is_null() {
            obj.remove(k);
        } else {
            obj.insert(k.clone(), v.clone());
        }
    }
}

fn decode_payload(jwt: &str) -> Result<Map<String, Value>> {
    let payload = jwt.split('.').nth(1).context("not a JWT")?;
    let bytes = URL_SAFE_NO_PAD.decode(payload)?;
    match serde_json::from_slice(&bytes)? {
        Value::Object(m) => Ok(m),
        _ => bail!("the JWT payload is not an object"),
    }
}
