//! The loopback listener of `mssp-token login`, poked with raw HTTP while the login waits
//! (--no-browser, a fixed --port): wrong or missing state, other paths, other Host headers,
//! oversized requests, a second redirect, the bound addresses, the port freed afterwards, and
//! the escaping of Entra's error text on its page. The flow is then finished for real by the
//! browser stand-in signing in at the sandbox.

use crate::support::{browser_log, free_port, step, Sandbox};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `mssp-token login` waiting for its redirect.
struct Waiting {
    child: Child,
    port: u16,
    /// The authorize URL it printed.
    url: url::Url,
    state: String,
    /// The redirect path (from the redirect_uri it sent).
    path: String,
    stderr: Arc<Mutex<String>>,
    stdout: Option<std::thread::JoinHandle<String>>,
    dir: tempfile::TempDir,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_login(sb: &Sandbox) -> Waiting {
    start_login_waiting(sb, 40)
}

/// `login --no-browser --port P --wait SECS`, once it has printed its authorize URL.
fn start_login_waiting(sb: &Sandbox, wait: u64) -> Waiting {
    let port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = sb.login(
        &dir.path().join("unused.log"),
        &[
            "--no-browser",
            "--port",
            &port.to_string(),
            "--wait",
            &wait.to_string(),
        ],
    );
    cmd.env("BROWSER", "true")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start mssp-token login");
    let stderr = Arc::new(Mutex::new(String::new()));
    let (tx, rx) = mpsc::channel();
    let reader = BufReader::new(child.stderr.take().unwrap());
    let sink = stderr.clone();
    // Keep draining stderr; hand over the authorize URL when it appears.
    std::thread::spawn(move || {
        for line in reader.lines() {
            let Ok(line) = line else { break };
            let t = line.trim();
            if t.starts_with("http") && t.contains("/oauth2/authorize?") {
                let _ = tx.send(t.to_string());
            }
            let mut s = sink.lock().unwrap();
            s.push_str(&line);
            s.push('\n');
        }
    });
    let mut out = child.stdout.take().unwrap();
    let stdout = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let line = rx
        .recv_timeout(Duration::from_secs(20))
        .unwrap_or_else(|_| {
            panic!(
                "login printed no authorize URL:\n{}",
                stderr.lock().unwrap()
            )
        });
    let url = url::Url::parse(&line).unwrap();
    let get = |k: &str| {
        url.query_pairs()
            .find(|(a, _)| a == k)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {k} in {url}"))
    };
    let state = get("state");
    let redirect = url::Url::parse(&get("redirect_uri")).unwrap();
    assert_eq!(
        redirect.port(),
        Some(port),
        "the redirect URI carries --port"
    );
    Waiting {
        child,
        port,
        path: redirect.path().to_string(),
        url,
        state,
        stderr,
        stdout: Some(stdout),
        dir,
    }
}

impl Waiting {
    /// The browser stand-in signs in at the sandbox and lands on the listener.
    fn finish_for_real(&self) -> Vec<serde_json::Value> {
        let log = self.dir.path().join("browser.log");
        let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_browser.py");
        let ok = Command::new("python3")
            .arg(fake)
            .arg(self.url.as_str())
            .env("FAKE_BROWSER_LOG", &log)
            .env_remove("FAKE_BROWSER_ACTION")
            .env_remove("FAKE_BROWSER_ACCOUNT")
            .status()
            .unwrap();
        assert!(ok.success(), "{:?}", browser_log(&log));
        browser_log(&log)
    }

    /// Waits for the exit (at most 30 s); returns code, stdout, stderr.
    fn exit(self) -> (i32, String, String) {
        self.exit_within(Duration::from_secs(30))
    }

