//! One tenant's source over HTTP: the query of each page (filter, order, size), the token (a
//! new one before the old expires, or once after a 401), the request budget, and each answer
//! read into checked records: an id, an update time, and the tenant the record names (another
//! tenant's record is refused, never written).

use super::budget::Budget;
use super::source::{Fields, Source};
use super::stamp::Stamp;
use super::window::{Page, Pages, Query, Rec, Text};
use crate::authority::{printable, Authority};
use crate::error::{fail, Exit};
use crate::flows::pager;
use crate::flows::partner::Partner;
use crate::http::Http;
use crate::identity::Identity;
use crate::store::cache::Cache;
use crate::store::TokenStore;
use crate::token::Target;
use anyhow::Result;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use std::sync::Arc;
use url::Url;

/// How a tenant's tokens are had.
#[derive(Clone)]
pub enum Access {
    /// Client credentials (secret, certificate or federated token).
    AppOnly(Identity),
    /// GDAP: the partner's refresh token redeemed in the customer's tenant.
    Partner {
        partner: Arc<Partner>,
        authority: Authority,
        target: Target,
    },
}

/// A tenant's token for one API, renewed when it nears its end. App-only tokens come from the
/// token cache when there is one (a collection every few minutes over hundreds of tenants
/// would otherwise ask Entra for a token per tenant and API each time), except after a 401.
pub struct Tokens {
    access: Access,
    tenant_id: String,
    cache: Option<Cache>,
    current: Option<(String, u64)>,
    /// A 401 said the token is no good: the next one comes from Entra, not the cache.
    fresh: bool,
}

impl Tokens {
    pub fn new(access: Access, tenant_id: &str, cache: Option<Cache>) -> Tokens {
        Tokens {
            access,
            tenant_id: tenant_id.to_string(),
            cache,
            current: None,
            fresh: false,
        }
    }

    pub async fn get(&mut self, http: &Http) -> Result<String> {
        if let Some((t, exp)) = &self.current {
            if *exp > crate::time::now_epoch() + 120 {
                return Ok(t.clone());
            }
        }
        let set = match &self.access {
            Access::AppOnly(id) => match &self.cache {
                Some(cache) if !self.fresh => {
                    super::super::app_only::cached(cache, http, id, &self.tenant_id).await?
                }
                Some(cache) => {
                    let set = super::super::app_only::acquire(http, id, &self.tenant_id).await?;
                    // The API refused the cached token: replace the entry.
                    let key = super::super::app_only::cache_key(id);
                    if let Err(e) = cache.put(&key, &set) {
                        crate::verbose!("the token cache was not updated: {e}");
                    }
                    set
                }
                None => super::super::app_only::acquire(http, id, &self.tenant_id).await?,
            },
            Access::Partner {
                partner,
                authority,
                target,
            } => {
                partner
                    .redeem_at(http, authority, &self.tenant_id, target)
                    .await?
                    .set
            }
        };
        crate::redacted::register(&set.access_token);
        self.current = Some((set.access_token.clone(), set.expires_on));
        Ok(set.access_token)
    }

    fn forget(&mut self) {
        self.current = None;
        self.fresh = true;
    }
}

/// The pages of one source of one tenant.
pub struct SourcePages<'a> {
    pub http: &'a Http,
    pub source: Source,
    /// The API's base (https, or http on loopback).
    pub base: Url,
    pub tenant_id: String,
    pub tokens: &'a mut Tokens,
    pub budget: Arc<Budget>,
}

impl SourcePages<'_> {
    fn url(&self, q: &Query, top: u32) -> Result<Url> {
        let f = self.source.time_field();
        let (filter, skip) = match q {
            Query::Window {
                from,
                inclusive,
                to,
            } => {
                let op = if *inclusive { "ge" } else { "gt" };
                let mut filter = format!("{f} {op} {}", from.as_str());
                if let Some(to) = to {
                    filter.push_str(&format!(" and {f} lt {}", to.as_str()));
                }
                (filter, 0)
            }
            Query::Tie { at, skip } => (
                format!("{f} ge {} and {f} le {}", at.as_str(), at.as_str()),
                *skip,
            ),
            Query::Next(link) => return self.next_link(link),
        };
        let mut u = pager::target_url(&self.base, self.source.path())?;
        {
            let mut qp = u.query_pairs_mut();
            qp.append_pair("$filter", &filter);
            if self.source.ordered() {
                qp.append_pair("$orderby", &format!("{f} asc"));
            }
            qp.append_pair("$top", &top.to_string());
            if skip > 0 {
                qp.append_pair("$skip", &skip.to_string());
            }
            for (k, v) in self.source.extra_query() {
                qp.append_pair(k, v);
            }
        }
        Ok(u)
    }

    /// An `@odata.nextLink`: on the API's own host only (the token goes there).
    fn next_link(&self, link: &str) -> Result<Url> {
        let u = Url::parse(link)
            .or_else(|_| self.base.join(link))
            .map_err(|_| {
                fail(
                    Exit::Network,
                    format!("@odata.nextLink '{}' is not a URL", printable(link)),
                )
            })?;
        if u.origin() != self.base.origin() {
            return Err(fail(
                Exit::Network,
                format!(
                    "@odata.nextLink points to another host ({}); not sending the token there",
                    u.origin().ascii_serialization()
                ),
            ));
        }
        pager::check_scheme(&u, "@odata.nextLink")?;
        Ok(u)
    }

    async fn send(&mut self, url: &Url) -> Result<crate::http::Response> {
        let mut retried = false;
        loop {
            let token = self.tokens.get(self.http).await?;
            self.budget.take().await;
            let mut req = self
                .http
                .request(reqwest::Method::GET, url.as_str())
                .bearer_auth(&token)
                .header("Accept", "application/json");
            if self.source.ordered() {
                req = req.header("Prefer", "include-unknown-enum-members");
            }
            crate::verbose!("GET {url}");
            let resp = self.http.send_with_retries(req).await?;
            if resp.status == 401 && !retried {
                // An expired or revoked token: one new token, one more try.
                self.tokens.forget();
                retried = true;
                continue;
            }
            if !(200..300).contains(&resp.status) {
                return Err(pager::explain(&resp, url, &token, self.source.api()));
            }
            return Ok(resp);
        }
    }
}

