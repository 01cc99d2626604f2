//! Partner access (GDAP / Secure Application Model, gdap.rs): a partner user's refresh token
//! redeemed in customer tenants, the roles it carries there, each GDAP error, rotation, and the
//! configuration's checks.

use super::support::{
    assert_aadsts, claims, post_token, sign_in, start, CONTOSO, DEFENDER, VERIFIER,
};
use crate::data::config::Config;
use crate::{Sandbox, SandboxOptions};
use serde_json::{json, Value};

const PARTNER: &str = "mssp-provider.onmicrosoft.com";
const PARTNER_ID: &str = "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7";
const SECURITY_READER: &str = "5d6b6bb7-de71-4623-b4af-96380a352509";
const SECURITY_OPERATOR: &str = "5f2222b1-57c3-48ba-8ad5-d4759f1fde6f";

/// Signs `upn` in at the partner tenant (v2, offline_access); returns the partner refresh token.
async fn partner_refresh_token(sb: &Sandbox, upn: &str) -> String {
    let (client_id, secret) = sb.default_app();
    let scope = format!("{DEFENDER}/.default offline_access");
    let (who, code, redirect) = sign_in(
        sb,
        PARTNER,
        true,
        &[("scope", scope.as_str()), ("login_hint", upn)],
    )
    .await;
    assert_eq!(who, upn);
    let (status, body) = post_token(
        sb,
        PARTNER,
        true,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("code", &code),
            ("redirect_uri", &redirect),
            ("code_verifier", VERIFIER),
            ("scope", &scope),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["tid"],
        PARTNER_ID
    );
    body["refresh_token"].as_str().unwrap().to_string()
}

/// The partner refresh token redeemed at `customer`'s v2 token endpoint.
async fn redeem(sb: &Sandbox, customer: &str, rt: &str) -> (u16, Value) {
    let (client_id, secret) = sb.default_app();
    let scope = format!("{DEFENDER}/.default offline_access");
    post_token(
        sb,
        customer,
        true,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("refresh_token", rt),
            ("scope", &scope),
        ],
    )
    .await
}

fn description(body: &Value) -> &str {
    body["error_description"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn an_active_relationship_gives_a_customer_token_with_the_gdap_roles_and_rotates() {
    let sb = start();
    let rt = partner_refresh_token(&sb, "engineer@mssp-provider.onmicrosoft.com").await;
    let (status, body) = redeem(&sb, "contoso.onmicrosoft.com", &rt).await;
    assert_eq!(status, 200, "{body}");
    let c = claims(body["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], CONTOSO);
    assert_eq!(c["aud"], DEFENDER);
    assert_eq!(c["idtyp"], "user");
    assert_eq!(
        c["preferred_username"],
        "engineer@mssp-provider.onmicrosoft.com"
    );
    assert_eq!(c["wids"], json!([SECURITY_READER, SECURITY_OPERATOR]));
    assert_eq!(c["scp"], "user_impersonation");
    assert_eq!(c["idp"], format!("https://sts.windows.net/{PARTNER_ID}/"));
    assert_eq!(c["iss"], format!("{}/{CONTOSO}/v2.0", sb.authority()));
    // Rotation: a new refresh token; the old one still works a while (many customers at once).
    let new_rt = body["refresh_token"].as_str().unwrap();
    assert_ne!(new_rt, rt);
    let (status, again) = redeem(&sb, CONTOSO, &rt).await;
    assert_eq!(
        status, 200,
        "the old partner token stays valid a while: {again}"
    );
    let (status, newer) = redeem(&sb, CONTOSO, new_rt).await;
    assert_eq!(status, 200, "{newer}");
    // Back home, the token is the partner's own again, without wids.
    let (status, home) = redeem(&sb, PARTNER, new_rt).await;
    assert_eq!(status, 200, "{home}");
    let h = claims(home["access_token"].as_str().unwrap());
    assert_eq!(h["tid"], PARTNER_ID);
    assert!(h.get("wids").is_none(), "{h}");
}

#[tokio::test]
async fn each_gdap_failure_has_entras_error() {
    let sb = Sandbox::start(SandboxOptions {
        generate_tenants: Some(6),
        ..Default::default()
    })
    .unwrap();
    let rt = partner_refresh_token(&sb, "engineer@mssp-provider.onmicrosoft.com").await;
    // Expired relationship (Fabrikam).
    let (status, body) = redeem(&sb, "fabrikam.onmicrosoft.com", &rt).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 50020);
    assert!(
        description(&body).contains("expired on 2025-01-31"),
        "{body}"
    );
    // Active relationship, app not consented there (Northwind).
    let (status, body) = redeem(&sb, "northwind.onmicrosoft.com", &rt).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 65001);
    // No relationship at all (generated tenant 2, a legacy one).
    let (status, body) = redeem(&sb, "tenant00002.onmicrosoft.com", &rt).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 50020);
    assert!(!description(&body).contains("expired"), "{body}");
    // Generated tenant 1 (consented) has a relationship giving Security Reader; tenant 6 (not
    // consented) has one too, but the app is not consented there.
    let (status, body) = redeem(&sb, "tenant00001.onmicrosoft.com", &rt).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        claims(body["access_token"].as_str().unwrap())["wids"],
        json!([SECURITY_READER])
    );
    let (status, body) = redeem(&sb, "tenant00006.onmicrosoft.com", &rt).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 65001);
    // The same token still works where the relationship is active.
    let (status, body) = redeem(&sb, CONTOSO, &rt).await;
    assert_eq!(status, 200, "{body}");

    // A user in no approved group, and a user at risk.
    let intern = partner_refresh_token(&sb, "intern@mssp-provider.onmicrosoft.com").await;
    let (status, body) = redeem(&sb, CONTOSO, &intern).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 50020);
    let risky = partner_refresh_token(&sb, "risky-admin@mssp-provider.onmicrosoft.com").await;
    let (status, body) = redeem(&sb, CONTOSO, &risky).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 530034);
    assert!(!description(&body).contains(&risky));
}

