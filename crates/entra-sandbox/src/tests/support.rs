//! Shared helpers of the unit tests: a sandbox, an HTTP client, a one-shot loopback listener
//! (the CLI's stand-in), sign-in with the simulated user, token requests, claims, and the
//! AADSTS error shape.

use crate::{simulated_user_sign_in, Sandbox, SandboxOptions};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::collections::HashMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::Duration;

pub(super) const DEFENDER: &str = "https://api.securitycenter.microsoft.com";
pub(super) const VERIFIER: &str = "dBjftJeZ4CK01JG5S3sfsBebwyRCRKDPSJUiFtSr1wk";
pub(super) const CHALLENGE: &str = "iOen_eJ-HMuB5IT5noUupx91QCRLCPaOspaLMxv7N6o";
pub(super) const CONTOSO: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";
pub(super) const FABRIKAM: &str = "c48fcbb1-e295-4b5c-b80f-1376e2cb1575";

pub(super) fn start() -> Sandbox {
    Sandbox::start(SandboxOptions::default()).expect("sandbox starts")
}

pub(super) fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// A one-shot stand-in for the CLI's loopback listener: returns its port and the request target
/// it received.
pub(super) fn listener() -> (u16, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 16384];
            let n = s.read(&mut buf).unwrap_or(0);
            let head = String::from_utf8_lossy(&buf[..n]).to_string();
            let target = head.split_whitespace().nth(1).unwrap_or("").to_string();
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
            let _ = tx.send(target);
        }
    });
    (port, rx)
}

pub(super) fn query_of(target: &str) -> HashMap<String, String> {
    let q = target.split_once('?').map(|(_, q)| q).unwrap_or("");
    url::form_urlencoded::parse(q.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

pub(super) fn authorize_url(
    sb: &Sandbox,
    tenant: &str,
    v2: bool,
    params: &[(&str, &str)],
) -> String {
    let path = if v2 {
        "oauth2/v2.0/authorize"
    } else {
        "oauth2/authorize"
    };
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    format!("{}/{tenant}/{path}?{q}", sb.authority())
}

/// Signs in with the simulated user; returns (upn, code, redirect_uri).
pub(super) async fn sign_in(
    sb: &Sandbox,
    tenant: &str,
    v2: bool,
    extra: &[(&str, &str)],
) -> (String, String, String) {
    let (client_id, _) = sb.default_app();
    let (port, rx) = listener();
    let redirect = format!("http://localhost:{port}/SiemMsspConnector");
    let mut params = vec![
        ("client_id", client_id.as_str()),
        ("response_type", "code"),
        ("redirect_uri", redirect.as_str()),
        ("state", "st-123"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("prompt", "select_account"),
    ];
    params.extend_from_slice(extra);
    let url = authorize_url(sb, tenant, v2, &params);
    let upn = simulated_user_sign_in(&url)
        .await
        .expect("sign-in succeeds");
    let target = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let q = query_of(&target);
    assert_eq!(q["state"], "st-123");
    assert!(q.contains_key("session_state"));
    (upn, q["code"].clone(), redirect)
}

pub(super) async fn post_token(
    sb: &Sandbox,
    tenant: &str,
    v2: bool,
    form: &[(&str, &str)],
) -> (u16, Value) {
    let path = if v2 {
        "oauth2/v2.0/token"
    } else {
        "oauth2/token"
    };
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter())
        .finish();
    let r = http()
        .post(format!("{}/{tenant}/{path}", sb.authority()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    if status != 200 {
        assert_eq!(
            r.headers()["content-type"].to_str().unwrap(),
            "application/json; charset=utf-8"
        );
    }
    (status, r.json().await.unwrap())
}

pub(super) fn claims(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

pub(super) fn assert_aadsts(status: u16, body: &Value, want_status: u16, error: &str, code: u64) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"], error, "{body}");
    assert_eq!(body["error_codes"][0], code, "{body}");
    let d = body["error_description"].as_str().unwrap();
    assert!(d.starts_with(&format!("AADSTS{code}: ")), "{d}");
    assert!(
        d.contains("\r\nTrace ID: ") && d.contains("\r\nCorrelation ID: "),
        "{d}"
    );
    assert!(d.contains("\r\nTimestamp: ") && d.ends_with('Z'), "{d}");
    assert_eq!(
        body["error_uri"],
        format!("https://login.microsoftonline.com/error?code={code}")
    );
    assert!(body["trace_id"].is_string() && body["correlation_id"].is_string());
}