impl Pages for SourcePages<'_> {
    async fn fetch(&mut self, q: &Query, top: u32) -> Result<Page> {
        let url = self.url(q, top)?;
        let mut resp = self.send(&url).await?;
        // The body moves into the page (records stay spans of it): no copy.
        let outcome = match String::from_utf8(std::mem::take(&mut resp.body)) {
            Ok(body) => read_page(self.source, &self.tenant_id, body),
            Err(e) => Err(("not UTF-8 text".to_string(), e.into_bytes())),
        };
        outcome.map_err(|(why, body)| {
            resp.body = body;
            fail(
                Exit::Network,
                format!(
                    "{} answered HTTP {} with {}: {why}",
                    url.path(),
                    resp.status,
                    resp.describe_body()
                ),
            )
        })
    }
}

/// The page's envelope: the records stay unparsed spans of the body.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    value: Vec<&'a RawValue>,
    #[serde(rename = "@odata.nextLink", default)]
    next: Option<Value>,
}

/// Reads a page: every item an object with an id and an update time (else malformed), naming
/// this tenant (else refused). The records are not parsed into trees: each is a span of the
/// body, written as it came (unless it spans lines, when its compact spelling is kept).
pub fn read_page(source: Source, tenant_id: &str, body: String) -> Result<Page, (String, Vec<u8>)> {
    let env: Envelope = match serde_json::from_str(&body) {
        Ok(env) => env,
        Err(e) => {
            let why = if e.is_syntax() || e.is_eof() {
                "not JSON"
            } else {
                "no \"value\" array of records"
            };
            return Err((why.to_string(), body.into_bytes()));
        }
    };
    let next = match env.next {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            drop(env);
            return Err((
                "@odata.nextLink is not a string".to_string(),
                body.into_bytes(),
            ));
        }
    };
    let base = body.as_ptr() as usize;
    let raw = env.value.len();
    let mut recs = Vec::with_capacity(raw);
    let mut malformed = 0;
    for item in env.value {
        let json = item.get();
        let fields = Fields::of(json);
        let (id, time, tenant) = fields.map(|f| source.read(&f)).unwrap_or_default();
        let (Some(id), Some(stamp)) = (id, time.as_deref().and_then(Stamp::parse)) else {
            malformed += 1;
            continue;
        };
        let refused = tenant.is_none_or(|t| !t.eq_ignore_ascii_case(tenant_id));
        let text = if json.contains(['\n', '\r']) {
            match serde_json::from_str::<Value>(json) {
                Ok(v) => Text::Owned(v.to_string()),
                Err(_) => {
                    malformed += 1;
                    continue;
                }
            }
        } else {
            let start = json.as_ptr() as usize - base;
            Text::Span(start..start + json.len())
        };
        recs.push(Rec {
            stamp,
            id,
            text,
            refused,
        });
    }
    Ok(Page {
        body,
        recs,
        raw,
        malformed,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";

    #[test]
    fn records_stay_spans_of_the_body_unless_they_span_lines() {
        let body = format!(
            "{{\"@odata.nextLink\": \"https://graph.example/next\", \"value\": [\n  {{\"id\":\"a\",\"tenantId\":\"{T}\",\"lastUpdateDateTime\":\"2026-11-30T10:00:00Z\",\"x\":{{\"y\":[1,2]}}}},\n  {{\n    \"id\": \"b\",\n    \"tenantId\": \"{T}\",\n    \"lastUpdateDateTime\": \"2026-11-30T10:00:01Z\"\n  }},\n  {{\"id\":\"c\",\"tenantId\":\"4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b\",\"lastUpdateDateTime\":\"2026-11-30T10:00:02Z\"}},\n  {{\"id\":\"d\"}}, [1], \"e\"\n]}}"
        );
        let page = read_page(Source::GraphAlerts, T, body).unwrap();
        assert_eq!(page.raw, 6);
        assert_eq!(page.malformed, 3, "no time, an array, a string");
        assert_eq!(page.next.as_deref(), Some("https://graph.example/next"));
        let a = &page.recs[0];
        assert!(matches!(a.text, Text::Span(_)));
        assert!(
            a.json(&page.body).starts_with("{\"id\":\"a\""),
            "{}",
            a.json(&page.body)
        );
        assert!(a.json(&page.body).ends_with("[1,2]}}"));
        let b = &page.recs[1];
        assert!(matches!(b.text, Text::Owned(_)));
        assert!(!b.json(&page.body).contains('\n'));
        let v: Value = serde_json::from_str(b.json(&page.body)).unwrap();
        assert_eq!(v["id"], "b");
        assert!(page.recs[2].refused, "another tenant's record");
        assert!(!a.refused && !b.refused);
    }

    #[test]
    fn answers_that_are_not_pages_say_why() {
        let why = |b: &str| {
            read_page(Source::GraphAlerts, T, b.to_string())
                .unwrap_err()
                .0
        };
        assert_eq!(why("<html>"), "not JSON");
        assert_eq!(why("{\"value\": 5}"), "no \"value\" array of records");
        assert_eq!(why("{}"), "no \"value\" array of records");
        assert_eq!(
            why("{\"value\": [], \"@odata.nextLink\": 5}"),
            "@odata.nextLink is not a string"
        );
    }
}
