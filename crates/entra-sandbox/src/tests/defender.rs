//! The Defender APIs end to end: paging with @odata.nextLink, $filter, 400, 401, 403, 429,
//! per-tenant data, delegated tokens.

use super::support::{
    claims, http, post_token, sign_in, start, CONTOSO, DEFENDER, FABRIKAM, VERIFIER,
};
use crate::data::alerts;
use crate::routes::dispatch;
use crate::{Sandbox, SandboxOptions};
use serde_json::Value;

const XDR: &str = "https://api.security.microsoft.com";

async fn app_token(sb: &Sandbox, tenant: &str, resource: &str) -> String {
    let (client_id, secret) = sb.default_app();
    let (s, b) = post_token(
        sb,
        tenant,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("scope", &format!("{resource}/.default")),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["access_token"].as_str().unwrap().to_string()
}

/// GET with an optional bearer token: (status, headers, JSON body).
async fn get(url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = http().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let target = body["error"]["target"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(target).is_ok(), "{target}");
}

/// Follows @odata.nextLink from `url`; returns every item and the number of pages.
async fn all_pages(url: String, token: &str) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, Some(url));
    while let Some(u) = next {
        let (s, _, b) = get(&u, Some(token)).await;
        assert_eq!(s, 200, "{b}");
        items.extend(b["value"].as_array().unwrap().iter().cloned());
        pages += 1;
        next = b["@odata.nextLink"].as_str().map(str::to_string);
        assert!(pages < 100);
    }
    (items, pages)
}

