//! End-to-end tests against a running sandbox (reqwest over loopback), plus dispatch-level
//! tests for inputs a real client would never send.

use super::support::{
    assert_aadsts, authorize_url, claims, http, listener, post_token, query_of, sign_in, start,
    CONTOSO, DEFENDER, FABRIKAM, VERIFIER,
};
use crate::http::{Req, MAX_BODY};
use crate::routes::dispatch;
use crate::{simulated_user_sign_in, Sandbox, SandboxOptions};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use std::time::Duration;

const EXPIRED_APP: &str = "32949881-2c1c-4f64-b3b6-ea7ed5bb7956";
const SINGLE_APP: &str = "f95a6c0b-7f8c-48dc-89fc-63be220e6b35";

#[test]
fn builtin_config_and_info_shape() {
    let sb = start();
    let info = sb.info();
    assert_eq!(info["authority"], sb.authority());
    assert_eq!(info["api_base"], sb.authority());
    assert!(info["ca_file"].is_null());
    assert!(!sb.authority().ends_with('/'));
    let t = &info["tenants"][0];
    assert_eq!(t["domain"], "contoso.onmicrosoft.com");
    assert_eq!(t["consented"], true);
    assert_eq!(
        t["roles"],
        serde_json::json!(["Alert.Read.All", "Incident.Read.All"])
    );
    assert_eq!(
        info["tenants"][1]["roles"],
        serde_json::json!(["Alert.Read.All"])
    );
    assert_eq!(info["tenants"][2]["consented"], false);
    let a = &info["apps"][0];
    assert_eq!(a["multi_tenant"], true);
    assert_eq!(a["secret_expired"], false);
    assert_eq!(info["apps"][1]["secret_expired"], true);
    assert_eq!(
        sb.default_tenant(),
        (CONTOSO.to_string(), "contoso.onmicrosoft.com".to_string())
    );
    let (id, secret) = sb.default_app();
    assert_eq!(a["client_id"], id);
    assert!(secret.starts_with("sandbox-secret-"));
}

#[tokio::test]
async fn v1_code_flow_numbers_as_strings_single_use_code_and_refresh_rotation() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let (upn, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        false,
        &[("resource", DEFENDER), ("nonce", "n-1")],
    )
    .await;
    assert_eq!(upn, "admin@contoso.onmicrosoft.com");
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("client_secret", secret.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", redirect.as_str()),
        ("code_verifier", VERIFIER),
    ];
    // Redeemed at the same tenant through its GUID.
    let (status, body) = post_token(&sb, CONTOSO, false, &form).await;
    assert_eq!(status, 200, "{body}");
    for k in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        assert!(
            body[k].as_str().unwrap().parse::<u64>().is_ok(),
            "{k} must be a string: {body}"
        );
    }
    assert_eq!(body["expires_in"], "3599");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["resource"], DEFENDER);
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], DEFENDER);
    assert_eq!(c["tid"], CONTOSO);
    assert_eq!(c["iss"], format!("https://sts.windows.net/{CONTOSO}/"));
    assert_eq!(c["upn"], "admin@contoso.onmicrosoft.com");
    assert_eq!(c["unique_name"], "admin@contoso.onmicrosoft.com");
    assert_eq!(c["appid"], client_id);
    assert_eq!(c["ver"], "1.0");
    assert_eq!(c["scp"], "user_impersonation");
    assert_eq!(
        c["exp"].as_u64().unwrap().to_string(),
        body["expires_on"].as_str().unwrap()
    );
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(
        (id["aud"].as_str(), id["nonce"].as_str()),
        (Some(client_id.as_str()), Some("n-1"))
    );

    // Single use.
    let (status, again) = post_token(&sb, CONTOSO, false, &form).await;
    assert_aadsts(status, &again, 400, "invalid_grant", 54005);

    // Refresh rotates; the old one is then dead; v1 may switch resource.
    let rt1 = body["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: String, resource: &'static str| {
        let (c, s) = (client_id.clone(), secret.clone());
        let sb = &sb;
        async move {
            post_token(
                sb,
                "contoso.onmicrosoft.com",
                false,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", &c),
                    ("client_secret", &s),
                    ("refresh_token", &rt),
                    ("resource", resource),
                ],
            )
            .await
        }
    };
    let (status, r2) = refresh(rt1.clone(), "https://api.security.microsoft.com").await;
    assert_eq!(status, 200, "{r2}");
    let rt2 = r2["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(r2["expires_in"], "3599");
    assert_eq!(
        claims(r2["access_token"].as_str().unwrap())["aud"],
        "https://api.security.microsoft.com"
    );
    let (status, old) = refresh(rt1, DEFENDER).await;
    assert_aadsts(status, &old, 400, "invalid_grant", 70008);
    let (status, r3) = refresh(rt2, DEFENDER).await;
    assert_eq!(status, 200, "{r3}");
}

