//! The loopback listener that catches the redirect from the sign-in page.
//!
//! It binds 127.0.0.1 and ::1 on the same port (browsers may resolve "localhost" to either),
//! never any other address. It answers only the redirect path, only with the exact state this
//! run sent, and only once; anything else gets a 400 or 404 and the wait goes on.

use crate::error::{fail, usage, Exit};
use crate::redirect::{self, Redirect};
use anyhow::Result;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_http::{Header, Response, Server};

/// A bound listener. Dropping it stops its threads and frees the port.
pub struct Listener {
    servers: Vec<Arc<Server>>,
    port: u16,
    path: String,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Listener {
    /// Binds `port` (or a free one) on 127.0.0.1 and ::1. `path` is the redirect URI's path.
    pub fn bind(port: Option<u16>, path: &str) -> Result<Listener> {
        let tries = if port.is_some() { 1 } else { 8 };
        let mut last_err = None;
        for _ in 0..tries {
            match bind_pair(port.unwrap_or(0)) {
                Ok((servers, port)) => {
                    return Ok(Listener {
                        servers,
                        port,
                        path: path.to_string(),
                        stop: Arc::new(AtomicBool::new(false)),
                        threads: Vec::new(),
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        let e = last_err.expect("at least one try");
        Err(match (port, e.kind()) {
            (Some(p), std::io::ErrorKind::AddrInUse) => usage(format!(
                "port {p} is already in use on 127.0.0.1 or ::1 by another program; pick another --port, or leave it out to use a free port"
            )),
            (Some(p), std::io::ErrorKind::PermissionDenied) => usage(format!(
                "port {p}: not allowed to listen on it (ports below 1024 need privileges); pick a port above 1024"
            )),
            _ => fail(
                Exit::Internal,
                format!("cannot listen on loopback for the sign-in redirect: {e}"),
            ),
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The addresses actually listened on.
    pub fn addresses(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| s.server_addr().to_string())
            .collect()
    }

    /// Starts answering requests; each accepted redirect (state checked) arrives on the channel.
    pub fn start(
        &mut self,
        expected_state: String,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Redirect> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let done = Arc::new(AtomicBool::new(false));
        for server in &self.servers {
            let server = server.clone();
            let stop = self.stop.clone();
            let done = done.clone();
            let tx = tx.clone();
            let ctx = Ctx {
                path: self.path.clone(),
                state: expected_state.clone(),
                port: self.port,
            };
            self.threads.push(std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match server.recv_timeout(Duration::from_millis(100)) {
                        Ok(Some(req)) => handle(req, &ctx, &done, &tx),
                        Ok(None) => {}
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            }));
        }
        rx
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for s in &self.servers {
            s.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn bind_pair(port: u16) -> std::io::Result<(Vec<Arc<Server>>, u16)> {
    let v4 = Server::http(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)).map_err(to_io)?;
    let port = v4
        .server_addr()
        .to_ip()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("listener has no IP address"))?;
    let mut servers = vec![Arc::new(v4)];
    match Server::http(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)) {
        Ok(v6) => servers.push(Arc::new(v6)),
        Err(e) => {
            let e = to_io(e);
            if e.kind() == std::io::ErrorKind::AddrInUse {
                return Err(e);
            }
            // No IPv6 on this machine: 127.0.0.1 alone will do.
            crate::verbose!("not listening on [::1]:{port} ({e}); 127.0.0.1 only");
        }
    }
    Ok((servers, port))
}

fn to_io(e: Box<dyn std::error::Error + Send + Sync>) -> std::io::Error {
    match e.downcast::<std::io::Error>() {
        Ok(io) => *io,
        Err(other) => std::io::Error::other(other.to_string()),
    }
}

const MAX_URL: usize = 16 * 1024;
const MAX_HEADERS: usize = 100;
const MAX_HEADER_BYTES: usize = 32 * 1024;

struct Ctx {
    path: String,
    state: String,
    port: u16,
}

fn handle(
    req: tiny_http::Request,
    ctx: &Ctx,
    done: &AtomicBool,
    tx: &tokio::sync::mpsc::UnboundedSender<Redirect>,
) {
    // Entra's redirects are a few KiB; anything much larger is not one.
    if req.url().len() > MAX_URL {
        return respond(
            req,
            414,
            &page(
                "Refused",
                "The request line is too long for a sign-in response.",
            ),
        );
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|h| h.field.as_str().as_str().len() + h.value.as_str().len() + 4)
        .sum();
    if req.headers().len() > MAX_HEADERS || header_bytes > MAX_HEADER_BYTES {
        return respond(
            req,
            431,
            &page(
                "Refused",
                "The request headers are too large for a sign-in response.",
            ),
        );
    }
    let url = req.url().to_string();
    let (path, query) = match url.split_once('?') {
        Some((p, q)) => (p, q),
        None => (url.as_str(), ""),
    };
    if !host_is_loopback(&req, ctx.port) {
        // DNS rebinding: a web page on another name must not reach this listener.
        return respond(
            req,
            400,
            &page(
                "Refused",
                "This listener answers only http://localhost, 127.0.0.1 and [::1].",
            ),
        );
    }
    if path != ctx.path {
        return respond(
            req,
            404,
            &page(
                "Not found",
                "This is mssp-token's sign-in listener; nothing is served here.",
            ),
        );
    }
    if *req.method() != tiny_http::Method::Get {
        return respond(
            req,
            405,
            &page(
                "Method not allowed",
                "Only the sign-in redirect (GET) is accepted.",
            ),
        );
    }
    let parsed = match redirect::parse_query(query) {
        Ok(r) => r,
        Err(why) => {
            crate::verbose!("refused a request on the listener: {why}");
            return respond(
                req,
                400,
                &page(
                    "Not a sign-in response",
                    &format!(
                        "mssp-token refused this request: {why}. The sign-in is still waiting."
                    ),
                ),
            );
        }
    };
    let checked = match redirect::check_state(parsed, &ctx.state) {
        Ok(r) => r,
        Err(why) => {
            crate::warn!("refused a redirect on the listener: {why}");
            return respond(
                req,
                400,
                &page(
                    "Sign-in response refused",
                    &format!(
                        "mssp-token refused this response: {why}. The sign-in is still waiting."
                    ),
                ),
            );
        }
    };
    if done.swap(true, Ordering::SeqCst) {
        return respond(
            req,
            409,
            &page(
                "Already finished",
                "mssp-token already received the response of this sign-in; this one was refused.",
            ),
        );
    }
    let body = match &checked {
        Redirect::Code { .. } => page(
            "Signed in",
            "mssp-token received the authorization code and is finishing in the terminal. You can close this tab.",
        ),
        Redirect::Consent { tenant, .. } => page(
            "Consent granted",
            &format!(
                "Admin consent was granted for tenant {}. mssp-token has the result; you can close this tab.",
                tenant.as_deref().unwrap_or("(not reported)")
            ),
        ),
        Redirect::Error { error, .. } => {
            let (meaning, fix) = crate::entra::errors::explain(error.code, &error.error, error.subcode.as_deref());
            let code = error.code.map(|c| format!("AADSTS{c} ")).unwrap_or_default();
            page(
                "Sign-in failed",
                &format!(
                    "{code}({}): {}. {meaning}; {fix}. Details are in the terminal.",
                    error.error,
                    error.description.as_deref().unwrap_or("")
                ),
            )
        }
    };
    let status = if matches!(checked, Redirect::Error { .. }) {
        400
    } else {
        200
    };
    let _ = tx.send(checked);
    respond(req, status, &body);
}

fn host_is_loopback(req: &tiny_http::Request, port: u16) -> bool {
    let host = req
        .headers()
        .iter()
        .find(|h| h.field.equiv("Host"))
        .map(|h| h.value.as_str().to_ascii_lowercase());
    match host {
        // HTTP/1.0 clients may send no Host header; they reached a loopback socket anyway.
        None => true,
        Some(h) => {
            let name = h
                .strip_suffix(&format!(":{port}"))
                .unwrap_or(&h)
                .to_string();
            matches!(name.as_str(), "localhost" | "127.0.0.1" | "[::1]")
        }
    }
}

fn respond(req: tiny_http::Request, status: u16, body: &str) {
    let headers = [
        "Content-Type: text/html; charset=utf-8",
        "Cache-Control: no-store",
        "Referrer-Policy: no-referrer",
        "X-Content-Type-Options: nosniff",
        "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'",
        "Connection: close",
    ];
    let mut resp = Response::from_string(body).with_status_code(status);
    for h in headers {
        if let Ok(h) = h.parse::<Header>() {
            resp = resp.with_header(h);
        }
    }
    let _ = req.respond(resp);
}

/// A small self-contained page; `text` is HTML-escaped.
pub fn page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t} — mssp-token</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}}h1{{font-size:1.4em}}</style></head>\
<body><h1>{t}</h1><p id=\"message\">{m}</p><p><small>mssp-token sign-in listener</small></p></body></html>",
        t = escape_html(title),
        m = escape_html(text)
    )
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_script() {
        let p = page("x", "<script>alert(1)</script>");
        assert!(!p.contains("<script>"));
        assert!(p.contains("&lt;script&gt;"));
    }

    #[test]
    fn binds_both_loopbacks_and_frees_the_port() {
        let l = Listener::bind(None, "/cb").unwrap();
        let port = l.port();
        assert!(l
            .addresses()
            .iter()
            .all(|a| a.starts_with("127.0.0.1") || a.starts_with("[::1]")));
        drop(l);
        // Free again soon after (tiny_http's accept thread closes the socket as it wakes).
        let mut again = Listener::bind(Some(port), "/cb");
        for _ in 0..50 {
            if again.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
            again = Listener::bind(Some(port), "/cb");
        }
        assert_eq!(again.unwrap().port(), port);
    }

    #[test]
    fn port_in_use_is_a_usage_error() {
        let l = Listener::bind(None, "/cb").unwrap();
        let e = Listener::bind(Some(l.port()), "/cb").err().unwrap();
        assert_eq!(crate::error::exit_code_of(&e), 2);
        assert!(e.to_string().contains("already in use"), "{e}");
    }
}
