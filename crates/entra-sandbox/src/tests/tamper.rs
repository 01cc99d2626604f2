//! Tampering (tamper.rs): replaced answers (with the request echoed), amended fields and
//! re-signed claims, counts, the queue order, and bad specs.

use super::support::*;
use serde_json::{json, Value};

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

async fn cc(
    sb: &crate::Sandbox,
    secret_override: Option<&str>,
) -> (u16, Vec<(String, String)>, String) {
    let (client_id, secret) = sb.default_app();
    let secret = secret_override.unwrap_or(&secret).to_string();
    let r = http()
        .post(format!("{}/{CONTOSO}/oauth2/v2.0/token", sb.authority()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("scope", SCOPE),
        ])
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    (status, headers, r.text().await.unwrap())
}

#[tokio::test]
async fn a_replaced_answer_echoes_the_request_and_keeps_its_headers() {
    let sb = start();
    sb.tamper(&json!({
        "status": 400,
        "headers": {"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"},
        "body": "{\"error\":\"invalid_request\",\"error_description\":\"got {request_body}\"}"
    }))
    .unwrap();
    let (status, headers, body) = cc(&sb, Some("a~b \"c\"")).await;
    assert_eq!(status, 400);
    assert!(headers
        .iter()
        .any(|(k, v)| k == "retry-after" && v == "Wed, 21 Oct 2026 07:28:00 GMT"));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("application/json")));
    let v: Value = serde_json::from_str(&body).unwrap();
    let d = v["error_description"].as_str().unwrap();
    assert!(
        d.contains("client_secret=a%7Eb+%22c%22") || d.contains("client_secret=a~b+%22c%22"),
        "{d}"
    );
    // Used once: the next request is genuine.
    let (status, _, body) = cc(&sb, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn amended_answers_keep_a_signed_token_with_the_new_claims_for_count_requests() {
    let sb = start();
    sb.tamper(&json!({
        "count": 2,
        "fields": {"expires_in": 1_000_000_000_000u64, "ext_expires_in": null},
        "claims": {"tid": FABRIKAM, "iat": u64::MAX}
    }))
    .unwrap();
    for _ in 0..2 {
        let (status, _, body) = cc(&sb, None).await;
        assert_eq!(status, 200);
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["expires_in"], 1_000_000_000_000u64);
        assert!(v.get("ext_expires_in").is_none());
        let at = v["access_token"].as_str().unwrap();
        assert_eq!(at.split('.').count(), 3);
        let c = claims(at);
        assert_eq!(c["tid"], FABRIKAM);
        assert_eq!(c["iat"], u64::MAX);
        assert_eq!(c["aud"], "https://api.securitycenter.microsoft.com");
    }
    let (_, _, body) = cc(&sb, None).await;
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(claims(v["access_token"].as_str().unwrap())["tid"], CONTOSO);
}

#[tokio::test]
async fn specs_take_only_their_kind_of_request_and_errors_pass_unamended() {
    let sb = start();
    sb.tamper(&json!({"on": "api", "status": 302, "headers": {"Location": "https://evil.example/x"}, "body": ""}))
        .unwrap();
    sb.tamper(&json!({"fields": {"access_token": "x';touch y;'"}}))
        .unwrap();
    // The token spec is taken by the token request even though the api spec is first; a failed
    // request (wrong secret) still consumes it and passes unchanged.
    let (status, _, body) = cc(&sb, Some("wrong")).await;
    assert_eq!(status, 401, "{body}");
    let (status, _, body) = cc(&sb, None).await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let at = v["access_token"].as_str().unwrap().to_string();
    let r = http()
        .get(format!("{}/api/alerts", sb.authority()))
        .bearer_auth(&at)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 302);
    assert_eq!(r.headers()["location"], "https://evil.example/x");
}

#[tokio::test]
async fn bad_specs_are_refused_over_http_with_the_reason() {
    let sb = start();
    for (spec, needle) in [
        (json!({"on": "authorize", "status": 500}), "'on'"),
        (json!({"status": 700}), "'status'"),
        (json!({"count": 0, "status": 500}), "'count'"),
        (json!({"status": 500, "fields": {}}), "not both"),
        (json!({"on": "token"}), "needs"),
        (json!({"bogus": 1}), "unknown tamper field 'bogus'"),
        (json!([1]), "JSON object"),
    ] {
        let r = http()
            .post(format!("{}/sandbox/tamper", sb.authority()))
            .body(spec.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{spec}");
        let text = r.text().await.unwrap();
        assert!(text.contains(needle), "{spec}: {text}");
    }
    let r = http()
        .post(format!("{}/sandbox/tamper", sb.authority()))
        .body(json!({"status": 503, "body": "Service Unavailable"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["queued"], 1);
    let (status, headers, body) = cc(&sb, None).await;
    assert_eq!((status, body.as_str()), (503, "Service Unavailable"));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v.starts_with("text/plain")));
    sb.tamper(&json!({"status": 500})).unwrap();
    sb.tamper(&json!({"clear": true})).unwrap();
    assert_eq!(cc(&sb, None).await.0, 200);
}
