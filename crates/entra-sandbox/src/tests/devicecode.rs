//! The device authorization grant (handlers/devicecode.rs): v1 and v2 devicecode answers, the
//! code page and its sign-in (the simulated user), the poll answers, public clients,
//! Conditional Access and expiry.

use super::support::*;
use crate::{simulated_user_device_sign_in, Sandbox, SandboxOptions};
use serde_json::{json, Value};

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default offline_access openid";

async fn post(url: String, form: &[(&str, &str)]) -> (u16, Value) {
    let r = http().post(url).form(form).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn devicecode_v2(sb: &Sandbox, tenant: &str) -> Value {
    let (client_id, _) = sb.default_app();
    let (status, v) = post(
        format!("{}/{tenant}/oauth2/v2.0/devicecode", sb.authority()),
        &[("client_id", client_id.as_str()), ("scope", SCOPE)],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v
}

async fn poll_v2(sb: &Sandbox, tenant: &str, device_code: &str, secret: bool) -> (u16, Value) {
    let (client_id, s) = sb.default_app();
    let mut form = vec![
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("client_id", client_id.as_str()),
        ("device_code", device_code),
    ];
    if secret {
        form.push(("client_secret", s.as_str()));
    }
    post(
        format!("{}/{tenant}/oauth2/v2.0/token", sb.authority()),
        &form,
    )
    .await
}

fn s<'a>(v: &'a Value, k: &str) -> &'a str {
    v[k].as_str().unwrap_or_else(|| panic!("{k} in {v}"))
}

#[tokio::test]
async fn v2_device_code_pending_then_signed_in_then_spent() {
    let sb = start();
    let d = devicecode_v2(&sb, CONTOSO).await;
    assert_eq!(d["expires_in"], 900);
    assert_eq!(d["interval"], 5);
    let uri = s(&d, "verification_uri");
    assert_eq!(uri, format!("{}/sandbox/device", sb.authority()));
    let code = s(&d, "user_code");
    assert_eq!(code.len(), 9);
    assert!(s(&d, "message").contains(code) && s(&d, "message").contains(uri));
    let (status, v) = poll_v2(&sb, CONTOSO, s(&d, "device_code"), true).await;
    assert_eq!((status, s(&v, "error")), (400, "authorization_pending"));

    let upn = simulated_user_device_sign_in(uri, &code.to_lowercase(), None, true)
        .await
        .unwrap();
    assert_eq!(upn, "admin@contoso.onmicrosoft.com");
    let (status, v) = poll_v2(&sb, CONTOSO, s(&d, "device_code"), true).await;
    assert_eq!(status, 200, "{v}");
    assert!(v["refresh_token"].is_string() && v["id_token"].is_string());
    assert!(v["expires_in"].is_number());
    let c = claims(s(&v, "access_token"));
    assert_eq!(c["tid"], CONTOSO);
    let (status, v) = poll_v2(&sb, CONTOSO, s(&d, "device_code"), true).await;
    assert_eq!((status, s(&v, "error")), (400, "bad_verification_code"));
    // The page refuses a used code, and a code it never issued.
    let e = simulated_user_device_sign_in(uri, code, None, true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("already used"), "{e}");
    let e = simulated_user_device_sign_in(uri, "ZZZZZZZZZ", None, true)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("didn't work"), "{e}");
}

