//! The one HTTP client: timeouts, extra trusted CAs, proxies from the environment but never for
//! loopback (`proxy.rs`), no redirects, a cap on response size, and bounded retries on 429 / 5xx
//! / connection errors that honour Retry-After in seconds or as an HTTP-date (`retry_after.rs`).

mod proxy;
mod retry_after;

use crate::error::{fail, usage, Exit};
use anyhow::Result;
use std::path::Path;
use std::time::Duration;

/// Responses larger than this are refused: a token response is a few KiB.
pub const MAX_BODY: usize = 4 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const TOTAL_TIMEOUT: Duration = Duration::from_secs(30);

/// The connect and total timeouts: 10 s and 30 s, or MSSP_TOKEN_CONNECT_TIMEOUT and
/// MSSP_TOKEN_TIMEOUT (seconds) for slow links and for tests.
fn timeouts() -> (Duration, Duration) {
    let env = |name: &str, default: Duration| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|s| *s > 0.0 && *s <= 3600.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(default)
    };
    (
        env("MSSP_TOKEN_CONNECT_TIMEOUT", CONNECT_TIMEOUT),
        env("MSSP_TOKEN_TIMEOUT", TOTAL_TIMEOUT),
    )
}

/// Retry policy for one logical request.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub base_delay: Duration,
    /// Total time the retries may wait, Retry-After included.
    pub budget: Duration,
    /// Retry 5xx and connection errors too (idempotent requests); otherwise only 429.
    pub retry_server_errors: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            base_delay: Duration::from_millis(500),
            budget: Duration::from_secs(60),
            retry_server_errors: true,
        }
    }
}

/// A response read whole (up to [`MAX_BODY`]).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    /// The body went over [`MAX_BODY`] and was cut.
    pub truncated: bool,
    pub content_type: Option<String>,
    /// How long the server asked to wait (Retry-After), at most [`retry_after::LONGEST`].
    pub retry_after: Option<Duration>,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    /// A description of the body that is safe to print: its type and size, and for HTML the
    /// page title (a proxy's or a captive portal's error page). Never the body itself, which
    /// might hold a token.
    pub fn describe_body(&self) -> String {
        let ct = self.content_type.as_deref().unwrap_or("no content type");
        if self.body.is_empty() {
            return format!("an empty body, {ct}");
        }
        let text = String::from_utf8_lossy(&self.body);
        if ct.contains("html") || text.trim_start().starts_with('<') {
            if let Some(title) = html_title(&text) {
                return format!(
                    "an HTML page titled \"{}\", {} bytes",
                    crate::authority::printable(&title),
                    self.body.len()
                );
            }
            return format!("an HTML page, {} bytes", self.body.len());
        }
        format!("{} bytes of {ct}", self.body.len())
    }
}

/// " (temporarily_unavailable, AADSTS90033)" from an Entra or Defender error body, if any.
fn error_hint(r: &Response) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&r.body) else {
        return format!(", {}", r.describe_body());
    };
    let error = v
        .get("error")
        .and_then(|e| {
            e.as_str()
                .or_else(|| e.get("code").and_then(|c| c.as_str()))
        })
        .map(crate::authority::printable);
    let codes = v
        .get("error_codes")
        .and_then(|c| c.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_u64())
                .take(8)
                .map(|c| format!("AADSTS{c}"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let parts: Vec<String> = error.into_iter().chain(codes).collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join(", "))
    }
}

fn html_title(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("<title>")? + 7;
    let end = lower[start..].find("</title>")? + start;
    Some(text[start..end].trim().to_string())
}

pub use crate::rate_limit::RateLimiter;

/// The shared HTTP client.
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    pub retry: RetryPolicy,
    pub limiter: Option<std::sync::Arc<RateLimiter>>,
    /// Answers larger than this are refused ([`MAX_BODY`] unless a caller reading pages of
    /// records raises it).
    pub max_body: usize,
}

impl Http {
    /// Builds the client; `ca_file` adds trusted roots (corporate TLS inspection, sandbox --tls).
    pub fn new(ca_file: Option<&Path>) -> Result<Http> {
        let (connect, total) = timeouts();
        // Redirects are never followed: a token POST that is redirected must be reported, not
        // re-sent (with the secret in it) to wherever the Location header points.
        let builder = reqwest::Client::builder()
            .connect_timeout(connect)
            .timeout(total)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mssp-token/", env!("CARGO_PKG_VERSION")));
        let mut builder = proxy::from_env(builder);
        if let Some(path) = ca_file {
            let pem = std::fs::read(path).map_err(|e| {
                usage(format!(
                    "{}: cannot read it ({e}); give a PEM file with the CA certificate(s) to trust",
                    path.display()
                ))
            })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|_| {
                usage(format!(
                    "{}: not a PEM certificate bundle (expected -----BEGIN CERTIFICATE----- blocks)",
                    path.display()
                ))
            })?;
            if certs.is_empty() {
                return Err(usage(format!(
                    "{}: holds no certificate (expected -----BEGIN CERTIFICATE----- blocks)",
                    path.display()
                )));
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| {
            fail(
                Exit::Internal,
                format!("cannot set up the HTTP client: {e}"),
            )
        })?;
        Ok(Http {
            client,
            retry: RetryPolicy::default(),
            limiter: None,
            max_body: MAX_BODY,
        })
    }

