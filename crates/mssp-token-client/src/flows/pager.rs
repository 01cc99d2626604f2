//! An API call with a token: `@odata.nextLink` paging (same host only, bounded), 429
//! Retry-After within the HTTP client's budget, and 401/403 explained with the role the path
//! needs (from the API table).

use crate::apis::ApiTarget;
use crate::authority::{is_loopback_host, printable};
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::jwt::Jwt;
use anyhow::Result;
use serde_json::Value;
use url::Url;

pub use reqwest::Method;

/// One API call.
#[derive(Debug, Clone)]
pub struct ApiCall {
    pub api: ApiTarget,
    pub url: Url,
    pub method: Method,
    /// A JSON body.
    pub body: Option<Vec<u8>>,
    /// Follow @odata.nextLink and merge every page's items into one "value" array.
    pub all: bool,
    /// With `all`: stop after this many pages.
    pub max_pages: u32,
}

/// Sends the call (and its next pages); the JSON answer, or None for an empty body.
pub async fn call(http: &Http, token: &str, req: &ApiCall) -> Result<Option<Value>> {
    let url = &req.url;
    let method = &req.method;
    let mut next = Some(url.clone());
    let mut pages = 0u32;
    let mut merged: Option<Value> = None;
    while let Some(u) = next.take() {
        pages += 1;
        let mut builder = http
            .request(method.clone(), u.as_str())
            .bearer_auth(token)
            .header("Accept", "application/json");
        if let Some(b) = &req.body {
            builder = builder
                .header("Content-Type", "application/json")
                .body(b.clone());
        }
        crate::verbose!("{method} {u}");
        let resp = http.send_with_retries(builder).await?;
        if !(200..300).contains(&resp.status) {
            return Err(explain(&resp, &u, token, req.api));
        }
        if resp.body.is_empty() {
            break;
        }
        let page: Value = serde_json::from_slice(&resp.body).map_err(|_| {
            fail(
                Exit::Network,
                format!(
                    "{u} answered HTTP {} with {} that is not JSON",
                    resp.status,
                    resp.describe_body()
                ),
            )
        })?;
        if !req.all {
            merged = Some(page);
            break;
        }
        let link = page
            .get("@odata.nextLink")
            .and_then(Value::as_str)
            .map(str::to_string);
        merged = Some(match merged.take() {
            None => page,
            Some(mut acc) => {
                if let (Some(all), Some(more)) = (
                    acc.get_mut("value").and_then(Value::as_array_mut),
                    page.get("value").and_then(Value::as_array),
                ) {
                    all.extend(more.iter().cloned());
                }
                acc
            }
        });
        if let Some(link) = link {
            let l = Url::parse(&link).or_else(|_| u.join(&link)).map_err(|_| {
                fail(
                    Exit::Network,
                    format!("@odata.nextLink '{}' is not a URL", printable(&link)),
                )
            })?;
            if l.origin() != url.origin() {
                return Err(fail(
                    Exit::Network,
                    format!(
                        "@odata.nextLink points to another host ({}); not sending the token there",
                        l.origin().ascii_serialization()
                    ),
                ));
            }
            if pages >= req.max_pages {
                crate::warn!("stopped after {pages} pages (--max-pages); more remain");
                break;
            }
            next = Some(l);
        }
    }
    if let Some(v) = merged.as_mut() {
        if req.all {
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.nextLink");
            }
        }
    }
    Ok(merged)
}

/// An API URL (a base or a full URL): https, or plain http on loopback only, and never a
/// user name or password in it.
pub fn check_scheme(u: &Url, what: &str) -> Result<()> {
    crate::authority::refuse_userinfo(u).map_err(|e| {
        // A flag's name is worth adding; "the URL" would only repeat the message.
        if what.starts_with("--") {
            crate::error::at(what, e)
        } else {
            e
        }
    })?;
    match u.scheme() {
        "https" => Ok(()),
        "http" if is_loopback_host(u) => Ok(()),
        _ => Err(usage(format!(
            "{what} '{}' must be https:// (plain http only on loopback): the bearer token must not cross the network in clear",
            printable(u.as_str())
        ))),
    }
}