    /// Waits for the exit, failing the test if it has not come after `limit` (a generous bound
    /// that says "it exits at all", not a speed figure).
    fn exit_within(mut self, limit: Duration) -> (i32, String, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(
                started.elapsed() < limit,
                "login did not finish within {limit:?}:\n{}",
                self.stderr.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        // Let the reader thread drain what is left.
        std::thread::sleep(Duration::from_millis(100));
        let stderr = self.stderr.lock().unwrap().clone();
        assert!(
            !stderr.contains("panicked"),
            "mssp-token panicked:\n{stderr}"
        );
        (status.code().unwrap_or(-1), stdout, stderr)
    }

    fn get(&self, target: &str) -> Reply {
        send(
            ("127.0.0.1", self.port),
            format!(
                "GET {target} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n",
                self.port
            )
            .as_bytes(),
        )
    }
}

/// What the listener did with a request.
#[derive(Debug)]
enum Reply {
    Status(u16, String),
    /// Connection refused, reset or closed without an answer.
    Closed(String),
}

impl Reply {
    fn status(&self) -> Option<u16> {
        match self {
            Reply::Status(s, _) => Some(*s),
            Reply::Closed(_) => None,
        }
    }

    /// The answer, or why there was none.
    fn body(&self) -> &str {
        match self {
            Reply::Status(_, b) => b,
            Reply::Closed(why) => why,
        }
    }

    /// Refused: a 4xx/5xx answer, or no answer at all.
    fn refused(&self) -> bool {
        self.status().is_none_or(|s| s >= 400)
    }
}

fn send(addr: impl std::net::ToSocketAddrs, raw: &[u8]) -> Reply {
    let addr: SocketAddr = addr.to_socket_addrs().unwrap().next().unwrap();
    let mut s = match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
        Ok(s) => s,
        Err(e) => return Reply::Closed(format!("connect: {e}")),
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
    // A server that refuses early may reset the connection while we still write.
    let written = s.write_all(raw);
    let mut buf = Vec::new();
    let read = s.read_to_end(&mut buf);
    if buf.is_empty() {
        return Reply::Closed(format!("write: {written:?}, read: {read:?}"));
    }
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    match status {
        Some(code) => Reply::Status(code, text),
        None => Reply::Closed(format!(
            "not HTTP: {}",
            text.chars().take(80).collect::<String>()
        )),
    }
}

/// LISTEN sockets on `port`, as (family, local address in /proc/net hex).
fn listening(port: u16) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (file, family) in [("/proc/net/tcp", "ipv4"), ("/proc/net/tcp6", "ipv6")] {
        let Ok(table) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in table.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state)) = (cols.get(1), cols.get(3)) else {
                continue;
            };
            let Some((addr, p)) = local.split_once(':') else {
                continue;
            };
            if *state == "0A" && u16::from_str_radix(p, 16) == Ok(port) {
                found.push((family, addr.to_string()));
            }
        }
    }
    found
}

const V4_LOOPBACK: &str = "0100007F";
const V6_LOOPBACK: &str = "00000000000000000000000001000000";