#[tokio::test]
async fn v1_device_code_has_verification_url_strings_and_code_field() {
    let sb = start();
    let (client_id, secret) = sb.default_app();
    let (status, d) = post(
        format!(
            "{}/contoso.onmicrosoft.com/oauth2/devicecode",
            sb.authority()
        ),
        &[("client_id", client_id.as_str()), ("resource", DEFENDER)],
    )
    .await;
    assert_eq!(status, 200, "{d}");
    assert_eq!(d["expires_in"], "900");
    assert_eq!(d["interval"], "5");
    assert!(d["verification_uri"].is_null());
    simulated_user_device_sign_in(s(&d, "verification_url"), s(&d, "user_code"), None, true)
        .await
        .unwrap();
    let (status, v) = post(
        format!("{}/contoso.onmicrosoft.com/oauth2/token", sb.authority()),
        &[
            ("grant_type", "device_code"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", s(&d, "device_code")),
        ],
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["expires_in"].as_str().map(|_| ()), Some(()), "{v}");
    assert_eq!(v["resource"], DEFENDER);
    assert_eq!(claims(s(&v, "access_token"))["tid"], CONTOSO);
}

#[tokio::test]
async fn no_credential_without_public_client_flows_is_7000218_and_cancel_declines() {
    let sb = start();
    let d = devicecode_v2(&sb, CONTOSO).await;
    let (status, v) = poll_v2(&sb, CONTOSO, s(&d, "device_code"), false).await;
    assert_eq!(status, 401, "{v}");
    assert_eq!(v["error_codes"], json!([7000218]));
    let none =
        simulated_user_device_sign_in(s(&d, "verification_uri"), s(&d, "user_code"), None, false)
            .await
            .unwrap();
    assert_eq!(none, "");
    let (status, v) = poll_v2(&sb, CONTOSO, s(&d, "device_code"), true).await;
    assert_eq!((status, s(&v, "error")), (400, "authorization_declined"));
    // Another tenant's path cannot redeem it.
    let (status, v) = poll_v2(&sb, FABRIKAM, s(&d, "device_code"), true).await;
    assert_eq!((status, s(&v, "error")), (400, "bad_verification_code"));
}

/// A config with a public-client app, a short device code life, and Fabrikam blocking device code.
fn custom(dir: &std::path::Path) -> Sandbox {
    let cfg = json!({
        "device_code_lifetime_secs": 1,
        "device_code_interval_secs": 1,
        "device_code_blocked_tenants": ["fabrikam.onmicrosoft.com"],
        "tenants": [
            {"id": CONTOSO, "domain": "contoso.onmicrosoft.com", "name": "Contoso",
             "users": [{"upn": "admin@contoso.onmicrosoft.com", "name": "Contoso Admin",
                        "oid": "01b11418-86c7-466a-b822-c55750d55bf8"}],
             "grants": [{"client_id": "b64a329e-a098-404b-99fd-26066cccda7e"}]},
            {"id": FABRIKAM, "domain": "fabrikam.onmicrosoft.com", "name": "Fabrikam",
             "users": [{"upn": "admin@fabrikam.onmicrosoft.com", "name": "Fabrikam Admin",
                        "oid": "078a7e53-d2f1-4c53-947c-717ea235cdcd"}],
             "grants": [{"client_id": "b64a329e-a098-404b-99fd-26066cccda7e"}]}
        ],
        "apps": [{"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "name": "Public tool",
                  "home_tenant": CONTOSO, "multi_tenant": true, "public_client": true,
                  "redirect_uris": ["http://localhost/x"], "secrets": [{"value": "s3cret"}]}]
    });
    let p = dir.join("sandbox.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    Sandbox::start(SandboxOptions {
        config: Some(p),
        ..SandboxOptions::default()
    })
    .unwrap()
}

#[tokio::test]
async fn conditional_access_blocks_and_codes_expire_and_public_clients_need_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let sb = custom(dir.path());
    let d = devicecode_v2(&sb, FABRIKAM).await;
    assert_eq!(d["interval"], 1);
    let e =
        simulated_user_device_sign_in(s(&d, "verification_uri"), s(&d, "user_code"), None, true)
            .await
            .unwrap_err();
    assert!(e.to_string().contains("AADSTS53003"), "{e}");
    let (status, v) = poll_v2(&sb, FABRIKAM, s(&d, "device_code"), false).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["error_codes"], json!([53003]));

    let d = devicecode_v2(&sb, CONTOSO).await;
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (status, v) = poll_v2(&sb, CONTOSO, s(&d, "device_code"), false).await;
    assert_eq!((status, s(&v, "error")), (400, "expired_token"), "{v}");
    let e =
        simulated_user_device_sign_in(s(&d, "verification_uri"), s(&d, "user_code"), None, true)
            .await
            .unwrap_err();
    assert!(e.to_string().contains("expired"), "{e}");
}
