//! Bad input and bad answers for `login`: each gets a clear message and the contract's exit
//! code, never a panic.

use crate::support::{self, bin, run, Output};
use std::process::{Command, Stdio};

const TENANT: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";
const CLIENT: &str = "9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f";

fn login(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.arg("login")
        .args(args)
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_CLIENT_SECRET")
        .env_remove("AZURE_AUTHORITY_HOST")
        .env_remove("SSL_CERT_FILE")
        .env("BROWSER", "true")
        .stdin(Stdio::null());
    cmd
}

fn expect(out: &Output, code: i32, needle: &str) {
    assert_eq!(out.code, code, "stderr:\n{}", out.stderr);
    assert!(
        out.stderr.contains(needle),
        "expected {needle:?} in stderr:\n{}",
        out.stderr
    );
    assert!(
        out.stdout.is_empty(),
        "stdout must stay empty: {}",
        out.stdout
    );
}

#[test]
fn missing_tenant() {
    expect(
        &run(&mut login(&["--client-id", CLIENT])),
        2,
        "no tenant given",
    );
}

#[test]
fn missing_client_id() {
    expect(
        &run(&mut login(&["--tenant", TENANT])),
        2,
        "no client ID given",
    );
}

#[test]
fn tenant_neither_guid_nor_domain() {
    expect(
        &run(&mut login(&[
            "--tenant",
            "not a tenant",
            "--client-id",
            CLIENT,
        ])),
        2,
        "neither a tenant ID",
    );
}

#[test]
fn tenant_common_is_refused() {
    expect(
        &run(&mut login(&["--tenant", "common", "--client-id", CLIENT])),
        2,
        "name the customer's own tenant",
    );
}

#[test]
fn client_id_not_a_guid() {
    expect(
        &run(&mut login(&[
            "--tenant",
            TENANT,
            "--client-id",
            "SiemConnector",
        ])),
        2,
        "is not a GUID",
    );
}

#[test]
fn scope_with_resource() {
    let out = run(&mut login(&[
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--scope",
        "a/.default",
        "--resource",
        "https://x",
    ]));
    expect(&out, 2, "cannot be used with");
}

#[test]
fn default_scope_mixed_with_named_scopes() {
    let out = run(&mut login(&[
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--scope",
        "https://api.securitycenter.microsoft.com/.default",
        "--scope",
        "https://api.securitycenter.microsoft.com/Alert.Read",
    ]));
    expect(&out, 2, "must stand alone");
}

#[test]
fn empty_secret_file() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("secret");
    std::fs::write(&f, "\n").unwrap();
    let out = run(login(&["--tenant", TENANT, "--client-id", CLIENT])
        .arg("--client-secret-file")
        .arg(&f));
    expect(&out, 2, "the file is empty");
}

#[test]
fn unreadable_secret_file() {
    let out = run(&mut login(&[
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--client-secret-file",
        "/nonexistent/secret",
    ]));
    expect(&out, 2, "cannot read it (no such file)");
}

#[test]
fn malformed_redirect_uri() {
    let out = run(&mut login(&[
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--redirect-uri",
        "localhost SiemMsspConnector",
    ]));
    expect(&out, 2, "--redirect-uri");
}

#[test]
fn port_out_of_range() {
    for port in ["0", "70000", "http"] {
        let out = run(&mut login(&[
            "--tenant",
            TENANT,
            "--client-id",
            CLIENT,
            "--port",
            port,
        ]));
        expect(&out, 2, "--port");
    }
}

#[test]
fn plain_http_authority_off_loopback() {
    let out = run(&mut login(&[
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--authority",
        "http://login.example.com",
    ]));
    expect(&out, 2, "plain http");
}

#[test]
fn unreachable_authority_is_a_network_error() {
    // Port 9 on loopback: nothing listens; the tenant domain must be resolved first.
    let out = run(&mut login(&[
        "--tenant",
        "contoso.onmicrosoft.com",
        "--client-id",
        CLIENT,
        "--authority",
        "http://127.0.0.1:9",
    ]));
    expect(&out, 6, "cannot reach http://127.0.0.1:9");
}

/// A fake authority: the authorize endpoint redirects at once with a code, the token endpoint
/// answers what the test says. For answers the sandbox does not give (HTML, empty, truncated).
fn fake_authority(status: u16, content_type: &'static str, body: &'static str) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let url = req.url().to_string();
            if url.contains("/oauth2/authorize?") {
                let q: Vec<(String, String)> =
                    url::form_urlencoded::parse(url.split_once('?').unwrap().1.as_bytes())
                        .into_owned()
                        .collect();
                let get = |k: &str| {
                    q.iter()
                        .find(|(a, _)| a == k)
                        .map(|(_, v)| v.clone())
                        .unwrap()
                };
                let location = format!(
                    "{}?code=fake-code-0123456789&state={}",
                    get("redirect_uri"),
                    get("state")
                );
                let resp = tiny_http::Response::empty(302)
                    .with_header(tiny_http::Header::from_bytes("Location", location).unwrap());
                let _ = req.respond(resp);
            } else {
                let resp = tiny_http::Response::from_string(body)
                    .with_status_code(status)
                    .with_header(
                        tiny_http::Header::from_bytes("Content-Type", content_type).unwrap(),
                    );
                let _ = req.respond(resp);
            }
        }
    });
    format!("http://127.0.0.1:{port}")
}

