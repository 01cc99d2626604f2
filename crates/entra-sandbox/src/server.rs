//! The sandbox's HTTP server: HTTP/1.1 (hyper) on a multi-threaded tokio runtime of its own,
//! plain or TLS (rustls), with keep-alive. One task per connection; a request's handler runs
//! on the runtime's worker threads (`--threads`, default max(8, 4 × cores)), so token signing
//! (RSA, about half a millisecond) runs on every core at once, outside any lock. Added latency
//! and stalls are timers, not sleeping threads, so neither serializes the server.
//!
//! Per request: count it (faults::Stats); for POST token requests and GET /api/* and /v1.0/*
//! (Defender and Graph), wait the added latency, then maybe take a queued tamper spec
//! (tamper.rs; discovery requests too) or else inject a fault (faults.rs); otherwise read the
//! body (bounded), dispatch it (a panic becomes a 500) and answer.
//!
//! The runtime lives on a thread of its own: [`Server::stop`] (and drop) ends it and joins,
//! whatever the caller's context (a plain thread or a tokio task), so a test that drops a
//! sandbox knows its port is closed and its tasks are gone.

use crate::faults::{self, Faults, Kind, PathKind, Stats};
use crate::http::{Req, Resp, MAX_BODY, MAX_URL};
use crate::routes::dispatch;
use crate::state::Inner;
use crate::tamper::{self, Action};
use anyhow::{Context, Result};
use hyper::body::{Body as HttpBody, Bytes, Frame, Incoming, SizeHint};
use hyper::{Request, Response};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};
use tokio_rustls::rustls;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Network behaviour of a sandbox (faults, latency, counters), shared by all connections.
pub struct Net {
    pub faults: Option<Faults>,
    pub stats: Stats,
    pub latency: Duration,
    pub retry_after: u32,
    pub stall: Duration,
    pub threads: usize,
    pub tls: bool,
    pub started: Instant,
    /// Queued tamper specs (tamper.rs).
    pub tampers: crate::tamper::Tampers,
}

impl Net {
    /// GET /sandbox/stats: the counters (faults::Stats::to_json) and "uptime_secs".
    pub fn stats_json(&self) -> serde_json::Value {
        let mut v = self.stats.to_json();
        v["uptime_secs"] = serde_json::json!(self.started.elapsed().as_secs_f64());
        v
    }
}

/// The default worker count: max(8, 4 × available cores).
pub fn default_threads() -> usize {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    (4 * cores).max(8)
}

/// A response body: all at once, or headers now and a body that never comes (stall).
pub enum Body {
    Full(Option<Bytes>),
    Stall {
        sleep: Pin<Box<tokio::time::Sleep>>,
        len: u64,
    },
}

impl HttpBody for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Stall { sleep, .. } => match sleep.as_mut().poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "stalled response abandoned (simulated fault)",
                )))),
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self, Body::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Stall { len, .. } => SizeHint::with_exact(*len),
        }
    }
}

/// The service's error: hyper then closes the connection without answering.
#[derive(Debug)]
struct Reset;

impl std::fmt::Display for Reset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset (simulated fault)")
    }
}

impl std::error::Error for Reset {}

/// The raw socket of a connection, to make its close a TCP reset.
#[derive(Clone, Copy)]
struct Sock(#[cfg(unix)] std::os::unix::io::RawFd);

impl Sock {
    fn of(tcp: &tokio::net::TcpStream) -> Sock {
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            Sock(tcp.as_raw_fd())
        }
        #[cfg(not(unix))]
        {
            let _ = tcp;
            Sock()
        }
    }

    /// SO_LINGER 0: the coming close sends RST instead of FIN (and never blocks).
    fn abort_on_close(self) {
        #[cfg(unix)]
        {
            let l = libc::linger {
                l_onoff: 1,
                l_linger: 0,
            };
            // SAFETY: the fd belongs to the connection whose request is being served (the
            // connection task owns the socket and outlives this call); setsockopt only reads `l`.
            unsafe {
                libc::setsockopt(
                    self.0,
                    libc::SOL_SOCKET,
                    libc::SO_LINGER,
                    (&l as *const libc::linger).cast(),
                    std::mem::size_of::<libc::linger>() as libc::socklen_t,
                );
            }
        }
    }
}