#[tokio::test]
async fn v2_numbers_and_offline_access_openid_rules() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let scope = format!("{DEFENDER}/.default offline_access openid profile");
    let (_, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        true,
        &[("scope", &scope), ("nonce", "n-2")],
    )
    .await;
    let redeem = |code: String, redirect: String| {
        let (c, s) = (client_id.clone(), secret.clone());
        let sb = &sb;
        async move {
            post_token(
                sb,
                "contoso.onmicrosoft.com",
                true,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", &c),
                    ("client_secret", &s),
                    ("code", &code),
                    ("redirect_uri", &redirect),
                    ("code_verifier", VERIFIER),
                    ("scope", &format!("{DEFENDER}/.default")),
                ],
            )
            .await
        }
    };
    let (status, body) = redeem(code, redirect).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["expires_in"], 3599);
    assert_eq!(body["ext_expires_in"], 3599);
    assert!(body.get("expires_on").is_none() && body.get("resource").is_none());
    assert!(body["refresh_token"].is_string() && body["id_token"].is_string());
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], DEFENDER);
    assert_eq!(c["iss"], format!("{}/{CONTOSO}/v2.0", sb.authority()));
    assert_eq!(c["azp"], client_id);
    assert_eq!(c["preferred_username"], "admin@contoso.onmicrosoft.com");
    assert_eq!(c["ver"], "2.0");
    assert_eq!(claims(body["id_token"].as_str().unwrap())["nonce"], "n-2");

    // Without offline_access: no refresh token; without openid: no id token.
    let (_, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        true,
        &[("scope", &format!("{DEFENDER}/.default"))],
    )
    .await;
    let (status, body) = redeem(code, redirect).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body.get("refresh_token").is_none() && body.get("id_token").is_none(),
        "{body}"
    );

    // v2 refresh rotates too.
    let (_, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        true,
        &[("scope", &format!("{DEFENDER}/Alert.Read offline_access"))],
    )
    .await;
    let (_, body) = redeem(code, redirect).await;
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["scp"],
        "Alert.Read"
    );
    assert_eq!(
        body["scope"],
        format!("{DEFENDER}/Alert.Read offline_access")
    );
    let rt = body["refresh_token"].as_str().unwrap();
    let form = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", client_id.clone()),
            ("client_secret", secret.clone()),
            ("refresh_token", rt.to_string()),
        ]
    };
    let f1 = form(rt);
    let f1: Vec<(&str, &str)> = f1.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, r2) = post_token(&sb, "contoso.onmicrosoft.com", true, &f1).await;
    assert_eq!(status, 200, "{r2}");
    assert_eq!(r2["expires_in"], 3599);
    assert_ne!(r2["refresh_token"].as_str().unwrap(), rt);
    let (status, old) = post_token(&sb, "contoso.onmicrosoft.com", true, &f1).await;
    assert_aadsts(status, &old, 400, "invalid_grant", 70008);
}