#[tokio::test]
async fn alerts_paging_and_filter() {
    let sb = start();
    let api = sb.info()["api_base"].as_str().unwrap().to_string();
    let token = app_token(&sb, "contoso.onmicrosoft.com", DEFENDER).await;

    let (s, _, all) = get(&format!("{api}/api/alerts"), Some(&token)).await;
    assert_eq!(s, 200, "{all}");
    assert_eq!(all["@odata.context"], format!("{api}/api/$metadata#Alerts"));
    assert!(all.get("@odata.nextLink").is_none());
    let all = all["value"].as_array().unwrap().clone();
    assert_eq!(all.len(), alerts::ALERTS_PER_TENANT);
    let a = &all[0];
    for k in [
        "id",
        "incidentId",
        "severity",
        "status",
        "title",
        "category",
        "machineId",
        "computerDnsName",
        "alertCreationTime",
        "lastUpdateTime",
        "firstEventTime",
        "lastEventTime",
        "detectionSource",
        "assignedTo",
        "classification",
        "determination",
        "threatFamilyName",
        "evidence",
    ] {
        assert!(a.get(k).is_some(), "{k} missing in {a}");
    }
    assert!(a["id"].as_str().unwrap().starts_with("da"));
    assert_eq!(a["aadTenantId"], CONTOSO);

    // Pages of 100: 100, 100, 50, linked by nextLink.
    let (s, _, p1) = get(&format!("{api}/api/alerts?$top=100"), Some(&token)).await;
    assert_eq!(s, 200);
    assert_eq!(p1["value"].as_array().unwrap().len(), 100);
    assert_eq!(
        p1["@odata.nextLink"],
        format!("{api}/api/alerts?$top=100&$skip=100")
    );
    let (paged, pages) = all_pages(format!("{api}/api/alerts?$top=100"), &token).await;
    assert_eq!((paged.len(), pages), (250, 3));
    assert_eq!(paged, all);

    // $filter on lastUpdateTime (and alertCreationTime), kept in nextLink.
    let mut times: Vec<String> = all
        .iter()
        .map(|a| a["lastUpdateTime"].as_str().unwrap().to_string())
        .collect();
    times.sort();
    let cut = &times[120];
    let want: Vec<&Value> = all
        .iter()
        .filter(|a| a["lastUpdateTime"].as_str().unwrap() >= cut.as_str())
        .collect();
    let f = format!("lastUpdateTime ge {cut}");
    let url = format!(
        "{api}/api/alerts?$filter={}&$top=40",
        url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
    );
    let (_, _, first) = get(&url, Some(&token)).await;
    let link = first["@odata.nextLink"].as_str().unwrap();
    assert!(
        link.contains("$top=40&$skip=40&$filter=lastUpdateTime%20ge%20"),
        "{link}"
    );
    let (filtered, _) = all_pages(url, &token).await;
    assert_eq!(filtered.len(), want.len());
    assert!(filtered
        .iter()
        .all(|a| a["lastUpdateTime"].as_str().unwrap() >= cut.as_str()));
    let created_cut = all[200]["alertCreationTime"].as_str().unwrap();
    let f = format!("lastUpdateTime ge {cut} and alertCreationTime lt {created_cut}");
    let (s, _, b) = get(
        &format!(
            "{api}/api/alerts?$filter={}",
            url::form_urlencoded::byte_serialize(f.as_bytes()).collect::<String>()
        ),
        Some(&token),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let n = all
        .iter()
        .filter(|a| {
            a["lastUpdateTime"].as_str().unwrap() >= cut.as_str()
                && a["alertCreationTime"].as_str().unwrap() < created_cut
        })
        .count();
    assert_eq!(b["value"].as_array().unwrap().len(), n);
    // '+' for spaces and a date-only value work too.
    let (s, _, b) = get(
        &format!("{api}/api/alerts?$filter=alertCreationTime+gt+2000-01-01"),
        Some(&token),
    )
    .await;
    assert_eq!((s, b["value"].as_array().unwrap().len()), (200, 250));

    // 400s.
    for q in [
        "$filter=severity%20eq%20'High'",
        "$filter=lastUpdateTime%20ge%20yesterday",
        "$filter=lastUpdateTime%20ge%202024-01-01%20or%20lastUpdateTime%20lt%202024-02-01",
        "$top=10001",
        "$top=-1",
        "$skip=x",
    ] {
        let (s, _, b) = get(&format!("{api}/api/alerts?{q}"), Some(&token)).await;
        assert_eq!(s, 400, "{q}: {b}");
        assert_error(&b, "InvalidRequest");
    }

    // Each tenant has its own data.
    let fab = app_token(&sb, FABRIKAM, DEFENDER).await;
    let (_, _, b) = get(&format!("{api}/api/alerts?$top=1"), Some(&fab)).await;
    assert_eq!(b["value"][0]["aadTenantId"], FABRIKAM);
    assert_ne!(b["value"][0]["id"], all[0]["id"]);
}

#[tokio::test]
async fn incidents_pages_and_permissions() {
    let sb = start();
    let api = sb.authority();
    let token = app_token(&sb, CONTOSO, XDR).await;
    let (s, _, b) = get(&format!("{api}/api/incidents"), Some(&token)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["@odata.context"],
        format!("{api}/api/$metadata#Incidents")
    );
    let v = b["value"].as_array().unwrap();
    assert_eq!(v.len(), alerts::INCIDENTS_PER_TENANT);
    for k in [
        "incidentId",
        "incidentName",
        "createdTime",
        "lastUpdateTime",
        "status",
        "severity",
        "assignedTo",
        "classification",
        "determination",
        "tags",
        "comments",
        "alerts",
    ] {
        assert!(v[0].get(k).is_some(), "{k} missing");
    }
    let (paged, pages) = all_pages(format!("{api}/api/incidents?$top=25"), &token).await;
    assert_eq!((paged.len(), pages), (60, 3));
    let (s, _, b) = get(&format!("{api}/api/incidents?$top=101"), Some(&token)).await;
    assert_eq!(s, 400);
    assert_error(&b, "InvalidRequest");
    let (s, _, _) = get(
        &format!("{api}/api/incidents?$filter=createdTime%20ge%202000-01-01"),
        Some(&token),
    )
    .await;
    assert_eq!(s, 200);
    // A securitycenter token is accepted for incidents too.
    let mde = app_token(&sb, CONTOSO, DEFENDER).await;
    assert_eq!(
        get(&format!("{api}/api/incidents"), Some(&mde)).await.0,
        200
    );

    // 403: Fabrikam granted only Alert.Read.All.
    let fab = app_token(&sb, FABRIKAM, XDR).await;
    let (s, _, b) = get(&format!("{api}/api/incidents"), Some(&fab)).await;
    assert_eq!(s, 403);
    assert_error(&b, "Forbidden");
    assert_eq!(
        b["error"]["message"],
        "The application does not have any of the required application permissions (Incident.ReadWrite.All, Incident.Read.All) to access the resource."
    );
    let fab_mde = app_token(&sb, FABRIKAM, DEFENDER).await;
    assert_eq!(
        get(&format!("{api}/api/alerts"), Some(&fab_mde)).await.0,
        200
    );
}

#[tokio::test]
async fn unauthorized_requests() {
    let sb = start();
    let api = sb.authority();
    let url = format!("{api}/api/alerts");
    let (s, h, b) = get(&url, None).await;
    assert_eq!(s, 401);
    assert_error(&b, "Unauthorized");
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (s, h, b) = get(&url, Some("not.a.jwt")).await;
    assert_eq!(s, 401);
    assert_error(&b, "Unauthorized");
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    // Wrong audience: a Graph token, an XDR token for the MDE alerts API.
    for resource in ["https://graph.microsoft.com", XDR] {
        let t = app_token(&sb, CONTOSO, resource).await;
        let (s, _, b) = get(&url, Some(&t)).await;
        assert_eq!(s, 401, "{resource}");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("audience"),
            "{b}"
        );
    }
    // A token of another sandbox (another signing key).
    let other = start();
    let t = app_token(&other, CONTOSO, DEFENDER).await;
    assert_eq!(get(&url, Some(&t)).await.0, 401);
    // A tampered token.
    let t = app_token(&sb, CONTOSO, DEFENDER).await;
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims(&t);
    c["roles"] = serde_json::json!(["Alert.ReadWrite.All"]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            c.to_string()
        ),
        parts[2]
    );
    assert_eq!(get(&url, Some(&forged)).await.0, 401);
    // Basic auth and other methods.
    let r = http()
        .get(&url)
        .basic_auth("a", Some("b"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http().delete(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 405);
    let r = http()
        .get(format!("{api}/api/machines"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn delegated_tokens_need_alert_read() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let redeem = |code: String, redirect: String, v2: bool| {
        let (c, s) = (client_id.clone(), secret.clone());
        let sb = &sb;
        async move {
            let mut form = vec![
                ("grant_type", "authorization_code".to_string()),
                ("client_id", c),
                ("client_secret", s),
                ("code", code),
                ("redirect_uri", redirect),
                ("code_verifier", VERIFIER.to_string()),
            ];
            if !v2 {
                form.push(("resource", DEFENDER.to_string()));
            }
            let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, b) = post_token(sb, CONTOSO, v2, &f).await;
            assert_eq!(s, 200, "{b}");
            b["access_token"].as_str().unwrap().to_string()
        }
    };
    let url = format!("{}/api/alerts?$top=5", sb.authority());
    // v1 with only user_impersonation: 403 naming the delegated permissions.
    let (_, code, redirect) = sign_in(&sb, CONTOSO, false, &[("resource", DEFENDER)]).await;
    let t = redeem(code, redirect, false).await;
    assert_eq!(claims(&t)["scp"], "user_impersonation");
    let (s, _, b) = get(&url, Some(&t)).await;
    assert_eq!(s, 403);
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Alert.ReadWrite, Alert.Read"),
        "{b}"
    );
    // v2 with the delegated Alert.Read permission (consented on the way): allowed.
    let scope = format!("{DEFENDER}/Alert.Read");
    let (_, code, redirect) = sign_in(&sb, CONTOSO, true, &[("scope", &scope)]).await;
    let t = redeem(code, redirect, true).await;
    assert_eq!(claims(&t)["scp"], "Alert.Read");
    let (s, _, b) = get(&url, Some(&t)).await;
    assert_eq!((s, b["value"].as_array().map(Vec::len)), (200, Some(5)));
    // Now consented in Contoso, Alert.Read is in later v1 tokens too.
    let (_, code, redirect) = sign_in(&sb, CONTOSO, false, &[("resource", DEFENDER)]).await;
    let t = redeem(code, redirect, false).await;
    assert_eq!(claims(&t)["scp"], "user_impersonation Alert.Read");
    assert_eq!(get(&url, Some(&t)).await.0, 200);
}

#[tokio::test]
async fn rate_limit_per_tenant() {
    let sb = Sandbox::start(SandboxOptions {
        rate_limit: Some(3),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(sb.info()["rate_limit_per_minute"], 3);
    let url = format!("{}/api/alerts?$top=1", sb.authority());
    let t = app_token(&sb, CONTOSO, DEFENDER).await;
    for _ in 0..3 {
        assert_eq!(get(&url, Some(&t)).await.0, 200);
    }
    let (s, h, b) = get(&url, Some(&t)).await;
    assert_eq!(s, 429);
    assert_error(&b, "TooManyRequests");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // Another tenant has its own budget; unauthenticated calls do not count.
    let f = app_token(&sb, FABRIKAM, DEFENDER).await;
    assert_eq!(get(&url, Some(&f)).await.0, 200);
    assert_eq!(get(&url, None).await.0, 401);
}

/// Straight through `dispatch` (no catch_unwind): any panic fails the test.
#[test]
fn hostile_inputs_on_new_endpoints_never_panic() {
    use crate::http::Req;
    let sb = start();
    let inner = &sb.inner;
    let b64 = |s: &str| {
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            s.as_bytes(),
        )
    };
    let (client_id, secret) = sb.default_app();
    let form = format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={secret}&scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default"
    );
    let r = dispatch(
        inner,
        &Req::new(
            "POST",
            &format!("/{CONTOSO}/oauth2/v2.0/token"),
            vec![],
            form.into_bytes(),
        ),
    );
    let token: Value = serde_json::from_slice(&r.body).unwrap();
    let token = token["access_token"].as_str().unwrap().to_string();
    let auths = [
        "Bearer é".to_string(),
        "bearer".to_string(),
        "Bearer a.b.c".to_string(),
        "Bearer ...".to_string(),
        "Béarer x".to_string(),
        format!("Bearer {token}"),
    ];
    let queries = [
        "",
        "$top=99999999999999999999999",
        "$skip=18446744073709551615&$top=10000",
        "$skip=18446744073709551615&$top=1",
        "$filter=%FF%FE",
        "$filter=lastUpdateTime%20ge%209999-12-31T23:59:59.9999999%2B23:59",
        "$filter=lastUpdateTime%20ge%20-001-01-01",
        "$filter=lastUpdateTime%20ge%200000-01-01%20and%20createdTime%20lt%209999-01-01",
        "$top=&$skip=&$filter=",
    ];
    for path in ["/api/alerts", "/api/incidents", "/api/", "/api"] {
        for a in &auths {
            for q in queries {
                let req = Req::new(
                    "GET",
                    &format!("{path}?{q}"),
                    vec![("Authorization".into(), a.clone())],
                    vec![],
                );
                let r = dispatch(inner, &req);
                assert!(r.status < 500, "{path}?{q}: {}", r.status);
            }
        }
    }
    // Client assertions with odd claim types and extreme numbers.
    let headers = [
        r#"{"alg":"PS256","x5t#S256":123}"#,
        r#"{"alg":"RS256","x5t":"!!!"}"#,
        r#"{"alg":["PS256"]}"#,
        r#"{"alg":"RS256","kid":null}"#,
    ];
    let bodies = [
        format!(
            r#"{{"iss":"{client_id}","sub":"{client_id}","exp":1e308,"nbf":-1e308,"aud":{{}},"jti":5}}"#
        ),
        format!(
            r#"{{"iss":"{client_id}","sub":"{client_id}","exp":-9223372036854775808,"nbf":9223372036854775807}}"#
        ),
        r#"{"iss":"x","sub":7,"aud":[1,null,"api://AzureADTokenExchange"],"exp":"soon"}"#
            .to_string(),
        r#"{"iss":12}"#.to_string(),
    ];
    for h in headers {
        for c in &bodies {
            let assertion = format!("{}.{}.{}", b64(h), b64(c), b64("sig"));
            let body = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs([
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id.as_str()),
                    ("scope", "https://api.securitycenter.microsoft.com/.default"),
                    (
                        "client_assertion_type",
                        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                    ),
                    ("client_assertion", assertion.as_str()),
                ])
                .finish();
            let r = dispatch(
                inner,
                &Req::new(
                    "POST",
                    &format!("/{CONTOSO}/oauth2/token"),
                    vec![("Host".into(), "é:1".into())],
                    body.into_bytes(),
                ),
            );
            assert!(r.status == 400 || r.status == 401, "{h} {c}: {}", r.status);
        }
    }
    for lifetime in [
        "-9223372036854775808",
        "9223372036854775807",
        "1e9",
        "-31622400",
    ] {
        let body = format!("lifetime_secs={lifetime}&subject=%F0%9F%A6%80&issuer=%00");
        let r = dispatch(
            inner,
            &Req::new(
                "POST",
                "/sandbox/federated-token",
                vec![],
                body.into_bytes(),
            ),
        );
        assert!(
            r.status == 200 || r.status == 400,
            "{lifetime}: {}",
            r.status
        );
    }
}