/// A running server.
pub struct Server {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Serves `listener` (already bound) on a new runtime with `threads` workers.
    pub fn spawn(
        inner: Arc<Inner>,
        listener: std::net::TcpListener,
        threads: usize,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Server> {
        listener
            .set_nonblocking(true)
            .context("cannot configure the sandbox listener")?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        // The runtime is made, run and dropped on this thread only: dropping a runtime inside
        // an async context (a caller's tokio task) would panic.
        let thread = std::thread::Builder::new()
            .name("mssp-token-sandbox-accept".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(threads.max(1))
                    .thread_name("mssp-token-sandbox")
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => {
                        let _ = ready_tx.send(Ok(()));
                        rt.block_on(accept_loop(inner, listener, tls, rx));
                        rt.shutdown_timeout(Duration::from_secs(2));
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                    }
                }
            })
            .context("cannot start the sandbox's server thread")?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e).context("cannot start the sandbox's runtime");
            }
            Err(_) => {
                let _ = thread.join();
                anyhow::bail!("the sandbox's server thread ended at start");
            }
        }
        Ok(Server {
            stop: Some(tx),
            thread: Some(thread),
        })
    }

    /// Stops accepting, drops every connection, waits for the runtime to end.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn accept_loop(
    inner: Arc<Inner>,
    listener: std::net::TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("mssp-token sandbox: cannot serve: {e}");
            return;
        }
    };
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            r = listener.accept() => match r {
                Ok((tcp, _)) => {
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(connection(inner.clone(), tcp, acceptor.clone()));
                }
                // Out of file descriptors and the like: wait a little, go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn connection(
    inner: Arc<Inner>,
    tcp: tokio::net::TcpStream,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let sock = Sock::of(&tcp);
    let svc = hyper::service::service_fn(move |req| handle(inner.clone(), sock, req));
    let http = hyper::server::conn::http1::Builder::new();
    match tls {
        None => {
            let _ = http
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), svc)
                .await;
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                _ => return,
            };
            let _ = http
                .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                .await;
        }
    }
}

/// Reads a request body, at most MAX_BODY bytes; Err(status) otherwise.
async fn read_body(mut body: Incoming) -> Result<Vec<u8>, u16> {
    let mut buf = Vec::new();
    loop {
        let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
        match frame {
            None => return Ok(buf),
            Some(Err(_)) => return Err(400),
            Some(Ok(f)) => {
                if let Ok(d) = f.into_data() {
                    if buf.len() + d.len() > MAX_BODY {
                        return Err(413);
                    }
                    buf.extend_from_slice(&d);
                }
            }
        }
    }
}