    /// A request builder on the shared client (for the Defender API).
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.client.request(method, url)
    }

    pub async fn get(&self, url: &str) -> Result<Response> {
        let req = self.client.get(url).header("Accept", "application/json");
        self.send_with_retries(req).await
    }

    /// Sends a request built by the caller, with the retry policy.
    pub async fn send_with_retries(&self, req: reqwest::RequestBuilder) -> Result<Response> {
        self.send_detailed(req).await.map_err(|e| e.error)
    }

    /// [`Self::send_with_retries`], saying on failure whether the last request may have reached
    /// the server.
    async fn send_detailed(&self, req: reqwest::RequestBuilder) -> Result<Response, SendError> {
        let started = std::time::Instant::now();
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let this = req.try_clone().ok_or_else(|| SendError {
                error: fail(Exit::Internal, "request body cannot be retried"),
                may_have_arrived: false,
            })?;
            let outcome = self.send_once(this).await;
            let retry_in = match &outcome {
                Ok(r) if r.status == 429 || (r.status >= 500 && self.retry.retry_server_errors) => {
                    Some(
                        r.retry_after
                            .unwrap_or_else(|| backoff(self.retry.base_delay, attempt)),
                    )
                }
                Ok(_) => None,
                // A connection never made carried nothing: always safe to try again.
                Err(e) if is_retryable(e) && (self.retry.retry_server_errors || e.is_connect()) => {
                    Some(backoff(self.retry.base_delay, attempt))
                }
                Err(_) => None,
            };
            let within_budget = |wait: Duration| {
                started
                    .elapsed()
                    .checked_add(wait)
                    .is_some_and(|t| t <= self.retry.budget)
            };
            match retry_in {
                Some(wait) if attempt < self.retry.attempts && within_budget(wait) => {
                    let what = match &outcome {
                        Ok(r) => format!("HTTP {}", r.status),
                        Err(e) => e.to_string(),
                    };
                    crate::verbose!(
                        "attempt {attempt} failed ({what}); retrying in {} ms",
                        wait.as_millis()
                    );
                    tokio::time::sleep(wait).await;
                }
                _ => {
                    let spent = format!(
                        "after {attempt} attempt(s) over {} s",
                        started.elapsed().as_secs()
                    );
                    let asked = |r: &Response| {
                        match r.retry_after {
                        Some(w) if !within_budget(w) => format!(
                            "; the service asked to wait {} s (Retry-After), beyond the retry budget of {} s",
                            w.as_secs(),
                            self.retry.budget.as_secs()
                        ),
                        _ => String::new(),
                    }
                    };
                    let failed = |error, may_have_arrived| {
                        Err(SendError {
                            error,
                            may_have_arrived,
                        })
                    };
                    return match outcome {
                        Ok(r) if r.status == 429 => failed(
                            fail(
                                Exit::Network,
                                format!(
                                    "throttled: HTTP 429 {spent}{}; wait a while and run again, or lower the request rate",
                                    asked(&r)
                                ),
                            ),
                            false,
                        ),
                        Ok(r) if r.truncated => failed(
                            fail(
                                Exit::Network,
                                format!(
                                    "the answer (HTTP {}) is larger than {} MiB and was refused; a token or API answer is far smaller, so something other than the service is answering (check --authority, HTTPS_PROXY and NO_PROXY)",
                                    r.status,
                                    self.max_body / (1024 * 1024)
                                ),
                            ),
                            true,
                        ),
                        Ok(r) if r.status >= 500 && self.retry.retry_server_errors => failed(
                            fail(
                                Exit::Network,
                                format!(
                                    "the service answered HTTP {}{} {spent}{}; it is having trouble: try again later",
                                    r.status,
                                    error_hint(&r),
                                    asked(&r)
                                ),
                            ),
                            true,
                        ),
                        Ok(r) => Ok(r),
                        Err(e) => failed(network_error(&e), !e.is_connect()),
                    };
                }
            }
        }
    }

    async fn send_once(&self, req: reqwest::RequestBuilder) -> Result<Response, reqwest::Error> {
        if let Some(l) = &self.limiter {
            l.wait().await;
        }
        let mut resp = req.send().await?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let content_type = headers
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = headers
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry_after::parse(v, std::time::SystemTime::now()));
        let mut body = Vec::new();
        let mut truncated = false;
        while let Some(chunk) = resp.chunk().await? {
            if body.len() + chunk.len() > self.max_body {
                truncated = true;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            truncated,
            content_type,
            retry_after,
            headers,
            body,
        })
    }

    /// The adapter through which oauth2 sends its requests: our client, our retries, our limits.
    pub async fn oauth2_call(
        &self,
        request: oauth2::HttpRequest,
    ) -> Result<oauth2::HttpResponse, HttpCallError> {
        let (parts, body) = request.into_parts();
        let mut req = self
            .client
            .request(parts.method, parts.uri.to_string())
            .body(body);
        for (name, value) in parts.headers.iter() {
            req = req.header(name, value);
        }
        crate::verbose!("POST {}", parts.uri);
        let resp = self.send_detailed(req).await.map_err(|e| HttpCallError {
            error: e.error,
            may_have_arrived: e.may_have_arrived,
        })?;
        if (300..400).contains(&resp.status) {
            let to = redirect_target(&parts.uri.to_string(), &resp.headers);
            return Err(HttpCallError {
                error: fail(
                    Exit::Network,
                    format!(
                        "the token endpoint redirected (HTTP {}) to {to} instead of answering; the request was not sent there. A proxy, captive portal or wrong --authority is in the way; check --authority, HTTPS_PROXY and NO_PROXY",
                        resp.status
                    ),
                ),
                may_have_arrived: false,
            });
        }
        let mut builder = oauth2::http::Response::builder().status(resp.status);
        for (name, value) in resp.headers.iter() {
            builder = builder.header(name, value);
        }
        builder.body(resp.body).map_err(|e| HttpCallError {
            error: fail(Exit::Internal, format!("bad HTTP response: {e}")),
            may_have_arrived: true,
        })
    }
}