#[tokio::test]
async fn pkce_redirect_uri_tenant_and_endpoint_bindings() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let base = |code: &str, redirect: &str, verifier: Option<&str>| {
        let mut f = vec![
            ("grant_type", "authorization_code".to_string()),
            ("client_id", client_id.clone()),
            ("client_secret", secret.clone()),
            ("code", code.to_string()),
            ("redirect_uri", redirect.to_string()),
        ];
        if let Some(v) = verifier {
            f.push(("code_verifier", v.to_string()));
        }
        f
    };
    let (_, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        false,
        &[("resource", DEFENDER)],
    )
    .await;
    // (form, tenant path, v2 endpoint, status, error, AADSTS)
    type Case<'a> = (Vec<(&'a str, String)>, &'a str, bool, u16, &'a str, u64);
    let cases: Vec<Case> = vec![
        (
            base(
                &code,
                &redirect,
                Some("wrong-verifier-wrong-verifier-wrong-verifier-x"),
            ),
            CONTOSO,
            false,
            400,
            "invalid_grant",
            501481,
        ),
        (
            base(&code, &redirect, None),
            CONTOSO,
            false,
            400,
            "invalid_grant",
            501481,
        ),
        (
            base(
                &code,
                "http://localhost:1/SiemMsspConnector",
                Some(VERIFIER),
            ),
            CONTOSO,
            false,
            400,
            "invalid_grant",
            50011,
        ),
        (
            base(&code, &redirect, Some(VERIFIER)),
            FABRIKAM,
            false,
            400,
            "invalid_grant",
            700005,
        ),
        (
            base(&code, &redirect, Some(VERIFIER)),
            CONTOSO,
            true,
            400,
            "invalid_grant",
            70000,
        ),
    ];
    for (form, tenant, v2, st, err, n) in cases {
        let f: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = post_token(&sb, tenant, v2, &f).await;
        assert_aadsts(status, &body, st, err, n);
    }
    // Failed attempts do not consume the code.
    let f = base(&code, &redirect, Some(VERIFIER));
    let f: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = post_token(&sb, CONTOSO, false, &f).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn an_account_of_another_tenant_gets_its_own_tid() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let (upn, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        false,
        &[
            ("resource", DEFENDER),
            ("login_hint", "admin@fabrikam.onmicrosoft.com"),
        ],
    )
    .await;
    assert_eq!(upn, "admin@fabrikam.onmicrosoft.com");
    let (status, body) = post_token(
        &sb,
        "contoso.onmicrosoft.com",
        false,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["tid"],
        FABRIKAM
    );
}

