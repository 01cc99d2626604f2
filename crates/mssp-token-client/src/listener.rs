//! The loopback listener that catches the redirect from the sign-in page.
//!
//! It binds 127.0.0.1 and ::1 on the same port (browsers may resolve "localhost" to either),
//! never any other address. It answers only the redirect path, only with the exact state this
//! run sent, and only once; anything else gets a 400 or 404 and the wait goes on.
//!
//! Any local user can connect to it, so no connection may hold it up: each is served on a
//! thread of its own, reads one request head within a byte budget and a deadline, gets one
//! answer written within a deadline, and is closed (http1.rs). At most [`MAX_CONNECTIONS`] are
//! open at once; a new one evicts the oldest, so connections held open cannot lock the
//! redirect out. Stopping never waits on a connection: they are shut down, not joined.

mod http1;

use crate::error::{fail, usage, Exit};
use crate::redirect::{self, Redirect};
use anyhow::Result;
use http1::{Head, LIMITS};
use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::UnboundedSender;

/// Connections served at once (both addresses together); the oldest is closed to admit another.
/// Every local peer has the same loopback address, so a per-peer bound would be the same bound.
const MAX_CONNECTIONS: usize = 64;
/// A connection's thread needs little: one 4 KiB read buffer and a page to format.
const CONNECTION_STACK: usize = 256 * 1024;
/// How often an idle accept loop looks for new connections and for the stop signal.
const ACCEPT_POLL: Duration = Duration::from_millis(20);
/// Refusals reported in the terminal (a local process could send thousands).
const REFUSALS_SHOWN: usize = 3;

/// A bound listener. Dropping it stops accepting, closes every open connection and frees the
/// port, without waiting on any client.
pub struct Listener {
    sockets: Vec<Arc<TcpListener>>,
    port: u16,
    path: String,
    shared: Arc<Shared>,
    accept_threads: Vec<JoinHandle<()>>,
}

/// What the accept loops and the connections share with the owner.
struct Shared {
    stop: AtomicBool,
    open: Mutex<Open>,
}

/// The open connections, oldest first, with a handle each to shut it down.
#[derive(Default)]
struct Open {
    next_id: u64,
    conns: VecDeque<(u64, TcpStream)>,
}

impl Shared {
    /// Registers a connection; when full, shuts the oldest down. None if it cannot be tracked.
    fn admit(&self, conn: &TcpStream) -> Option<u64> {
        let handle = conn.try_clone().ok()?;
        let mut open = self.open.lock().ok()?;
        while open.conns.len() >= MAX_CONNECTIONS {
            if let Some((_, oldest)) = open.conns.pop_front() {
                let _ = oldest.shutdown(Shutdown::Both);
            }
        }
        open.next_id += 1;
        let id = open.next_id;
        open.conns.push_back((id, handle));
        Some(id)
    }

    fn release(&self, id: u64) {
        if let Ok(mut open) = self.open.lock() {
            open.conns.retain(|(i, _)| *i != id);
        }
    }

