//! Network faults: every wait is bounded, throttling and server errors are retried within a
//! budget and then explained (exit 6), TLS trust problems name the fix, and proxies are honoured.

use crate::support::{self, app_cmd, run, Sandbox};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn token(sb: &Sandbox, cache: &std::path::Path) -> std::process::Command {
    let mut c = app_cmd(sb, "token", cache);
    c.args([
        "--tenant",
        "contoso.onmicrosoft.com",
        "--no-cache",
        "-o",
        "raw",
    ])
    .env_remove("HTTP_PROXY")
    .env_remove("HTTPS_PROXY")
    .env_remove("http_proxy")
    .env_remove("https_proxy")
    .env_remove("ALL_PROXY")
    .env_remove("NO_PROXY")
    .env_remove("no_proxy");
    c
}

#[test]
fn a_stalled_body_is_bounded_by_the_total_timeout() {
    let sb = Sandbox::start_with(&["--faults", "stall=1.0", "--stall-secs", "120"]);
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(token(&sb, cache.path()).env("MSSP_TOKEN_TIMEOUT", "1"));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("did not answer in time"),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_connect_that_never_completes_is_bounded_by_the_connect_timeout() {
    // A listener whose accept queue is full: the kernel drops new SYNs, so connect() hangs.
    // Filling it stops at the first connect that times out: that one proves the queue is full.
    let mut py = std::process::Command::new("python3")
        .args([
            "-c",
            "import socket,time\ns=socket.socket();s.bind(('127.0.0.1',0));s.listen(0)\n\
             f=[]\n\
             for _ in range(8):\n\
             \x20try: f.append(socket.create_connection(s.getsockname(),timeout=1))\n\
             \x20except OSError: break\n\
             else: raise SystemExit('the accept queue never filled')\n\
             print(s.getsockname()[1],flush=True);time.sleep(120)",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(py.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line.trim().to_string();
    assert!(
        port.parse::<u16>().is_ok(),
        "the full listener's port, not {line:?}"
    );
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(std::process::Command::new(support::bin())
        .args([
            "token",
            "--no-cache",
            "--tenant",
            "9ed38d36-d1a6-4200-9985-86bb0271d957",
        ])
        .args(["--client-id", "b64a329e-a098-404b-99fd-26066cccda7e"])
        .args(["--authority", &format!("http://127.0.0.1:{port}")])
        .env("AZURE_CLIENT_SECRET", "x-secret-value")
        .env("MSSP_TOKEN_CACHE_DIR", cache.path())
        .env("MSSP_TOKEN_CONNECT_TIMEOUT", "1")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy"));
    let _ = py.kill();
    let _ = py.wait();
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr.contains("did not answer in time") || out.stderr.contains("cannot reach"),
        "{}",
        out.stderr
    );
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn throttling_is_retried_with_retry_after_then_exit_6() {
    let sb = Sandbox::start_with(&["--faults", "429=1.0", "--retry-after", "1"]);
    let cache = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(token(&sb, cache.path()).arg("-v"));
    let took = started.elapsed();
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("throttled: HTTP 429 after 4 attempt(s)"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("retrying in 1000 ms"),
        "Retry-After honoured: {}",
        out.stderr
    );
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(20),
        "{took:?}"
    );
}

#[test]
fn server_errors_are_retried_then_explained() {
    let sb = Sandbox::start_with(&["--faults", "503=1.0", "--retry-after", "0"]);
    let cache = tempfile::tempdir().unwrap();
    let out = run(&mut token(&sb, cache.path()));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert!(out.stderr.contains("answered HTTP 503"), "{}", out.stderr);
    assert!(out.stderr.contains("after 4 attempt(s)"), "{}", out.stderr);
    assert!(
        out.stderr.contains("temporarily_unavailable"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_untrusted_certificate_names_ca_file_and_proxies() {
    let sb = Sandbox::start_with(&["--tls"]);
    let cache = tempfile::tempdir().unwrap();
    let out = run(&mut token(&sb, cache.path()));
    assert_eq!(out.code, 6, "{}", out.stderr);
    for needle in ["not trusted", "--ca-file", "SSL_CERT_FILE", "proxy"] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    let ca = sb.info["ca_file"].as_str().unwrap();
    let out = run(token(&sb, cache.path()).args(["--ca-file", ca]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(token(&sb, cache.path()).env("SSL_CERT_FILE", ca));
    assert_eq!(out.code, 0, "{}", out.stderr);
}

/// A proxy that records the first line of each request and answers 502.
fn recording_proxy() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            seen2.lock().unwrap().push(first.trim().to_string());
            let mut head = String::new();
            while reader.read_line(&mut head).map(|n| n > 2).unwrap_or(false) {
                head.clear();
            }
            let mut s = stream;
            let _ = s.write_all(
                b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
            let mut sink = [0u8; 1];
            let _ = s.read(&mut sink);
        }
    });
    (port, seen)
}

#[test]
fn proxies_are_honoured_and_no_proxy_bypasses_them() {
    let sb = Sandbox::start();
    let tls = Sandbox::start_with(&["--tls"]);
    let cache = tempfile::tempdir().unwrap();
    let (port, seen) = recording_proxy();
    let proxy = format!("http://127.0.0.1:{port}");

    let out = run(token(&sb, cache.path()).env("HTTP_PROXY", &proxy));
    assert_eq!(out.code, 6, "{}", out.stderr);
    let ca = tls.info["ca_file"].as_str().unwrap();
    let out = run(token(&tls, cache.path())
        .args(["--ca-file", ca])
        .env("HTTPS_PROXY", &proxy));
    assert_eq!(out.code, 6, "{}", out.stderr);
    let lines = seen.lock().unwrap().clone();
    let sb_host = sb.authority().trim_start_matches("http://").to_string();
    let tls_host = tls.authority().trim_start_matches("https://").to_string();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("POST http://{sb_host}/"))),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with(&format!("CONNECT {tls_host}"))),
        "{lines:?}"
    );

    let before = seen.lock().unwrap().len();
    let out = run(token(&sb, cache.path())
        .env("HTTP_PROXY", &proxy)
        .env("NO_PROXY", "127.0.0.1"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "NO_PROXY bypasses the proxy"
    );
}