fn pct(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn wrong_state_other_paths_and_hosts_are_refused_and_the_flow_goes_on() {
    let sb = Sandbox::start();
    let w = start_login(&sb);
    let (path, state, port) = (w.path.clone(), w.state.clone(), w.port);

    // Bound on loopback only: 127.0.0.1 and ::1, never 0.0.0.0 or [::].
    let sockets = listening(port);
    assert!(
        sockets.contains(&("ipv4", V4_LOOPBACK.to_string())),
        "listening on 127.0.0.1:{port}: {sockets:?}"
    );
    let has_v6 = std::net::TcpListener::bind("[::1]:0").is_ok();
    if has_v6 {
        assert!(
            sockets.contains(&("ipv6", V6_LOOPBACK.to_string())),
            "listening on [::1]:{port}: {sockets:?}"
        );
    }
    for (family, addr) in &sockets {
        assert!(
            addr == V4_LOOPBACK || addr == V6_LOOPBACK,
            "a non-loopback {family} listener on port {port}: {addr}"
        );
    }

    let refused = |what: &str, r: Reply, want: u16| {
        assert_eq!(r.status(), Some(want), "{what}: {r:?}");
        assert!(
            r.body().contains("The sign-in is still waiting") || want != 400,
            "{what}: the page says the wait goes on: {}",
            r.body()
        );
    };
    refused(
        "wrong state",
        w.get(&format!(
            "{path}?code=forged-code-0123456789&state=not-{state}"
        )),
        400,
    );
    refused(
        "missing state",
        w.get(&format!("{path}?code=forged-code-0123456789")),
        400,
    );
    refused(
        "empty state",
        w.get(&format!("{path}?code=forged-code-0123456789&state=")),
        400,
    );
    refused(
        "state but no code",
        w.get(&format!("{path}?state={state}")),
        400,
    );
    if has_v6 {
        let r = send(
            ("::1", port),
            format!(
                "GET {path}?code=x&state=forged HTTP/1.1\r\nHost: [::1]:{port}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        refused("wrong state over ::1", r, 400);
    }
    // Other paths: 404, even with the right state.
    for p in [
        "/",
        "/favicon.ico",
        "/SiemMsspConnector/extra",
        "/siemmsspconnector",
    ] {
        let r = w.get(&format!("{p}?code=x&state={state}"));
        assert_eq!(r.status(), Some(404), "{p}: {r:?}");
    }
    // A page on another name (DNS rebinding) must not reach it, even with the right state.
    for host in [
        "evil.example.com".to_string(),
        format!("evil.example.com:{port}"),
        format!("localhost.evil.example.com:{port}"),
        format!("127.0.0.1.nip.io:{port}"),
    ] {
        let r = send(
            ("127.0.0.1", port),
            format!(
                "GET {path}?code=forged-code-0123456789&state={state} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        );
        assert_eq!(r.status(), Some(400), "Host {host}: {r:?}");
    }
    // Not a GET.
    let r = send(
        ("127.0.0.1", port),
        format!(
            "POST {path}?code=forged-code-0123456789&state={state} HTTP/1.1\r\nHost: localhost:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(r.refused(), "POST: {r:?}");

    // Still waiting: the real sign-in completes.
    let log = w.finish_for_real();
    let landed = step(&log, "landed").expect("the browser landed on the listener");
    assert_eq!(landed["status"], 200, "{landed}");
    // A second redirect (the same address again) is refused: 409, or nobody listens anymore.
    let again = landed["url"].as_str().unwrap();
    let target = &again[again.find(&path).unwrap()..];
    let r = w.get(target);
    assert!(r.refused(), "a second redirect after success: {r:?}");

    let (code, stdout, stderr) = w.exit();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("---- TOKEN ----"), "{stdout}");
    assert!(
        stderr.contains("refused a redirect on the listener"),
        "the refusals are reported in the terminal:\n{stderr}"
    );

    // The port is free again, on both addresses.
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("127.0.0.1 port freed");
    if has_v6 {
        std::net::TcpListener::bind(("::1", port)).expect("[::1] port freed");
    }
}

#[test]
fn an_oversized_request_line_is_refused_and_the_login_still_completes() {
    let sb = Sandbox::start();
    let w = start_login(&sb);
    // 100 KB of URL, with this run's state: only its size can get it refused.
    let huge = format!(
        "{}?state={}&code={}",
        w.path,
        w.state,
        "A".repeat(100 * 1024)
    );
    let r = w.get(&huge);
    assert!(r.refused(), "a 100 KB request line was accepted: {r:?}");

    let log = w.finish_for_real();
    assert_eq!(step(&log, "landed").unwrap()["status"], 200);
    let (code, _, stderr) = w.exit();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn huge_headers_are_refused_and_the_login_still_completes() {
    let sb = Sandbox::start();
    let w = start_login(&sb);
    let mut req = format!(
        "GET {}?state={}&code=forged-code-0123456789 HTTP/1.1\r\nHost: localhost:{}\r\nX-Pad: {}\r\n",
        w.path,
        w.state,
        w.port,
        "B".repeat(64 * 1024)
    );
    for i in 0..2000 {
        req.push_str(&format!("X-Header-{i}: value-{i}\r\n"));
    }
    req.push_str("Connection: close\r\n\r\n");
    assert!(req.len() > 100 * 1024);
    let r = send(("127.0.0.1", w.port), req.as_bytes());
    assert!(
        r.refused(),
        "a request with ~100 KB of headers was accepted: {r:?}"
    );

    let log = w.finish_for_real();
    assert_eq!(step(&log, "landed").unwrap()["status"], 200);
    let (code, _, stderr) = w.exit();
    assert_eq!(code, 0, "{stderr}");
}

/// Sends this run's state with an error and `description`; returns the page and the exit.
fn error_redirect(description: &str) -> (Reply, (i32, String, String)) {
    let sb = Sandbox::start();
    let w = start_login(&sb);
    let r = w.get(&format!(
        "{}?state={}&error=access_denied&error_subcode=cancel&error_description={}",
        w.path,
        w.state,
        pct(description)
    ));
    (r, w.exit())
}

#[test]
fn the_error_page_escapes_html_and_the_login_exits_4() {
    let (r, (code, stdout, stderr)) = error_redirect(
        "AADSTS65004: User declined. <script>alert(1)</script><img src=x onerror=alert(2)>",
    );
    assert_eq!(r.status(), Some(400), "{r:?}");
    let page = r.body();
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "the description is escaped: {page}"
    );
    assert!(!page.contains("<script>"), "{page}");
    assert!(!page.contains("<img"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert_eq!(code, 4, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("access_denied"), "{stderr}");
    assert!(stderr.contains("AADSTS65004"), "{stderr}");
}

#[test]
fn entra_error_text_reaches_the_terminal_without_escape_sequences() {
    // Terminal control sequences in error_description (clear screen, set the window title)
    // must not be replayed on the user's terminal.
    let (r, (code, _, stderr)) =
        error_redirect("AADSTS65004: User declined.\u{1b}[2J\u{1b}]0;owned\u{7} end");
    assert_eq!(r.status(), Some(400), "{r:?}");
    assert_eq!(code, 4, "{stderr}");
    assert!(stderr.contains("AADSTS65004"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}') && !stderr.contains('\u{7}'),
        "raw escape sequences reached the terminal:\n{stderr:?}"
    );
}

/// Local processes jamming the listener while a login waits: on 127.0.0.1 and ::1 alike,
/// connections that pipeline 10000 requests each and never read an answer, and connections
/// that send one 300 MB header slowly. Stopped (and joined) on drop.
struct Jam {
    stop: Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    /// Bytes of huge header sent so far, over every connection.
    header_bytes: Arc<std::sync::atomic::AtomicU64>,
    /// Pipelining connections that sent all their requests.
    pipelines: Arc<std::sync::atomic::AtomicU64>,
}

impl Jam {
    fn start(port: u16, path: &str) -> Jam {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let stop = Arc::new(AtomicBool::new(false));
        let header_bytes = Arc::new(AtomicU64::new(0));
        let pipelines = Arc::new(AtomicU64::new(0));
        let mut addrs: Vec<SocketAddr> = vec![SocketAddr::from(([127, 0, 0, 1], port))];
        if std::net::TcpListener::bind("[::1]:0").is_ok() {
            addrs.push(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
        }
        let mut threads = Vec::new();
        for addr in addrs {
            // Pipelining jammers: 10000 requests (forged redirects and other paths) on one
            // connection, never reading; the connection is held open until the listener drops it.
            for _ in 0..4 {
                let (stop, done) = (stop.clone(), pipelines.clone());
                let one = format!(
                    "GET {path}?code=forged-code-0123456789&state=forged HTTP/1.1\r\nHost: localhost:{port}\r\n\r\nGET /favicon.ico HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n"
                );
                let batch = one.repeat(5000).into_bytes();
                threads.push(std::thread::spawn(move || {
                    let mut held = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                        else {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        };
                        let _ = s.set_write_timeout(Some(Duration::from_millis(500)));
                        if s.write_all(&batch).is_ok() {
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                        // Never read; keep a few open.
                        held.push(s);
                        if held.len() > 8 {
                            held.remove(0);
                        }
                    }
                }));
            }
            // A 300 MB header, sent in 64 KiB pieces with a pause between them; when the
            // listener cuts the connection, the next one takes over where it stopped.
            let (stop, sent) = (stop.clone(), header_bytes.clone());
            let path = path.to_string();
            threads.push(std::thread::spawn(move || {
                let piece = vec![b'a'; 64 * 1024];
                let total: u64 = 300 * 1024 * 1024;
                while !stop.load(Ordering::Relaxed) && sent.load(Ordering::Relaxed) < total {
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                    else {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                    let head = format!(
                        "GET {path}?state=forged&code=x HTTP/1.1\r\nHost: localhost:{port}\r\nX-Huge: "
                    );
                    if s.write_all(head.as_bytes()).is_err() {
                        continue;
                    }
                    while !stop.load(Ordering::Relaxed) && sent.load(Ordering::Relaxed) < total {
                        if s.write_all(&piece).is_err() {
                            break;
                        }
                        sent.fetch_add(piece.len() as u64, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }));
        }
        Jam {
            stop,
            threads,
            header_bytes,
            pipelines,
        }
    }

    /// Waits until the jam is in full swing: pipelines sent on every address, and at least
    /// `header_mb` MB of huge header (or 20 s, whichever comes first).
    fn in_full_swing(&self, header_mb: u64, pid: u32, rss: &mut u64) {
        use std::sync::atomic::Ordering;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            *rss = (*rss).max(vm_rss_kb(pid));
            if self.pipelines.load(Ordering::Relaxed) >= 8
                && self.header_bytes.load(Ordering::Relaxed) >= header_mb * 1024 * 1024
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Jam {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Resident memory of a process, in kB (0 once it is gone).
fn vm_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Memory the listener may use under a jam, whatever the jam sends.
const RSS_LIMIT_KB: u64 = 100 * 1024;

#[test]
fn a_jammed_listener_still_takes_the_real_redirect_in_bounded_memory() {
    let sb = Sandbox::start();
    let w = start_login(&sb);
    let pid = w.child.id();
    let jam = Jam::start(w.port, &w.path);
    let mut rss = 0;
    jam.in_full_swing(200, pid, &mut rss);
    // The person signs in while the jam goes on; the listener answers the real redirect.
    let sampling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                max = max.max(vm_rss_kb(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    let log = w.finish_for_real();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    rss = rss.max(sampler.join().unwrap());
    let header_mb = jam.header_bytes.load(std::sync::atomic::Ordering::Relaxed) >> 20;
    drop(jam);
    let landed = step(&log, "landed").expect("the browser reached the listener");
    assert_eq!(landed["status"], 200, "{landed}");
    let (code, stdout, stderr) = w.exit();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("---- TOKEN ----"), "{stdout}");
    assert!(
        rss > 0 && rss < RSS_LIMIT_KB,
        "mssp-token used {rss} kB of memory while {header_mb} MB of header were sent at it"
    );
    // A few refusals are reported, not ten thousand.
    let refusals = stderr.matches("refused a redirect on the listener").count();
    assert!(
        (1..=5).contains(&refusals),
        "{refusals} refusal lines:\n{stderr}"
    );
}

#[test]
fn a_jammed_listener_still_honours_wait() {
    let sb = Sandbox::start();
    let w = start_login_waiting(&sb, 3);
    let pid = w.child.id();
    let jam = Jam::start(w.port, &w.path);
    let mut rss = 0;
    jam.in_full_swing(50, pid, &mut rss);
    // Nobody signs in: the login gives up after --wait 3, jam or not, and exits 4 (a generous
    // bound: the point is that it exits at all while the jammers hold their connections).
    let (code, _, stderr) = w.exit_within(Duration::from_secs(60));
    drop(jam);
    assert_eq!(code, 4, "{stderr}");
    assert!(
        stderr.contains("no sign-in came back within 3 s"),
        "{stderr}"
    );
    assert!(rss < RSS_LIMIT_KB, "mssp-token used {rss} kB of memory");
}