    fn close_all(&self) {
        if let Ok(mut open) = self.open.lock() {
            for (_, c) in open.conns.drain(..) {
                let _ = c.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Listener {
    /// Binds `port` (or a free one) on 127.0.0.1 and ::1. `path` is the redirect URI's path.
    pub fn bind(port: Option<u16>, path: &str) -> Result<Listener> {
        let tries = if port.is_some() { 1 } else { 8 };
        let mut last_err = None;
        for _ in 0..tries {
            match bind_pair(port.unwrap_or(0)) {
                Ok((sockets, port)) => {
                    return Ok(Listener {
                        sockets,
                        port,
                        path: path.to_string(),
                        shared: Arc::new(Shared {
                            stop: AtomicBool::new(false),
                            open: Mutex::new(Open::default()),
                        }),
                        accept_threads: Vec::new(),
                    })
                }
                Err(e) => last_err = Some(e),
            }
        }
        let e = last_err.expect("at least one try");
        Err(match (port, e.kind()) {
            (Some(p), ErrorKind::AddrInUse) => usage(format!(
                "port {p} is already in use on 127.0.0.1 or ::1 by another program; pick another --port, or leave it out to use a free port"
            )),
            (Some(p), ErrorKind::PermissionDenied) => usage(format!(
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
        self.sockets
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .map(|a| a.to_string())
            .collect()
    }

    /// Starts answering requests; each accepted redirect (state checked) arrives on the channel.
    pub fn start(
        &mut self,
        expected_state: String,
    ) -> tokio::sync::mpsc::UnboundedReceiver<Redirect> {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let ctx = Arc::new(Ctx {
            path: self.path.clone(),
            state: expected_state,
            port: self.port,
            done: AtomicBool::new(false),
            tx,
            warned: AtomicUsize::new(0),
            noted: AtomicUsize::new(0),
        });
        for socket in &self.sockets {
            if let Err(e) = socket.set_nonblocking(true) {
                crate::warn!("the sign-in listener cannot poll its socket ({e}); paste the address instead if the redirect does not arrive");
                continue;
            }
            let socket = socket.clone();
            let shared = self.shared.clone();
            let ctx = ctx.clone();
            self.accept_threads.push(std::thread::spawn(move || {
                accept_loop(&socket, &shared, &ctx)
            }));
        }
        rx
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // The accept loops never block (non-blocking sockets), so they end within a poll; the
        // wait is bounded all the same, and a loop that has not ended is left behind.
        let until = Instant::now() + Duration::from_secs(2);
        for t in self.accept_threads.drain(..) {
            while !t.is_finished() && Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
        self.shared.close_all();
    }
}

fn accept_loop(socket: &TcpListener, shared: &Arc<Shared>, ctx: &Arc<Ctx>) {
    while !shared.stop.load(Ordering::SeqCst) {
        match socket.accept() {
            Ok((conn, _)) => {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                serve_on_its_own_thread(conn, shared, ctx);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            // Out of file descriptors and the like: wait for connections to close.
            Err(_) => std::thread::sleep(ACCEPT_POLL * 5),
        }
    }
}

fn serve_on_its_own_thread(conn: TcpStream, shared: &Arc<Shared>, ctx: &Arc<Ctx>) {
    // Some systems hand out accepted sockets with the listener's non-blocking mode.
    if conn.set_nonblocking(false).is_err() {
        return;
    }
    let Some(id) = shared.admit(&conn) else {
        return;
    };
    let (shared2, ctx) = (shared.clone(), ctx.clone());
    let spawned = std::thread::Builder::new()
        .name("mssp-token-redirect".into())
        .stack_size(CONNECTION_STACK)
        .spawn(move || {
            serve(conn, &ctx);
            shared2.release(id);
        });
    if spawned.is_err() {
        // The connection went with the closure and is closed; forget it.
        shared.release(id);
    }
}

fn bind_pair(port: u16) -> std::io::Result<(Vec<Arc<TcpListener>>, u16)> {
    let v4 = TcpListener::bind(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port))?;
    let port = v4.local_addr()?.port();
    let mut sockets = vec![Arc::new(v4)];
    match TcpListener::bind(SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), port)) {
        Ok(v6) => sockets.push(Arc::new(v6)),
        Err(e) if e.kind() == ErrorKind::AddrInUse => return Err(e),
        Err(e) => {
            // No IPv6 on this machine: 127.0.0.1 alone will do.
            crate::verbose!("not listening on [::1]:{port} ({e}); 127.0.0.1 only");
        }
    }
    Ok((sockets, port))
}

/// What every connection of one sign-in needs to know.
struct Ctx {
    path: String,
    state: String,
    port: u16,
    /// A redirect was accepted: later ones get 409.
    done: AtomicBool,
    tx: UnboundedSender<Redirect>,
    /// Refused redirects reported as warnings so far.
    warned: AtomicUsize,
    /// Other refusals reported with --verbose so far.
    noted: AtomicUsize,
}

impl Ctx {
    /// A refused redirect (wrong state): the user should know, a few times.
    fn warn_refused(&self, why: &str) {
        match self.warned.fetch_add(1, Ordering::Relaxed) {
            n if n < REFUSALS_SHOWN => crate::warn!("refused a redirect on the listener: {why}"),
            n if n == REFUSALS_SHOWN => crate::warn!(
                "refused more redirects on the listener (not shown); another local program may be sending them"
            ),
            _ => {}
        }
    }

    /// Any other refused request, for --verbose.
    fn note_refused(&self, why: &str) {
        match self.noted.fetch_add(1, Ordering::Relaxed) {
            n if n < REFUSALS_SHOWN => crate::verbose!("refused a request on the listener: {why}"),
            n if n == REFUSALS_SHOWN => {
                crate::verbose!("refused more requests on the listener (not shown)")
            }
            _ => {}
        }
    }
}

const HEADERS: [&str; 5] = [
    "Content-Type: text/html; charset=utf-8",
    "Cache-Control: no-store",
    "Referrer-Policy: no-referrer",
    "X-Content-Type-Options: nosniff",
    "Content-Security-Policy: default-src 'none'; style-src 'unsafe-inline'",
];

/// One connection: one head, one answer, closed. An accepted redirect is handed over once its
/// page is written (so that stopping the listener cannot cut the page off).
fn serve(mut conn: TcpStream, ctx: &Ctx) {
    let deadline = Instant::now() + LIMITS.head_deadline;
    let (status, body, accepted) = match http1::read_head(&mut conn, &LIMITS, deadline) {
        Ok(head) => decide(&head, ctx),
        Err(refusal) => {
            let Some(status) = refusal.status() else {
                return http1::close(conn);
            };
            ctx.note_refused(&refusal.describe());
            let text = format!(
                "mssp-token refused this request: {}. The sign-in is still waiting.",
                refusal.describe()
            );
            (status, page("Refused", &text), None)
        }
    };
    http1::answer(&mut conn, status, &HEADERS, &body, &LIMITS);
    if let Some(r) = accepted {
        let _ = ctx.tx.send(r);
    }
    http1::close(conn);
}

/// The answer to one request head: status, page, and the redirect if it is the one awaited.
fn decide(req: &Head, ctx: &Ctx) -> (u16, String, Option<Redirect>) {
    let refuse = |status: u16, title: &str, text: &str| (status, page(title, text), None);
    let (path, query) = match req.target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (req.target.as_str(), ""),
    };
    if !host_is_loopback(req, ctx.port) {
        // DNS rebinding: a web page on another name must not reach this listener.
        ctx.note_refused("a Host that is not localhost, 127.0.0.1 or [::1]");
        return refuse(
            400,
            "Refused",
            "This listener answers only http://localhost, 127.0.0.1 and [::1].",
        );
    }
    if path != ctx.path {
        return refuse(
            404,
            "Not found",
            "This is mssp-token's sign-in listener; nothing is served here.",
        );
    }
    if req.method != "GET" {
        return refuse(
            405,
            "Method not allowed",
            "Only the sign-in redirect (GET) is accepted.",
        );
    }
    let parsed = match redirect::parse_query(query) {
        Ok(r) => r,
        Err(why) => {
            ctx.note_refused(&why.to_string());
            return refuse(
                400,
                "Not a sign-in response",
                &format!("mssp-token refused this request: {why}. The sign-in is still waiting."),
            );
        }
    };
    let checked = match redirect::check_state(parsed, &ctx.state) {
        Ok(r) => r,
        Err(why) => {
            ctx.warn_refused(&why.to_string());
            return refuse(
                400,
                "Sign-in response refused",
                &format!("mssp-token refused this response: {why}. The sign-in is still waiting."),
            );
        }
    };
    if ctx.done.swap(true, Ordering::SeqCst) {
        return refuse(
            409,
            "Already finished",
            "mssp-token already received the response of this sign-in; this one was refused.",
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
    (status, body, Some(checked))
}

fn host_is_loopback(req: &Head, port: u16) -> bool {
    match req.single("Host") {
        // Two Host fields: not from a browser.
        Err(()) => false,
        // HTTP/1.0 clients may send no Host header; they reached a loopback socket anyway.
        Ok(None) => true,
        Ok(Some(h)) => {
            let h = h.to_ascii_lowercase();
            let name = h.strip_suffix(&format!(":{port}")).unwrap_or(&h);
            matches!(name, "localhost" | "127.0.0.1" | "[::1]")
        }
    }
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

    /// A listener started in a runtime, as `catch` does.
    fn started(state: &str) -> (Listener, tokio::sync::mpsc::UnboundedReceiver<Redirect>) {
        let mut l = Listener::bind(None, "/cb").unwrap();
        let rx = l.start(state.to_string());
        (l, rx)
    }

    fn get(port: u16, target: &str) -> String {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(s, "GET {target} HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n").unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_client_that_never_reads_does_not_hold_up_the_redirect() {
        use std::io::Write;
        let (l, mut rx) = started("the-state-0123456789");
        let port = l.port();
        // Thousands of pipelined requests on connections that never read their answers.
        let jammers: Vec<TcpStream> = (0..3)
            .map(|_| {
                let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
                s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
                let one = format!(
                    "GET /cb?code=x&state=forged HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"
                );
                let _ = s.write_all(one.repeat(5000).as_bytes());
                s
            })
            .collect();
        // Silent connections, more than the limit.
        let silent: Vec<TcpStream> = (0..MAX_CONNECTIONS + 5)
            .filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok())
            .collect();
        let page = get(
            port,
            "/cb?code=the-code-0123456789&state=the-state-0123456789",
        );
        assert!(page.starts_with("HTTP/1.1 200 "), "{page}");
        assert!(matches!(rx.try_recv(), Ok(Redirect::Code { .. })));
        // Stopping waits on none of them.
        drop(l);
        drop((jammers, silent));
    }

    #[test]
    fn refusals_are_answered_and_the_connection_closed() {
        let (l, mut rx) = started("the-state-0123456789");
        let port = l.port();
        for (target, status) in [
            ("/cb?code=x&state=wrong", "400"),
            ("/other", "404"),
            ("/cb?state=the-state-0123456789", "400"),
        ] {
            let page = get(port, target);
            assert!(
                page.starts_with(&format!("HTTP/1.1 {status} ")),
                "{target}: {page}"
            );
            assert!(page.contains("Connection: close"), "{page}");
        }
        assert!(rx.try_recv().is_err());
        let page = get(
            port,
            &format!("/cb?state=the-state-0123456789&code={}", "A".repeat(20_000)),
        );
        assert!(
            page.is_empty() || page.starts_with("HTTP/1.1 414 "),
            "{page}"
        );
    }

    #[test]
    fn port_in_use_is_a_usage_error() {
        let l = Listener::bind(None, "/cb").unwrap();
        let e = Listener::bind(Some(l.port()), "/cb").err().unwrap();
        assert_eq!(crate::error::exit_code_of(&e), 2);
        assert!(e.to_string().contains("already in use"), "{e}");
    }
}
