//! Proxies from the environment, as curl and reqwest read them (`HTTPS_PROXY`, `HTTP_PROXY`,
//! `ALL_PROXY`, lower-case too, and `NO_PROXY`), except that loopback traffic is never proxied:
//! 127.0.0.0/8, ::1 and localhost always go direct. Plain http is allowed only to loopback (the
//! sandbox, `--port` forwarding), and that traffic carries client secrets and bearer tokens in
//! clear: a proxy must never see it.
//!
//! As in reqwest, `HTTP_PROXY` is ignored when `REQUEST_METHOD` is set (a CGI environment, where
//! a request's `Proxy:` header would become HTTP_PROXY: "httpoxy").

/// Destinations that never go through a proxy, whatever NO_PROXY says.
pub const LOOPBACK: &str = "127.0.0.0/8,::1,::ffff:127.0.0.0/104,localhost";

/// The first set, non-empty value of `names`.
fn env_first(names: &[&str]) -> Option<(String, String)> {
    names.iter().find_map(|n| {
        std::env::var(n)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (n.to_string(), v.trim().to_string()))
    })
}

/// NO_PROXY (or no_proxy) with the loopback destinations added.
fn no_proxy() -> String {
    match env_first(&["NO_PROXY", "no_proxy"]) {
        Some((_, list)) => format!("{list},{LOOPBACK}"),
        None => LOOPBACK.to_string(),
    }
}

/// Sets the client's proxies from the environment (replacing reqwest's own reading of it).
pub fn from_env(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    let mut builder = builder.no_proxy();
    let cgi = std::env::var_os("REQUEST_METHOD").is_some();
    let http = if cgi {
        None
    } else {
        env_first(&["HTTP_PROXY", "http_proxy"])
    };
    let https = env_first(&["HTTPS_PROXY", "https_proxy"]);
    let all = env_first(&["ALL_PROXY", "all_proxy"]);
    type Make = fn(String) -> reqwest::Result<reqwest::Proxy>;
    let kinds: [(Option<(String, String)>, Make); 3] = [
        (http, |u| reqwest::Proxy::http(u)),
        (https, |u| reqwest::Proxy::https(u)),
        (all, |u| reqwest::Proxy::all(u)),
    ];
    for (var, make) in kinds {
        let Some((name, url)) = var else { continue };
        match make(url) {
            Ok(p) => {
                builder = builder.proxy(p.no_proxy(reqwest::NoProxy::from_string(&no_proxy())))
            }
            // Never the value: it may hold a proxy password.
            Err(_) => crate::warn!("{name} is not a proxy URL; ignoring it"),
        }
    }
    builder
}