async fn handle(
    inner: Arc<Inner>,
    sock: Sock,
    req: Request<Incoming>,
) -> Result<Response<Body>, Reset> {
    let method = req.method().as_str().to_ascii_uppercase();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".to_string());
    let path = target.split('?').next().unwrap_or("").to_string();
    let kind = PathKind::of(&path);
    let net = &inner.net;
    net.stats.request(kind);
    let (resp, fault) = match read_request(&target, req).await {
        Err(resp) => (resp, None),
        Ok((headers, body)) => {
            let eligible = kind.eligible(&method);
            if eligible && !net.latency.is_zero() {
                tokio::time::sleep(net.latency).await;
            }
            let tamper = if eligible || kind == PathKind::Discovery {
                net.tampers.take(kind, || {
                    tamper::request_tenant(kind, &path, &headers, |seg| {
                        inner.cfg.find_tenant(seg).map(|t| t.id.clone())
                    })
                })
            } else {
                None
            };
            if let Some(Action::Replace {
                status,
                headers: h,
                body: b,
            }) = &tamper
            {
                let resp = tamper::replacement(*status, h, b, &body);
                net.stats.response(resp.status);
                log(
                    &inner,
                    &method,
                    &path,
                    &format!("{} (tampered)", resp.status),
                );
                return Ok(to_hyper(resp));
            }
            let fault = if eligible && tamper.is_none() {
                net.faults.as_ref().and_then(Faults::choose)
            } else {
                None
            };
            match fault {
                Some(k) => {
                    net.stats.fault(k);
                    match k {
                        Kind::Reset => {
                            log(&inner, &method, &path, "connection reset (reset fault)");
                            sock.abort_on_close();
                            return Err(Reset);
                        }
                        Kind::Stall => {
                            log(&inner, &method, &path, "200, body stalled (stall fault)");
                            net.stats.response(200);
                            return Ok(stalled(&inner, kind));
                        }
                        _ => (
                            faults::response(k, kind, net.retry_after, &inner.authority),
                            fault,
                        ),
                    }
                }
                None => {
                    let r = Req::new(&method, &target, headers, body);
                    let resp = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        dispatch(&inner, &r)
                    }))
                    .unwrap_or_else(|_| {
                        Resp::plain_error(500, "server_error", "The sandbox hit an internal error.")
                    });
                    if kind == PathKind::Token && resp.status == 200 {
                        net.stats.token_issued();
                    }
                    let resp = match tamper {
                        Some(Action::Amend(a)) => {
                            tamper::amend(resp, &a, |c| inner.keys.sign_jwt(c))
                        }
                        _ => resp,
                    };
                    (resp, None)
                }
            }
        }
    };
    net.stats.response(resp.status);
    if inner.log {
        let what = match fault {
            Some(k) => format!("{} ({} fault)", resp.status, k.name()),
            None => resp.status.to_string(),
        };
        log(&inner, &method, &path, &what);
    }
    Ok(to_hyper(resp))
}

/// The request's headers and body (bounded), or the error response (414, 413, 400).
async fn read_request(
    target: &str,
    req: Request<Incoming>,
) -> Result<(Vec<(String, String)>, Vec<u8>), Resp> {
    if target.len() > MAX_URL {
        return Err(Resp::plain_error(
            414,
            "uri_too_long",
            "The request URL is too long.",
        ));
    }
    let too_large =
        || Resp::plain_error(413, "payload_too_large", "The request body is too large.");
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        return Err(too_large());
    }
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    match read_body(req.into_body()).await {
        Ok(body) => Ok((headers, body)),
        Err(413) => Err(too_large()),
        Err(_) => Err(Resp::plain_error(
            400,
            "bad_request",
            "The request body could not be read.",
        )),
    }
}

/// 200 headers announcing a JSON body that never comes; after the stall the connection is
/// closed.
fn stalled(inner: &Inner, kind: PathKind) -> Response<Body> {
    let len = faults::truncated_body(kind == PathKind::Api, &inner.authority).len() as u64;
    Response::builder()
        .status(200)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Cache-Control", "no-store, no-cache")
        .body(Body::Stall {
            sleep: Box::pin(tokio::time::sleep(inner.net.stall)),
            len,
        })
        .unwrap_or_else(|_| empty(500))
}

/// One access-log line (never the query or the body: no code, secret or token is logged).
fn log(inner: &Inner, method: &str, path: &str, what: &str) {
    if inner.log {
        eprintln!("sandbox: {method} {path} -> {what}");
    }
}

fn empty(status: u16) -> Response<Body> {
    let mut r = Response::new(Body::Full(None));
    *r.status_mut() = hyper::StatusCode::from_u16(status).unwrap_or_default();
    r
}

fn to_hyper(resp: Resp) -> Response<Body> {
    let mut b = Response::builder().status(resp.status);
    for (k, v) in &resp.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Body::Full(Some(Bytes::from(resp.body))))
        .unwrap_or_else(|_| {
            let body =
                b"{\"error\":\"server_error\",\"error_description\":\"invalid response header\"}";
            let mut r = Response::new(Body::Full(Some(Bytes::from_static(body))));
            *r.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
            r
        })
}
