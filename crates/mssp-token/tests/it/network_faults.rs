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

/// `token` with every proxy variable of the environment removed, then `vars` set.
fn with_proxies(mut c: std::process::Command, vars: &[(&str, &str)]) -> std::process::Command {
    for v in [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUEST_METHOD",
    ] {
        c.env_remove(v);
    }
    for (k, v) in vars {
        c.env(k, v);
    }
    c
}

#[test]
fn loopback_traffic_is_never_proxied() {
    // Plain http to the loopback sandbox carries the client secret and the bearer token in
    // clear: whatever proxy the environment names, none of it may go there.
    let sb = Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    let (port, seen) = recording_proxy();
    let proxy = format!("http://127.0.0.1:{port}");
    for vars in [
        vec![("HTTP_PROXY", proxy.as_str())],
        vec![("http_proxy", proxy.as_str())],
        vec![("ALL_PROXY", proxy.as_str())],
        vec![
            ("all_proxy", proxy.as_str()),
            ("HTTPS_PROXY", proxy.as_str()),
        ],
        // NO_PROXY naming something else does not bring loopback back to the proxy.
        vec![("HTTP_PROXY", proxy.as_str()), ("NO_PROXY", "example.com")],
    ] {
        let out = run(&mut with_proxies(token(&sb, cache.path()), &vars));
        assert_eq!(out.code, 0, "{vars:?}: {}", out.stderr);
        assert_eq!(out.stdout.split('.').count(), 3, "a JWT: {}", out.stdout);
    }
    // `localhost` too (resolved to 127.0.0.1 or ::1).
    let localhost = sb.authority().replace("127.0.0.1", "localhost");
    let mut via_localhost = support::clean_cmd(cache.path());
    via_localhost
        .args([
            "token",
            "--no-cache",
            "--tenant",
            "contoso.onmicrosoft.com",
            "-o",
            "raw",
        ])
        .args(["--authority", &localhost])
        .args(["--client-id", sb.app()["client_id"].as_str().unwrap()])
        .env(
            "AZURE_CLIENT_SECRET",
            sb.app()["client_secret"].as_str().unwrap(),
        );
    let out = run(&mut with_proxies(via_localhost, &[("ALL_PROXY", &proxy)]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        seen.lock().unwrap().is_empty(),
        "the proxy saw loopback traffic: {:?}",
        seen.lock().unwrap()
    );
}

#[test]
fn proxies_are_honoured_off_loopback_and_no_proxy_bypasses_them() {
    // A login host that is not loopback (and does not exist): through HTTPS_PROXY or ALL_PROXY
    // the proxy is asked to CONNECT to it; with NO_PROXY naming it, the proxy sees nothing.
    let cache = tempfile::tempdir().unwrap();
    let (port, seen) = recording_proxy();
    let proxy = format!("http://127.0.0.1:{port}");
    let off_loopback = || {
        let mut c = support::clean_cmd(cache.path());
        c.args([
            "token",
            "--no-cache",
            "--tenant",
            "9ed38d36-d1a6-4200-9985-86bb0271d957",
        ])
        .args(["--client-id", "b64a329e-a098-404b-99fd-26066cccda7e"])
        .args(["--authority", "https://login.mssp-token-test.invalid"])
        .env("AZURE_CLIENT_SECRET", "x-secret-value")
        .env("MSSP_TOKEN_CONNECT_TIMEOUT", "2");
        c
    };
    for var in ["HTTPS_PROXY", "https_proxy", "ALL_PROXY"] {
        let before = seen.lock().unwrap().len();
        let out = run(&mut with_proxies(off_loopback(), &[(var, &proxy)]));
        assert_eq!(out.code, 6, "{var}: {}", out.stderr);
        let lines = seen.lock().unwrap().clone();
        assert!(
            lines[before..]
                .iter()
                .any(|l| l.starts_with("CONNECT login.mssp-token-test.invalid:443")),
            "{var}: {lines:?}"
        );
    }
    let before = seen.lock().unwrap().len();
    let out = run(&mut with_proxies(
        off_loopback(),
        &[
            ("HTTPS_PROXY", &proxy),
            ("NO_PROXY", "mssp-token-test.invalid"),
        ],
    ));
    assert_eq!(out.code, 6, "{}", out.stderr);
    assert_eq!(
        seen.lock().unwrap().len(),
        before,
        "NO_PROXY bypasses the proxy"
    );
}