fn login_against(authority: &str) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("browser.log");
    run(login(&[
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--authority",
        authority,
        "--wait",
        "20",
    ])
    .env("BROWSER", support::fake_browser())
    .env("FAKE_BROWSER_LOG", &log)
    .env("AZURE_CLIENT_SECRET", "canary-secret-for-errors"))
}

#[test]
fn token_endpoint_answers_an_html_page() {
    let a = fake_authority(
        502,
        "text/html",
        "<html><head><title>Proxy error</title></head><body>upstream failed</body></html>",
    );
    let out = login_against(&a);
    expect(&out, 6, "Proxy error");
    assert!(out.stderr.contains("HTTP 502"), "{}", out.stderr);
}

#[test]
fn token_endpoint_answers_an_empty_body() {
    let a = fake_authority(200, "application/json", "");
    let out = login_against(&a);
    expect(&out, 6, "empty");
}

#[test]
fn token_endpoint_answers_truncated_json() {
    let a = fake_authority(
        200,
        "application/json",
        r#"{"token_type":"Bearer","access_token":"eyJhbGciOi"#,
    );
    let out = login_against(&a);
    expect(&out, 6, "truncated");
    assert!(
        !out.stderr.contains("eyJhbGciOi"),
        "the partial token must not be shown"
    );
}

#[test]
fn token_endpoint_answers_200_with_an_error_body() {
    let a = fake_authority(
        200,
        "application/json; charset=utf-8",
        r#"{"error":"invalid_grant","error_description":"AADSTS70008: The provided authorization code or refresh token has expired.\r\nTrace ID: t-1\r\nCorrelation ID: c-1\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[70008]}"#,
    );
    let out = login_against(&a);
    expect(&out, 3, "AADSTS70008");
    assert!(out.stderr.contains("trace ID t-1"), "{}", out.stderr);
}

#[test]
fn secret_never_appears_in_errors() {
    let a = fake_authority(
        401,
        "application/json",
        r#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215]}"#,
    );
    let out = login_against(&a);
    expect(&out, 3, "AADSTS7000215");
    assert!(!out.stderr.contains("canary-secret-for-errors"));
}

// ---- A single-use authorization code is never sent twice (issue 9 item 13) ----

/// GET `url` (plain http on loopback) as JSON.
fn get_json(url: &str) -> serde_json::Value {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    serde_json::from_str(text.split("\r\n\r\n").nth(1).unwrap()).unwrap()
}

fn token_requests(sb: &support::Sandbox) -> u64 {
    get_json(&format!("{}/sandbox/stats", sb.authority()))["requests"]["token"]
        .as_u64()
        .unwrap()
}

fn sandbox_login(sb: &support::Sandbox) -> Output {
    let dir = tempfile::tempdir().unwrap();
    run(&mut sb.login(&dir.path().join("browser.log"), &["-o", "raw"]))
}

#[test]
fn a_sign_in_code_is_not_sent_again_after_a_server_error() {
    for faults in ["503=1.0", "500=1.0", "reset=1.0"] {
        let sb = support::Sandbox::start_with(&["--faults", faults, "--retry-after", "0"]);
        let out = sandbox_login(&sb);
        expect(
            &out,
            6,
            "The code is single-use and that request may already have used it",
        );
        assert!(out.stderr.contains("sign in again"), "{}", out.stderr);
        assert!(!out.stderr.contains("54005"), "{}", out.stderr);
        assert_eq!(token_requests(&sb), 1, "{faults}: the code was sent once");
    }
    // The same one-off 503 is retried for a grant that may be repeated (client credentials).
    let sb = support::Sandbox::start();
    let cache = tempfile::tempdir().unwrap();
    sb.tamper(
        serde_json::json!({"status": 503, "body": "{\"error\":\"temporarily_unavailable\"}"}),
    );
    let out = run(support::app_cmd(&sb, "token", cache.path()).args([
        "--tenant",
        "contoso.onmicrosoft.com",
        "--no-cache",
        "-o",
        "raw",
    ]));
    assert_eq!(out.code, 0, "{}", out.stderr);
    // ...and for the sign-in code, a one-off 503 is not: the next request would have worked.
    sb.tamper(
        serde_json::json!({"status": 503, "body": "{\"error\":\"temporarily_unavailable\"}"}),
    );
    let out = sandbox_login(&sb);
    expect(&out, 6, "sign in again (run the same command)");
}

#[test]
fn a_throttled_sign_in_code_is_retried() {
    // 429 means Entra did not process the request: the code is still unused.
    let sb = support::Sandbox::start();
    sb.tamper(serde_json::json!({"status": 429, "headers": {"Retry-After": "0"}, "body": "Too Many Requests"}));
    let out = sandbox_login(&sb);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(token_requests(&sb), 2);
}
