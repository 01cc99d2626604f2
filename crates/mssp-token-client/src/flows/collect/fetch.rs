//! One tenant's source over HTTP: the query of each page (filter, order, size), the token (a
//! new one before the old expires, or once after a 401), the request budget, and each answer
//! read into checked records: an id, an update time, and the tenant the record names (another
//! tenant's record is refused, never written).

use super::budget::Budget;
use super::source::Source;
use super::stamp::Stamp;
use super::window::{Page, Pages, Query, Rec};
use crate::authority::{printable, Authority};
use crate::error::{fail, Exit};
use crate::flows::pager;
use crate::flows::partner::Partner;
use crate::http::Http;
use crate::identity::Identity;
use crate::token::Target;
use anyhow::Result;
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

/// A tenant's token for one API, renewed when it nears its end.
pub struct Tokens {
    access: Access,
    tenant_id: String,
    current: Option<(String, u64)>,
}

impl Tokens {
    pub fn new(access: Access, tenant_id: &str) -> Tokens {
        Tokens {
            access,
            tenant_id: tenant_id.to_string(),
            current: None,
        }
    }

    pub async fn get(&mut self, http: &Http) -> Result<String> {
        if let Some((t, exp)) = &self.current {
            if *exp > crate::time::now_epoch() + 120 {
                return Ok(t.clone());
            }
        }
        let set = match &self.access {
            Access::AppOnly(id) => {
                super::super::app_only::acquire(http, id, &self.tenant_id).await?
            }
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
        for attempt in 0..2 {
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
            if resp.status == 401 && attempt == 0 {
                // An expired or revoked token: one new token, one more try.
                self.tokens.forget();
                continue;
            }
            if !(200..300).contains(&resp.status) {
                return Err(pager::explain(&resp, url, &token, self.source.api()));
            }
            return Ok(resp);
        }
        unreachable!("the loop returns on its second pass")
    }
}

impl Pages for SourcePages<'_> {
    async fn fetch(&mut self, q: &Query, top: u32) -> Result<Page> {
        let url = self.url(q, top)?;
        let resp = self.send(&url).await?;
        let not_a_page = |why: &str| {
            fail(
                Exit::Network,
                format!(
                    "{} answered HTTP {} with {}: {why}",
                    url.path(),
                    resp.status,
                    resp.describe_body()
                ),
            )
        };
        let mut body: Value =
            serde_json::from_slice(&resp.body).map_err(|_| not_a_page("not JSON"))?;
        let next = match body.get("@odata.nextLink") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(not_a_page("@odata.nextLink is not a string")),
        };
        let items = match body.get_mut("value").map(Value::take) {
            Some(Value::Array(a)) => a,
            _ => return Err(not_a_page("no \"value\" array of records")),
        };
        Ok(read_page(self.source, &self.tenant_id, items, next))
    }
}

/// Checks every item: an object with an id and an update time (else malformed), naming this
/// tenant (else refused).
pub fn read_page(source: Source, tenant_id: &str, items: Vec<Value>, next: Option<String>) -> Page {
    let raw = items.len();
    let mut recs = Vec::with_capacity(raw);
    let mut malformed = 0;
    for record in items {
        let id = record.as_object().and_then(|_| source.id_of(&record));
        let stamp = record
            .get(source.time_field())
            .and_then(Value::as_str)
            .and_then(Stamp::parse);
        let (Some(id), Some(stamp)) = (id, stamp) else {
            malformed += 1;
            continue;
        };
        let refused = source
            .tenant_of(&record)
            .is_none_or(|t| !t.eq_ignore_ascii_case(tenant_id));
        recs.push(Rec {
            stamp,
            id,
            record,
            refused,
        });
    }
    Page {
        recs,
        raw,
        malformed,
        next,
    }
}