pub fn target_url(base: &Url, path: &str) -> Result<Url> {
    let path = path.trim();
    if path.starts_with("https://") || path.starts_with("http://") {
        let u = Url::parse(path).map_err(|e| {
            usage(format!(
                "'{}' is not a URL ({e})",
                printable(&crate::authority::without_userinfo(path))
            ))
        })?;
        check_scheme(&u, "the URL")?;
        return Ok(u);
    }
    if !path.starts_with('/') {
        return Err(usage(format!(
            "'{}': give a path starting with / (e.g. /api/alerts) or a full https URL",
            printable(path)
        )));
    }
    let mut u = base.clone();
    let (p, q) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let prefix = u.path().trim_end_matches('/').to_string();
    u.set_path(&format!("{prefix}{p}"));
    u.set_query(q);
    Ok(u)
}

pub fn explain(
    resp: &crate::http::Response,
    url: &Url,
    token: &str,
    api: ApiTarget,
) -> anyhow::Error {
    let err = serde_json::from_slice::<Value>(&resp.body).ok();
    let field = |k: &str| {
        err.as_ref()
            .and_then(|v| v.get("error"))
            .and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(printable)
    };
    let said = match (field("code"), field("message")) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => resp.describe_body(),
    };
    let tracking = field("target")
        .map(|t| format!(" (tracking ID {t})"))
        .unwrap_or_default();
    match resp.status {
        401 | 403 => {
            let jwt = Jwt::decode(token).ok();
            let roles = jwt.as_ref().map(|j| j.roles()).unwrap_or_default();
            // A delegated token (a signed-in user's) carries `scp`, not `roles`.
            let scp = jwt
                .as_ref()
                .and_then(|j| j.claims.get("scp"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let needed = api
                .role_for_path(url.path())
                .map(|r| format!(" {} needs {r}.", url.path()))
                .unwrap_or_default();
            let (have, fix) = match &scp {
                Some(scp) => (
                    format!("the delegated permissions {}", printable(scp)),
                    "Add the delegated permission to the app, grant consent in the customer's tenant, make sure the signed-in user has a Defender role that allows it, and sign in again",
                ),
                None if roles.is_empty() => (
                    "no roles".to_string(),
                    "Add the application permission, grant admin consent in the customer's tenant, and get a new token (--no-cache)",
                ),
                None => (
                    roles.join(", "),
                    "Add the application permission, grant admin consent in the customer's tenant, and get a new token (--no-cache)",
                ),
            };
            fail(
                Exit::Check,
                format!(
                    "the API refused the token: HTTP {} ({said}){tracking}.{needed} The token has {have}. {fix}",
                    resp.status
                ),
            )
        }
        400..=499 => fail(
            Exit::Usage,
            format!(
                "the API refused the request: HTTP {} ({said}){tracking}; check the path, --method and --data",
                resp.status
            ),
        ),
        _ => fail(
            Exit::Network,
            format!("the API answered HTTP {} ({said}){tracking}", resp.status),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_join_the_base() {
        let b = Url::parse("https://api.securitycenter.microsoft.com").unwrap();
        assert_eq!(
            target_url(&b, "/api/alerts?$top=1").unwrap().as_str(),
            "https://api.securitycenter.microsoft.com/api/alerts?$top=1"
        );
        let s = Url::parse("http://127.0.0.1:9/prefix/").unwrap();
        assert_eq!(
            target_url(&s, "/api/x").unwrap().as_str(),
            "http://127.0.0.1:9/prefix/api/x"
        );
        assert!(target_url(&b, "api/alerts").is_err());
        assert!(target_url(&b, "http://evil.example.com/api").is_err());
        let e = target_url(&b, "https://u:secret-pw-123@api.example.com/api").unwrap_err();
        assert!(
            e.to_string()
                .contains("must not contain a user name or password"),
            "{e}"
        );
        assert!(!e.to_string().contains("secret-pw"), "{e}");
    }
}
