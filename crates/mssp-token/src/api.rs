//! `mssp-token api`: a Defender API call with a token: the cloud's API host (Defender for
//! Endpoint, or XDR with --xdr), @odata.nextLink paging with --all, 429 Retry-After within a
//! bounded budget, and 401/403 explained (which role is missing).

use crate::authority::{is_loopback_host, printable};
use crate::cli::ApiArgs;
use crate::error::{fail, usage, Exit};
use crate::http::Http;
use crate::jwt::Jwt;
use crate::token::Target;
use anyhow::Result;
use serde_json::Value;
use url::Url;

/// The application permission each API needs, for explaining a 403.
const ROLES_BY_PATH: &[(&str, &str)] = &[
    ("/api/alerts", "Alert.Read.All (or Alert.ReadWrite.All)"),
    (
        "/api/incidents",
        "Incident.Read.All (or Incident.ReadWrite.All)",
    ),
    (
        "/api/machines",
        "Machine.Read.All (or Machine.ReadWrite.All)",
    ),
    ("/api/advancedqueries", "AdvancedQuery.Read.All"),
    ("/api/advancedhunting", "AdvancedHunting.Read.All"),
    ("/api/vulnerabilities", "Vulnerability.Read.All"),
    ("/api/indicators", "Ti.ReadWrite.All"),
];

pub async fn run(args: ApiArgs) -> Result<()> {
    let base = base_url(&args)?;
    let url = target_url(&base, &args.path)?;
    let method = reqwest::Method::from_bytes(args.method.trim().to_ascii_uppercase().as_bytes())
        .map_err(|_| {
            usage(format!(
                "--method '{}' is not an HTTP method",
                printable(&args.method)
            ))
        })?;
    let body = read_data(args.data.as_deref())?;
    let mut http = Http::new(args.identity.ca_file.as_deref())?;
    http.retry.retry_server_errors = method == reqwest::Method::GET;
    let token = token(&http, &args).await?;
    crate::redacted::register(&token);

    let mut next = Some(url.clone());
    let mut pages = 0u32;
    let mut merged: Option<Value> = None;
    while let Some(u) = next.take() {
        pages += 1;
        let mut req = http
            .request(method.clone(), u.as_str())
            .bearer_auth(&token)
            .header("Accept", "application/json");
        if let Some(b) = &body {
            req = req
                .header("Content-Type", "application/json")
                .body(b.clone());
        }
        crate::log::verbose(&format!("{method} {u}"));
        let resp = http.send_with_retries(req).await?;
        if !(200..300).contains(&resp.status) {
            return Err(explain(&resp, &u, &token));
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
        if !args.all {
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
            if pages >= args.max_pages {
                crate::log::warn(&format!(
                    "stopped after {pages} pages (--max-pages); more remain"
                ));
                break;
            }
            next = Some(l);
        }
    }
    if let Some(v) = merged.as_mut() {
        if args.all {
            if let Some(o) = v.as_object_mut() {
                o.remove("@odata.nextLink");
            }
        }
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    }
    Ok(())
}

fn base_url(args: &ApiArgs) -> Result<Url> {
    if let Some(b) = &args.base_url {
        let u = Url::parse(b.trim())
            .map_err(|e| usage(format!("--base-url '{}' is not a URL ({e})", printable(b))))?;
        check_scheme(&u, "--base-url")?;
        return Ok(u);
    }
    let host = if args.xdr {
        xdr_host(args.identity.cloud)
    } else {
        args.identity.cloud.defender_api()
    };
    let host = host.ok_or_else(|| {
        usage("the Defender APIs are not offered in this cloud; pass --base-url if you have an endpoint")
    })?;
    Ok(Url::parse(host).expect("built-in host is a URL"))
}

fn xdr_host(cloud: crate::authority::Cloud) -> Option<&'static str> {
    match cloud {
        crate::authority::Cloud::Public => Some("https://api.security.microsoft.com"),
        crate::authority::Cloud::Usgov => Some("https://api-gov.security.microsoft.us"),
        crate::authority::Cloud::China => None,
    }
}

pub fn check_scheme(u: &Url, what: &str) -> Result<()> {
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
        let u = Url::parse(path)
            .map_err(|e| usage(format!("'{}' is not a URL ({e})", printable(path))))?;
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

fn read_data(data: Option<&str>) -> Result<Option<Vec<u8>>> {
    let Some(d) = data else { return Ok(None) };
    let bytes = if let Some(path) = d.strip_prefix('@') {
        std::fs::read(path).map_err(|e| {
            usage(format!(
                "--data @{path}: cannot read it ({})",
                crate::credentials::io_reason(&e)
            ))
        })?
    } else {
        d.as_bytes().to_vec()
    };
    serde_json::from_slice::<Value>(&bytes)
        .map_err(|e| usage(format!("--data is not valid JSON ({e})")))?;
    Ok(Some(bytes))
}

async fn token(http: &Http, args: &ApiArgs) -> Result<String> {
    if let Some(path) = &args.token_file {
        return crate::storage::read_access_token(path, "--token-file");
    }
    let scope = if args.xdr {
        "https://api.security.microsoft.com/.default"
    } else {
        crate::identity::DEFENDER_DEFAULT_SCOPE
    };
    let id = crate::identity::resolve(&args.identity, &Target::Scopes(vec![scope.to_string()]))?;
    crate::client_credentials::check_app_only(&id)?;
    let set = if args.no_cache {
        crate::client_credentials::acquire(http, &id).await?
    } else {
        crate::client_credentials::cached(http, &id).await?
    };
    Ok(set.access_token)
}

pub fn explain(resp: &crate::http::Response, url: &Url, token: &str) -> anyhow::Error {
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
            let roles = Jwt::decode(token).map(|j| j.roles()).unwrap_or_default();
            let needed = ROLES_BY_PATH
                .iter()
                .find(|(p, _)| url.path().to_ascii_lowercase().starts_with(p))
                .map(|(_, r)| format!(" {} needs {r}.", url.path()))
                .unwrap_or_default();
            let have = if roles.is_empty() {
                "no roles".to_string()
            } else {
                roles.join(", ")
            };
            fail(
                Exit::Check,
                format!(
                    "the API refused the token: HTTP {} ({said}){tracking}.{needed} The token has {have}. Add the application permission, grant admin consent in the customer's tenant, and get a new token (--no-cache)",
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
    }
}