#[tokio::test]
async fn client_credentials_success_and_errors() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let v2 = |tenant: &'static str, id: String, secret: Option<String>, scope: String| {
        let sb = &sb;
        async move {
            let mut f = vec![
                ("grant_type", "client_credentials".to_string()),
                ("client_id", id),
                ("scope", scope),
            ];
            if let Some(s) = secret {
                f.push(("client_secret", s));
            }
            let f2: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            post_token(sb, tenant, true, &f2).await
        }
    };
    let dflt = format!("{DEFENDER}/.default");
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        client_id.clone(),
        Some(secret.clone()),
        dflt.clone(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.get("refresh_token").is_none() && b.get("id_token").is_none());
    let c = claims(b["access_token"].as_str().unwrap());
    assert_eq!(
        c["roles"],
        serde_json::json!(["Alert.Read.All", "Incident.Read.All"])
    );
    assert_eq!(
        (c["tid"].as_str(), c["aud"].as_str(), c["idtyp"].as_str()),
        (Some(CONTOSO), Some(DEFENDER), Some("app"))
    );
    let (_, b) = v2(
        "FABRIKAM.onmicrosoft.com",
        client_id.clone(),
        Some(secret.clone()),
        dflt.clone(),
    )
    .await;
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["roles"],
        serde_json::json!(["Alert.Read.All"])
    );

    let (s, b) = v2(
        "northwind.onmicrosoft.com",
        client_id.clone(),
        Some(secret.clone()),
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        client_id.clone(),
        Some("nope".into()),
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000215);
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        EXPIRED_APP.into(),
        Some("sandbox-expired-secret~Legacy.2024".into()),
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000222);
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        client_id.clone(),
        None,
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 7000218);
    let (s, b) = v2(
        "nowhere.onmicrosoft.com",
        client_id.clone(),
        Some(secret.clone()),
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 400, "invalid_request", 90002);
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        "00000000-0000-0000-0000-000000000001".into(),
        Some(secret.clone()),
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);
    let (s, b) = v2(
        "fabrikam.onmicrosoft.com",
        SINGLE_APP.into(),
        Some("sandbox-secret-ContosoTool~3Fp9.Wm1".into()),
        dflt.clone(),
    )
    .await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        client_id.clone(),
        Some(secret.clone()),
        format!("{DEFENDER}/Alert.Read"),
    )
    .await;
    assert_aadsts(s, &b, 400, "invalid_scope", 1002012);
    let (s, b) = v2(
        "contoso.onmicrosoft.com",
        client_id.clone(),
        Some(secret.clone()),
        format!("{dflt} {DEFENDER}/Alert.Read"),
    )
    .await;
    assert_aadsts(s, &b, 400, "invalid_scope", 70011);
    let (s, b) = v2(
        "common",
        client_id.clone(),
        Some(secret.clone()),
        dflt.clone(),
    )
    .await;
    assert_eq!((s, b["error"].as_str()), (400, Some("invalid_request")));

    // v1: numbers as strings, resource, no refresh token; HTTP Basic authentication.
    let creds = base64::engine::general_purpose::STANDARD.encode(format!("{client_id}:{secret}"));
    let r = http()
        .post(format!("{}/{CONTOSO}/oauth2/token", sb.authority()))
        .header("Authorization", format!("Basic {creds}"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&resource={DEFENDER}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["expires_in"], "3599");
    assert!(b["expires_on"].is_string() && b.get("refresh_token").is_none());
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["appid"],
        client_id
    );

    // Missing grant_type; a client assertion that is not a JWT (tests/app_only.rs has the rest).
    let (s, b) = post_token(&sb, CONTOSO, true, &[("client_id", &client_id)]).await;
    assert_aadsts(s, &b, 400, "invalid_request", 900144);
    let (s, b) = post_token(
        &sb,
        CONTOSO,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("scope", &dflt),
            (
                "client_assertion_type",
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            ),
            ("client_assertion", "eyJ.x.y"),
        ],
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);
}

