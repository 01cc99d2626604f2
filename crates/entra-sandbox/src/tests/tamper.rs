//! Tampering (tamper.rs): replaced answers (with the request echoed), amended fields and
//! re-signed claims, counts, the queue order, the Graph routes, specs restricted to one tenant,
//! amended records (wrong-customer data), and bad specs.

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
        (
            json!({"tenant": "contoso.onmicrosoft.com", "status": 500}),
            "'tenant'",
        ),
        (json!({"tenant": 7, "status": 500}), "'tenant'"),
        (json!({"record_index": 1, "fields": {}}), "needs 'records'"),
        (json!({"records": {}, "record_index": -1}), "'record_index'"),
        (json!({"records": [1]}), "'records' must be an object"),
        (json!({"records": {}, "status": 500}), "not both"),
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

const GRAPH_SCOPE: &str = "https://graph.microsoft.com/.default";

/// An app-only token of the default app in `tenant` for `scope`.
async fn token(sb: &crate::Sandbox, tenant: &str, scope: &str) -> String {
    let (client_id, secret) = sb.default_app();
    let (s, b) = post_token(
        sb,
        tenant,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("scope", scope),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

async fn get(url: &str, token: &str) -> (u16, Value) {
    let r = http().get(url).bearer_auth(token).send().await.unwrap();
    let s = r.status().as_u16();
    let text = r.text().await.unwrap();
    (
        s,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

#[tokio::test]
async fn api_specs_hit_the_graph_routes_too() {
    let sb = start();
    let t = token(&sb, CONTOSO, GRAPH_SCOPE).await;
    let url = format!("{}/v1.0/security/alerts_v2?$top=2", sb.authority());
    sb.tamper(&json!({"on": "api", "count": 2, "status": 503, "headers": {"Retry-After": "7"}, "body": "{\"error\":{\"code\":\"ServiceUnavailable\",\"message\":\"down\"}}"}))
        .unwrap();
    for _ in 0..2 {
        let (s, b) = get(&url, &t).await;
        assert_eq!(
            (s, &b["error"]["code"]),
            (503, &json!("ServiceUnavailable"))
        );
    }
    let (s, b) = get(&url, &t).await;
    assert_eq!(s, 200, "{b}");
    let incidents = format!("{}/v1.0/security/incidents?$top=2", sb.authority());
    sb.tamper(&json!({"on": "api", "fields": {"@odata.nextLink": null}}))
        .unwrap();
    let (s, b) = get(&incidents, &t).await;
    assert_eq!(s, 200);
    assert!(b.get("@odata.nextLink").is_none(), "{b}");
    let (_, b) = get(&incidents, &t).await;
    assert!(b["@odata.nextLink"].is_string(), "{b}");
}

#[tokio::test]
async fn a_spec_for_one_tenant_leaves_the_others_alone() {
    let sb = start();
    let base = sb.authority();
    let contoso = token(&sb, CONTOSO, GRAPH_SCOPE).await;
    let fabrikam = token(&sb, FABRIKAM, GRAPH_SCOPE).await;
    let url = format!("{base}/v1.0/security/alerts_v2");
    // Fabrikam's every page fails with 503 (3 pages of 100); Contoso pages through untouched,
    // and its requests do not use up the spec's count.
    sb.tamper(
        &json!({"on": "api", "tenant": FABRIKAM.to_uppercase(), "count": 3, "status": 503,
        "body": "{\"error\":{\"code\":\"ServiceUnavailable\",\"message\":\"down\"}}"}),
    )
    .unwrap();
    let mut next = Some(format!("{url}?$top=100"));
    let mut pages = 0;
    while let Some(u) = next {
        let (s, b) = get(&u, &contoso).await;
        assert_eq!(s, 200, "{b}");
        assert!(b["value"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["tenantId"] == CONTOSO));
        next = b["@odata.nextLink"].as_str().map(str::to_string);
        pages += 1;
    }
    assert_eq!(pages, 3);
    for _ in 0..3 {
        assert_eq!(get(&format!("{url}?$top=100"), &fabrikam).await.0, 503);
    }
    assert_eq!(get(&format!("{url}?$top=100"), &fabrikam).await.0, 200);
    // The Defender API's requests are matched on their token's tid the same way.
    let mde_contoso = token(&sb, CONTOSO, SCOPE).await;
    let mde_fabrikam = token(&sb, FABRIKAM, SCOPE).await;
    sb.tamper(&json!({"on": "api", "tenant": CONTOSO, "status": 500, "body": "{}"}))
        .unwrap();
    assert_eq!(
        get(&format!("{base}/api/alerts"), &mde_fabrikam).await.0,
        200
    );
    assert_eq!(
        get(&format!("{base}/api/alerts"), &mde_contoso).await.0,
        500
    );
    assert_eq!(
        get(&format!("{base}/api/alerts"), &mde_contoso).await.0,
        200
    );
    // A request without a readable token has no tenant: a tenant spec does not take it.
    sb.tamper(&json!({"on": "api", "tenant": CONTOSO, "status": 500, "body": "{}"}))
        .unwrap();
    assert_eq!(get(&url, "not.a.jwt").await.0, 401);
    assert_eq!(get(&url, &contoso).await.0, 500);
    // Token requests: the tenant in the path (GUID or domain); the first spec that matches is
    // taken, so a later unrestricted spec serves another tenant's request first.
    sb.tamper(
        &json!({"tenant": FABRIKAM, "status": 400, "body": "{\"error\":\"invalid_request\"}"}),
    )
    .unwrap();
    sb.tamper(&json!({"fields": {"expires_in": 1}})).unwrap();
    let (client_id, secret) = sb.default_app();
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", SCOPE),
    ];
    let (s, b) = post_token(&sb, "contoso.onmicrosoft.com", true, &form).await;
    assert_eq!((s, &b["expires_in"]), (200, &json!(1)));
    let (s, b) = post_token(&sb, "contoso.onmicrosoft.com", true, &form).await;
    assert_eq!(s, 200);
    assert_ne!(b["expires_in"], 1);
    let (s, _) = post_token(&sb, "fabrikam.onmicrosoft.com", true, &form).await;
    assert_eq!(s, 400);
    let (s, _) = post_token(&sb, FABRIKAM, true, &form).await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn records_carry_another_customers_data_on_demand() {
    let sb = start();
    let base = sb.authority();
    let t = token(&sb, CONTOSO, GRAPH_SCOPE).await;
    let url = format!("{base}/v1.0/security/alerts_v2?$top=5");
    let (_, genuine) = get(&url, &t).await;
    // value[2] gets Fabrikam's tenantId and loses its title; the nextLink goes too.
    sb.tamper(&json!({"on": "api", "tenant": CONTOSO,
        "records": {"tenantId": FABRIKAM, "title": null, "extra": [1, 2]},
        "record_index": 2,
        "fields": {"@odata.nextLink": null}}))
        .unwrap();
    let (s, b) = get(&url, &t).await;
    assert_eq!(s, 200, "{b}");
    let v = b["value"].as_array().unwrap();
    assert_eq!(v.len(), 5);
    for (i, a) in v.iter().enumerate() {
        assert_eq!(a["id"], genuine["value"][i]["id"]);
        if i == 2 {
            assert_eq!(a["tenantId"], FABRIKAM);
            assert!(a.get("title").is_none());
            assert_eq!(a["extra"], json!([1, 2]));
        } else {
            assert_eq!(a, &genuine["value"][i]);
        }
    }
    assert!(b.get("@odata.nextLink").is_none());
    // record_index defaults to 0; past the end the answer passes unchanged (and the spec is
    // used up); errors pass unchanged too.
    sb.tamper(&json!({"on": "api", "records": {"tenantId": FABRIKAM}}))
        .unwrap();
    let (_, b) = get(&url, &t).await;
    assert_eq!(b["value"][0]["tenantId"], FABRIKAM);
    assert_eq!(b["value"][1]["tenantId"], CONTOSO);
    sb.tamper(&json!({"on": "api", "records": {"tenantId": FABRIKAM}, "record_index": 5}))
        .unwrap();
    let (_, b) = get(&url, &t).await;
    assert_eq!(b, genuine);
    let (_, b) = get(&url, &t).await;
    assert_eq!(b, genuine);
    sb.tamper(&json!({"on": "api", "records": {"tenantId": FABRIKAM}}))
        .unwrap();
    let (s, b) = get(&url, "not.a.jwt").await;
    assert_eq!(s, 401);
    assert!(b.get("value").is_none());
    assert_eq!(get(&url, &t).await.1, genuine);
    // The Defender API's records too.
    let mde = token(&sb, CONTOSO, SCOPE).await;
    sb.tamper(&json!({"on": "api", "records": {"machineId": "x"}, "record_index": 1}))
        .unwrap();
    let (s, b) = get(&format!("{base}/api/alerts?$top=3"), &mde).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"][1]["machineId"], "x");
    assert_ne!(b["value"][0]["machineId"], "x");
}