/// A small configuration: a partner and one customer whose relationship is given.
fn config(relationship: Value) -> Value {
    json!({
      "tenants": [
        {"id": "11111111-1111-4111-8111-111111111111", "domain": "partner.example", "name": "Partner",
         "users": [{"upn": "admin@partner.example", "name": "Partner Admin", "oid": "21111111-1111-4111-8111-111111111111"}],
         "groups": [{"id": "31111111-1111-4111-8111-111111111111", "name": "Admins", "members": ["admin@partner.example"]}]},
        {"id": "41111111-1111-4111-8111-111111111111", "domain": "customer.example", "name": "Customer",
         "users": [{"upn": "admin@customer.example", "name": "Customer Admin", "oid": "51111111-1111-4111-8111-111111111111"}],
         "grants": [{"client_id": "61111111-1111-4111-8111-111111111111"}],
         "gdap": [relationship]}
      ],
      "apps": [
        {"client_id": "61111111-1111-4111-8111-111111111111", "name": "SAM app", "home_tenant": "partner.example",
         "multi_tenant": true, "redirect_uris": ["http://localhost/SiemMsspConnector"],
         "secrets": [{"value": "sam-secret"}]}
      ]
    })
}

fn write(dir: &std::path::Path, v: &Value) -> std::path::PathBuf {
    let f = dir.join("sandbox.json");
    std::fs::write(&f, v.to_string()).unwrap();
    f
}

#[tokio::test]
async fn a_customer_requiring_mfa_answers_50076() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(
        json!({"partner": "partner.example", "name": "MFA please", "require_mfa": true,
        "access": [{"group": "Admins", "roles": ["Global Reader"]}]}),
    );
    let sb = Sandbox::start(SandboxOptions {
        config: Some(write(dir.path(), &cfg)),
        ..Default::default()
    })
    .unwrap();
    let (client_id, secret) = sb.default_app();
    let scope = format!("{DEFENDER}/.default offline_access");
    let (_, code, redirect) =
        sign_in(&sb, "partner.example", true, &[("scope", scope.as_str())]).await;
    let (status, body) = post_token(
        &sb,
        "partner.example",
        true,
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
    let rt = body["refresh_token"].as_str().unwrap();
    let (status, body) = redeem(&sb, "customer.example", rt).await;
    assert_aadsts(status, &body, 400, "invalid_grant", 50076);
}

#[test]
fn the_configuration_names_a_bad_relationship() {
    let cases = [
        (
            json!({"partner": "nobody.example", "name": "x", "access": [{"group": "Admins", "roles": ["Security Reader"]}]}),
            "gdap[0].partner: 'nobody.example' is not one of the tenants",
        ),
        (
            json!({"partner": "partner.example", "name": "x", "access": [{"group": "Ghosts", "roles": ["Security Reader"]}]}),
            "gdap[0].access[0].group: 'Ghosts' is not a group of the partner tenant",
        ),
        (
            json!({"partner": "partner.example", "name": "x", "access": [{"group": "Admins", "roles": ["Chief Wizard"]}]}),
            "gdap[0].access[0].roles: 'Chief Wizard' is neither a role template GUID nor one of",
        ),
        (
            json!({"partner": "partner.example", "name": "x", "expires": "soon", "access": [{"group": "Admins", "roles": ["Security Reader"]}]}),
            "gdap[0].expires: 'soon' is not an RFC 3339 time",
        ),
        (
            json!({"partner": "customer.example", "name": "x", "access": [{"group": "Admins", "roles": ["Security Reader"]}]}),
            "a tenant cannot be its own partner",
        ),
    ];
    for (relationship, want) in cases {
        let dir = tempfile::tempdir().unwrap();
        let f = write(dir.path(), &config(relationship));
        let err = format!("{:#}", Config::load(&f).unwrap_err());
        assert!(err.contains(want), "{err}\nwanted: {want}");
    }
    let mut bad_member = config(json!({"partner": "partner.example", "name": "x",
        "access": [{"group": "Admins", "roles": ["Security Reader"]}]}));
    bad_member["tenants"][0]["groups"][0]["members"] = json!(["admin@customer.example"]);
    let dir = tempfile::tempdir().unwrap();
    let err = format!(
        "{:#}",
        Config::load(&write(dir.path(), &bad_member)).unwrap_err()
    );
    assert!(
        err.contains("members: 'admin@customer.example' is not a user of tenant partner.example"),
        "{err}"
    );
    // The built-in set has them and is valid.
    let b = Config::builtin();
    assert_eq!(
        b.find_tenant("contoso.onmicrosoft.com").unwrap().gdap.len(),
        1
    );
}