/// A failed send: the error, and whether the last request may have reached the server (a
/// server error, a lost or timed-out connection) or surely did not (a refused connection, a 429,
/// a redirect).
struct SendError {
    error: anyhow::Error,
    may_have_arrived: bool,
}

/// The error type oauth2 carries back from [`Http::oauth2_call`].
#[derive(Debug)]
pub struct HttpCallError {
    pub error: anyhow::Error,
    /// The request may have been processed (see [`SendError`]): a single-use code may be spent.
    pub may_have_arrived: bool,
}

impl std::fmt::Display for HttpCallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)
    }
}

/// Where a redirect points, safe to print: the Location resolved against the request URL,
/// without user info, query or fragment (they may carry codes or secrets), at most 80
/// characters.
pub fn redirect_target(request_url: &str, headers: &reqwest::header::HeaderMap) -> String {
    let Some(location) = headers
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
    else {
        return "nowhere (no Location header)".to_string();
    };
    let resolved = url::Url::parse(request_url)
        .ok()
        .and_then(|base| base.join(location.trim()).ok());
    match resolved {
        Some(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.set_query(None);
            u.set_fragment(None);
            crate::authority::printable(u.as_str())
        }
        None => "an address that is not a URL".to_string(),
    }
}

impl std::error::Error for HttpCallError {}

fn backoff(base: Duration, attempt: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(6));
    let jitter = rand::random::<f64>() * 0.5 + 0.75; // 75% .. 125%
    exp.mul_f64(jitter)
}

fn is_retryable(e: &reqwest::Error) -> bool {
    (e.is_connect() || e.is_timeout() || e.is_request()) && !is_tls(e)
}

fn is_tls(e: &reqwest::Error) -> bool {
    let mut source: Option<&dyn std::error::Error> = Some(e);
    while let Some(s) = source {
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
            return true;
        }
        source = s.source();
    }
    false
}

/// Turns a transport error into a message that says what to check.
pub fn network_error(e: &reqwest::Error) -> anyhow::Error {
    let host = e
        .url()
        .map(|u| {
            format!("{}://{}", u.scheme(), u.host_str().unwrap_or("?"))
                + &u.port().map(|p| format!(":{p}")).unwrap_or_default()
        })
        .unwrap_or_else(|| "the server".to_string());
    let mut detail = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    let msg = if is_tls(e) {
        format!(
            "TLS with {host} failed: the server's certificate is not trusted ({detail}). If your network inspects TLS (a corporate proxy), trust its CA with --ca-file PEM or SSL_CERT_FILE; for the sandbox with --tls, pass its ca_file"
        )
    } else if e.is_timeout() {
        let (connect, total) = timeouts();
        format!("{host} did not answer in time (connect timeout {} s, total {} s); check the network, proxy (HTTPS_PROXY, NO_PROXY) and --authority", connect.as_secs_f64(), total.as_secs_f64())
    } else if e.is_connect() {
        format!("cannot reach {host} ({detail}); check the network, proxy (HTTPS_PROXY, NO_PROXY), --cloud and --authority")
    } else {
        format!("HTTP request to {host} failed ({detail})")
    };
    fail(Exit::Network, msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_html_without_dumping_it() {
        let r = Response {
            status: 502,
            truncated: false,
            content_type: Some("text/html".into()),
            retry_after: None,
            headers: Default::default(),
            body: b"<html><head><title>Bad Gateway</title></head><body>secret</body></html>"
                .to_vec(),
        };
        let d = r.describe_body();
        assert!(d.contains("Bad Gateway"), "{d}");
        assert!(!d.contains("secret"), "{d}");
    }

    #[test]
    fn backoff_grows() {
        let b = Duration::from_millis(100);
        assert!(backoff(b, 1) <= Duration::from_millis(125));
        assert!(backoff(b, 4) >= Duration::from_millis(600));
    }
}