#[tokio::test]
async fn authorize_error_pages_and_redirect_errors() {
    let sb = start();
    let (client_id, _) = sb.default_app();
    let get = |url: String| async move { http().get(url).send().await.unwrap() };
    let ok_redirect = "http://localhost:8123/SiemMsspConnector";
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut p: Vec<(&str, &str)> = vec![
            ("client_id", &client_id),
            ("response_type", "code"),
            ("state", "s<1>"),
        ];
        p.extend_from_slice(extra);
        p.into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let url = |tenant: &str, v2: bool, p: &[(String, String)]| {
        let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        authorize_url(&sb, tenant, v2, &p)
    };
    // Pages (400), not redirects.
    for (tenant, params, code) in [
        (
            "nowhere.example",
            with(&[("redirect_uri", ok_redirect)]),
            "AADSTS90002",
        ),
        (
            "contoso.onmicrosoft.com",
            vec![(
                "client_id".to_string(),
                "11111111-2222-4333-8444-555555555555".to_string(),
            )],
            "AADSTS700016",
        ),
        (
            "contoso.onmicrosoft.com",
            with(&[("redirect_uri", "http://localhost:8123/Other")]),
            "AADSTS50011",
        ),
        (
            "contoso.onmicrosoft.com",
            with(&[("redirect_uri", "https://evil.example/<script>")]),
            "AADSTS50011",
        ),
    ] {
        let r = get(url(tenant, false, &params)).await;
        assert_eq!(r.status(), 400);
        let html = r.text().await.unwrap();
        assert!(html.contains(code), "{html}");
        assert!(!html.contains("<script>"), "escaped");
        assert!(html.contains("valid nowhere else"));
    }
    let single = vec![
        ("client_id".to_string(), SINGLE_APP.to_string()),
        ("response_type".into(), "code".into()),
    ];
    let html = get(url("fabrikam.onmicrosoft.com", false, &single))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("AADSTS700016"), "{html}");

    // The sign-in page.
    let r = get(url(
        "contoso.onmicrosoft.com",
        true,
        &with(&[
            ("redirect_uri", ok_redirect),
            ("scope", "https://api.securitycenter.microsoft.com/.default"),
        ]),
    ))
    .await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    for needle in [
        "<title>Sign in — mssp-token sandbox</title>",
        "name=\"account\"",
        "name=\"request\"",
        "id=\"accept\"",
        "id=\"cancel\"",
        "MSSP SIEM Connector (sandbox)",
        "admin@northwind.onmicrosoft.com",
        "value=\"admin@contoso.onmicrosoft.com\" checked",
    ] {
        assert!(html.contains(needle), "{needle} missing");
    }

    // Redirect errors after the redirect URI is valid.
    let loc = |r: &reqwest::Response| query_of(r.headers()["location"].to_str().unwrap());
    let r = get(url("contoso.onmicrosoft.com", true, &with(&[("redirect_uri", ok_redirect), ("scope", "https://api.securitycenter.microsoft.com/.default https://api.securitycenter.microsoft.com/Alert.Read")]))).await;
    assert_eq!(r.status(), 302);
    let q = loc(&r);
    assert_eq!(
        (q["error"].as_str(), q["state"].as_str()),
        ("invalid_scope", "s<1>")
    );
    assert!(q["error_description"].starts_with("AADSTS70011: "));
    let r = get(url(
        "northwind.onmicrosoft.com",
        false,
        &with(&[
            ("redirect_uri", ok_redirect),
            ("prompt", "none"),
            ("resource", DEFENDER),
        ]),
    ))
    .await;
    let q = loc(&r);
    assert_eq!(q["error"], "consent_required");
    assert!(q["error_description"].starts_with("AADSTS65001: "));
    let r = get(url(
        "contoso.onmicrosoft.com",
        false,
        &with(&[("redirect_uri", ok_redirect), ("prompt", "none")]),
    ))
    .await;
    let q = loc(&r);
    assert!(q.contains_key("code") && q["state"] == "s<1>");
    let mut p = with(&[("redirect_uri", ok_redirect)]);
    p[1].1 = "token".into();
    let q = loc(&get(url("contoso.onmicrosoft.com", false, &p)).await);
    assert_eq!(q["error"], "unsupported_response_type");
    let q = loc(&get(url(
        "contoso.onmicrosoft.com",
        true,
        &with(&[("redirect_uri", ok_redirect)]),
    ))
    .await);
    assert_eq!(q["error"], "invalid_request");

    // Cancel.
    let id = html
        .split("name=\"request\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let r = http()
        .post(format!("{}/sandbox/signin", sb.authority()))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(format!(
            "request={id}&account=admin%40contoso.onmicrosoft.com&action=cancel"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("http://localhost:8123/SiemMsspConnector?error=access_denied&error_subcode=cancel&error_description=AADSTS65004%3A+User+declined+to+consent+to+access+the+app."), "{location}");
    // The pending request is single use.
    let r = http()
        .post(format!("{}/sandbox/signin", sb.authority()))
        .body(format!("request={id}&action=accept"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn consent_revocation_sessions_and_admin_consent() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let (_, code, redirect) = sign_in(
        &sb,
        "contoso.onmicrosoft.com",
        false,
        &[("resource", DEFENDER)],
    )
    .await;
    let (_, body) = post_token(
        &sb,
        CONTOSO,
        false,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    let control = |path: &str, body: String| {
        let url = format!("{}/sandbox/{path}", sb.authority());
        async move {
            http()
                .post(url)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(
        control(
            "revoke-consent",
            format!("tenant=contoso.onmicrosoft.com&client_id={client_id}")
        )
        .await,
        200
    );
    let refresh = [
        ("grant_type", "refresh_token"),
        ("client_id", &client_id),
        ("client_secret", &secret),
        ("refresh_token", &rt),
    ];
    let (s, b) = post_token(&sb, CONTOSO, false, &refresh).await;
    assert_aadsts(s, &b, 400, "invalid_grant", 65001);

    // Admin consent (v2 /adminconsent) in Northwind, then client credentials work there.
    let (port, rx) = listener();
    let url = format!(
        "{}/organizations/v2.0/adminconsent?client_id={client_id}&redirect_uri=http://localhost:{port}/SiemMsspConnector&state=ac1&scope={DEFENDER}/.default&login_hint=admin@northwind.onmicrosoft.com",
        sb.authority()
    );
    assert_eq!(
        simulated_user_sign_in(&url).await.unwrap(),
        "admin@northwind.onmicrosoft.com"
    );
    let q = query_of(&rx.recv_timeout(Duration::from_secs(10)).unwrap());
    assert_eq!(
        (
            q["admin_consent"].as_str(),
            q["tenant"].as_str(),
            q["state"].as_str()
        ),
        ("True", "76ac3db6-ba74-423b-903a-6de62ba90e30", "ac1")
    );
    let (s, b) = post_token(
        &sb,
        "northwind.onmicrosoft.com",
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("scope", &format!("{DEFENDER}/.default")),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // Revoked sessions: 50173.
    let (_, code, redirect) = sign_in(
        &sb,
        "fabrikam.onmicrosoft.com",
        false,
        &[("resource", DEFENDER)],
    )
    .await;
    let (_, body) = post_token(
        &sb,
        FABRIKAM,
        false,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
        ],
    )
    .await;
    let rt = body["refresh_token"].as_str().unwrap().to_string();
    assert_eq!(
        control("revoke-sessions", "tenant=fabrikam.onmicrosoft.com".into()).await,
        200
    );
    let (s, b) = post_token(
        &sb,
        FABRIKAM,
        false,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("refresh_token", &rt),
        ],
    )
    .await;
    assert_aadsts(s, &b, 400, "invalid_grant", 50173);
}

#[tokio::test]
async fn discovery_jwks_and_signature() {
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::signature::Verifier;
    let sb = start();
    let a = sb.authority();
    let cfg: Value = http()
        .get(format!(
            "{a}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cfg["issuer"], format!("{a}/{CONTOSO}/v2.0"));
    assert_eq!(
        cfg["jwks_uri"],
        format!("{a}/{CONTOSO}/discovery/v2.0/keys")
    );
    assert_eq!(
        cfg["token_endpoint"],
        format!("{a}/{CONTOSO}/oauth2/v2.0/token")
    );
    let r = http()
        .get(format!(
            "{a}/nowhere.example/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error_codes"][0], 90002);
    let jwks: Value = http()
        .get(format!("{a}/common/discovery/v2.0/keys"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let k = &jwks["keys"][0];
    assert_eq!(
        (k["kty"].as_str(), k["use"].as_str()),
        (Some("RSA"), Some("sig"))
    );

    let (id, secret) = sb.default_app();
    let (_, b) = post_token(
        &sb,
        CONTOSO,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
            ("scope", &format!("{DEFENDER}/.default")),
        ],
    )
    .await;
    let jwt = b["access_token"].as_str().unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
    assert_eq!(header["kid"], k["kid"]);
    let n = rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k["n"].as_str().unwrap()).unwrap());
    let e = rsa::BigUint::from_bytes_be(&URL_SAFE_NO_PAD.decode(k["e"].as_str().unwrap()).unwrap());
    let vk = VerifyingKey::<sha2::Sha256>::new(rsa::RsaPublicKey::new(n, e).unwrap());
    let sig = Signature::try_from(URL_SAFE_NO_PAD.decode(parts[2]).unwrap().as_slice()).unwrap();
    vk.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig)
        .unwrap();
}

#[tokio::test]
async fn hostile_inputs_never_panic() {
    let sb = start();
    let a = sb.authority();
    let big = vec![b'a'; MAX_BODY + 10];
    let r = http()
        .post(format!("{a}/common/oauth2/token"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    let r = http()
        .post(format!("{a}/common/oauth2/token"))
        .body(vec![0xff, 0xfe, b'=', b'&', b'%', 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["error_codes"][0], 900144);
    let r = http()
        .get(format!("{a}/nothing/here"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.json::<Value>().await.is_ok());
    let r = http()
        .get(format!("{a}/common/oauth2/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .get(format!("{a}/%FF%00/oauth2/authorize?client_id=%ZZ&&&=="))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!("{a}/sandbox/signin"))
        .body("request=%FF&action=accept")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!("{a}/common/oauth2/token"))
        .header("Authorization", "Basic !!!")
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[test]
fn dispatch_level_checks() {
    let sb = start();
    let inner = &sb.inner;
    let req = |m: &str, t: &str, body: &str| Req::new(m, t, vec![], body.as_bytes().to_vec());
    let r = dispatch(inner, &req("GET", "/sandbox/info", ""));
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("Content-Type"),
        Some("application/json; charset=utf-8")
    );
    let r = dispatch(
        inner,
        &req(
            "POST",
            "/contoso.onmicrosoft.com/oauth2/v2.0/token",
            "grant_type=password&client_id=x",
        ),
    );
    assert_eq!(r.status, 400);
    let v: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(v["error"], "unsupported_grant_type");
}

#[tokio::test]
async fn config_file_code_lifetime_and_unknown_fields() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"tenants": [], "apps": [], "colour": 1}"#).unwrap();
    let err = format!(
        "{:#}",
        Sandbox::start(SandboxOptions {
            port: None,
            config: Some(bad),
            ..Default::default()
        })
        .err()
        .unwrap()
    );
    assert!(err.contains("colour"), "{err}");
    let good = dir.path().join("good.json");
    std::fs::write(&good, r#"{
      "code_lifetime_secs": 0,
      "tenants": [{"id": "11111111-2222-4333-8444-555555555555", "domain": "t.example", "name": "T",
                   "users": [{"upn": "u@t.example", "name": "U", "oid": "21111111-2222-4333-8444-555555555555"}]}],
      "apps": [{"client_id": "31111111-2222-4333-8444-555555555555", "name": "A", "home_tenant": "t.example",
                "redirect_uris": ["http://localhost/cb"], "secrets": [{"value": "s"}], "public_client": true}]
    }"#).unwrap();
    let sb = Sandbox::start(SandboxOptions {
        port: None,
        config: Some(good),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(sb.default_tenant().1, "t.example");
    let (port, rx) = listener();
    let redirect = format!("http://localhost:{port}/cb");
    let url = authorize_url(
        &sb,
        "t.example",
        false,
        &[
            ("client_id", "31111111-2222-4333-8444-555555555555"),
            ("response_type", "code"),
            ("redirect_uri", &redirect),
            ("resource", DEFENDER),
        ],
    );
    assert_eq!(simulated_user_sign_in(&url).await.unwrap(), "u@t.example");
    let q = query_of(&rx.recv_timeout(Duration::from_secs(10)).unwrap());
    // Public client: no secret needed, but the code lived 0 seconds.
    let (s, b) = post_token(
        &sb,
        "t.example",
        false,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "31111111-2222-4333-8444-555555555555"),
            ("code", &q["code"]),
            ("redirect_uri", &redirect),
        ],
    )
    .await;
    assert_aadsts(s, &b, 400, "invalid_grant", 70008);
}

#[tokio::test]
async fn form_post_response_mode_reaches_the_listener() {
    let sb = start();
    let (client_id, _) = sb.default_app();
    let (port, rx) = listener();
    let redirect = format!("http://localhost:{port}/SiemMsspConnector");
    let url = authorize_url(
        &sb,
        "fabrikam.onmicrosoft.com",
        false,
        &[
            ("client_id", &client_id),
            ("response_type", "code"),
            ("redirect_uri", &redirect),
            ("response_mode", "form_post"),
            ("resource", DEFENDER),
        ],
    );
    assert_eq!(
        simulated_user_sign_in(&url).await.unwrap(),
        "admin@fabrikam.onmicrosoft.com"
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "/SiemMsspConnector"
    );
}
