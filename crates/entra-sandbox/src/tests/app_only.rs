//! App-only tokens end to end: certificate assertions (built here with the rsa crate, not the
//! client's jsonwebtoken), federated assertions, app-only claims, and both admin-consent links.

use super::support::{
    assert_aadsts, claims, http, post_token, query_of, start, CONTOSO, DEFENDER, FABRIKAM,
};
use crate::crypto::{certs, jws, keys};
use crate::state::now;
use crate::{Sandbox, SandboxOptions};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const NORTHWIND: &str = "76ac3db6-ba74-423b-903a-6de62ba90e30";
const XDR: &str = "https://api.security.microsoft.com";

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unix_now() -> i64 {
    now() as i64
}

/// The main app's key and certificate DER, read back from the sandbox's cert.pem.
fn main_cert(sb: &Sandbox) -> (RsaPrivateKey, Vec<u8>) {
    let path = sb.info()["apps"][0]["certificate_file"]
        .as_str()
        .unwrap()
        .to_string();
    let blocks = pem::parse_many(std::fs::read(path).unwrap()).unwrap();
    let der = blocks
        .iter()
        .find(|b| b.tag() == "CERTIFICATE")
        .unwrap()
        .contents()
        .to_vec();
    let key_der = blocks.iter().find(|b| b.tag() == "PRIVATE KEY").unwrap();
    (
        RsaPrivateKey::from_pkcs8_der(key_der.contents()).unwrap(),
        der,
    )
}

/// header.claims.signature with PS256 (PSS, salt 32) or RS256 (PKCS#1 v1.5).
fn sign(key: &RsaPrivateKey, header: &Value, claims: &Value) -> String {
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes())
    );
    let sig = match header["alg"].as_str() {
        Some("PS256") => rsa::pss::BlindedSigningKey::<Sha256>::new(key.clone())
            .sign_with_rng(&mut rand::rngs::OsRng, input.as_bytes())
            .to_vec(),
        _ => rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone())
            .sign(input.as_bytes())
            .to_vec(),
    };
    format!("{input}.{}", b64(&sig))
}

fn ps256_header(cert_der: &[u8]) -> Value {
    json!({"alg": "PS256", "typ": "JWT", "x5t#S256": b64(&Sha256::digest(cert_der))})
}

fn assertion_claims(client_id: &str, aud: &str) -> Value {
    let now = unix_now();
    json!({
        "aud": aud, "iss": client_id, "sub": client_id, "jti": keys::guid(),
        "nbf": now, "iat": now, "exp": now + 600,
    })
}

fn token_url(sb: &Sandbox, tenant: &str, v2: bool) -> String {
    let v = if v2 {
        "oauth2/v2.0/token"
    } else {
        "oauth2/token"
    };
    format!("{}/{tenant}/{v}", sb.authority())
}

/// client_credentials with a client assertion (v2 `.default` scope, or v1 `resource`).
async fn with_assertion(
    sb: &Sandbox,
    tenant: &str,
    v2: bool,
    resource: &str,
    assertion: &str,
) -> (u16, Value) {
    let (client_id, _) = sb.default_app();
    let target = if v2 {
        ("scope", format!("{resource}/.default"))
    } else {
        ("resource", resource.to_string())
    };
    post_token(
        sb,
        tenant,
        v2,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            (target.0, &target.1),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", assertion),
        ],
    )
    .await
}

fn description(body: &Value) -> String {
    body["error_description"].as_str().unwrap_or("").to_string()
}

#[tokio::test]
async fn certificate_assertion_accepted_with_app_only_claims() {
    let sb = start();
    let (client_id, _) = sb.default_app();
    let (key, der) = main_cert(&sb);
    let info = sb.info();
    let app = &info["apps"][0];
    assert_eq!(
        app["certificate_thumbprint_s256"],
        b64(&Sha256::digest(&der))
    );

    // v2, PS256 + x5t#S256; the request names the tenant by domain, aud by GUID.
    let a = sign(
        &key,
        &ps256_header(&der),
        &assertion_claims(&client_id, &token_url(&sb, CONTOSO, true)),
    );
    let (s, b) = with_assertion(&sb, "contoso.onmicrosoft.com", true, DEFENDER, &a).await;
    assert_eq!(s, 200, "{b}");
    let c = claims(b["access_token"].as_str().unwrap());
    assert_eq!(c["aud"], DEFENDER);
    assert_eq!(c["tid"], CONTOSO);
    assert_eq!(c["azp"], client_id);
    assert_eq!(c["azpacr"], "2");
    assert_eq!(c["idtyp"], "app");
    assert_eq!(c["ver"], "2.0");
    assert_eq!(c["iss"], format!("{}/{CONTOSO}/v2.0", sb.authority()));
    assert_eq!(c["roles"], json!(["Alert.Read.All", "Incident.Read.All"]));
    assert_eq!(c["oid"], c["sub"]);
    assert!(c.get("scp").is_none() && c.get("upn").is_none() && c.get("appid").is_none());
    assert!(c["iat"].is_u64() && c["nbf"].is_u64() && c["exp"].as_u64() > c["iat"].as_u64());

    // v1, RS256 + legacy x5t (SHA-1), for the XDR API, a v1 aud on a v2-style path mix.
    let sha1 = certs::sha1(&der);
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": b64(&sha1)});
    let a = sign(
        &key,
        &header,
        &assertion_claims(
            &client_id,
            &token_url(&sb, "CONTOSO.onmicrosoft.com", false),
        ),
    );
    let (s, b) = with_assertion(&sb, CONTOSO, false, XDR, &a).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["resource"], XDR);
    let c1 = claims(b["access_token"].as_str().unwrap());
    assert_eq!(
        (
            c1["appid"].as_str(),
            c1["appidacr"].as_str(),
            c1["ver"].as_str()
        ),
        (Some(client_id.as_str()), Some("2"), Some("1.0"))
    );
    assert_eq!(c1["aud"], XDR);
    assert_eq!(c1["iss"], format!("https://sts.windows.net/{CONTOSO}/"));
    // The service principal's object id is stable per app and tenant.
    assert_eq!(c1["oid"], c["oid"]);
    let (s, b) = with_assertion(
        &sb,
        FABRIKAM,
        true,
        DEFENDER,
        &sign(
            &key,
            &ps256_header(&der),
            &assertion_claims(&client_id, &token_url(&sb, FABRIKAM, true)),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let cf = claims(b["access_token"].as_str().unwrap());
    assert_ne!(cf["oid"], c["oid"]);
    assert_eq!(cf["roles"], json!(["Alert.Read.All"]));

    // The PFX holds the same certificate, under the published password.
    let pfx = std::fs::read(app["pfx_file"].as_str().unwrap()).unwrap();
    let store = p12_keystore::KeyStore::from_pkcs12(
        &pfx,
        app["pfx_password"].as_str().unwrap(),
        p12_keystore::Pkcs12ImportPolicy::Strict,
    )
    .unwrap();
    let (_, chain) = store.private_key_chain().unwrap();
    assert_eq!(chain.certs()[0].as_der(), der.as_slice());
    let pw_file = std::fs::read_to_string(app["pfx_password_file"].as_str().unwrap()).unwrap();
    assert_eq!(pw_file.trim(), app["pfx_password"]);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let cert = std::path::Path::new(app["certificate_file"].as_str().unwrap());
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(cert), 0o600);
        assert_eq!(mode(cert.parent().unwrap()), 0o700);
    }
}

#[tokio::test]
async fn certificate_assertion_failures() {
    let sb = start();
    let (client_id, _) = sb.default_app();
    let (key, der) = main_cert(&sb);
    let aud = token_url(&sb, CONTOSO, true);
    let post = |a: String| {
        let sb = &sb;
        async move { with_assertion(sb, CONTOSO, true, DEFENDER, &a).await }
    };

    // Unknown thumbprint.
    let other = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let other_der =
        certs::self_signed(&other, "stranger", unix_now() - 60, unix_now() + 3600).unwrap();
    let (s, b) = post(sign(
        &other,
        &ps256_header(&other_der),
        &assertion_claims(&client_id, &aud),
    ))
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    assert!(
        description(&b).contains("is not registered on application"),
        "{b}"
    );
    // No thumbprint header at all.
    let (s, b) = post(sign(
        &key,
        &json!({"alg": "PS256", "typ": "JWT"}),
        &assertion_claims(&client_id, &aud),
    ))
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // The registered thumbprint, signed by another key.
    let (s, b) = post(sign(
        &other,
        &ps256_header(&der),
        &assertion_claims(&client_id, &aud),
    ))
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    assert!(
        description(&b).starts_with("AADSTS700027: Client assertion failed signature validation."),
        "{b}"
    );
    // A PS256 header over an RS256 signature is a bad signature too.
    let mut h = ps256_header(&der);
    let rs = sign(
        &key,
        &json!({"alg": "RS256"}),
        &assertion_claims(&client_id, &aud),
    );
    h["alg"] = "PS256".into();
    let parts: Vec<&str> = rs.split('.').collect();
    let forged = format!(
        "{}.{}.{}",
        b64(h.to_string().as_bytes()),
        parts[1],
        parts[2]
    );
    let (s, b) = post(forged).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    // alg none / HS256.
    let mut h = ps256_header(&der);
    h["alg"] = "none".into();
    let (s, b) = post(sign(&key, &h, &assertion_claims(&client_id, &aud))).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);

    // Wrong audience: another tenant's endpoint, the real cloud's, the authorize endpoint.
    for wrong in [
        token_url(&sb, FABRIKAM, true),
        format!("https://login.microsoftonline.com/{CONTOSO}/oauth2/v2.0/token"),
        format!("{}/{CONTOSO}/oauth2/v2.0/authorize", sb.authority()),
        format!("{}/organizations/oauth2/v2.0/token", sb.authority()),
    ] {
        let (s, b) = post(sign(
            &key,
            &ps256_header(&der),
            &assertion_claims(&client_id, &wrong),
        ))
        .await;
        assert_aadsts(s, &b, 401, "invalid_client", 700023);
    }
    // aud as an array holding the right URL is fine.
    let mut c = assertion_claims(&client_id, &aud);
    c["aud"] = json!(["https://example.invalid", aud]);
    assert_eq!(post(sign(&key, &ps256_header(&der), &c)).await.0, 200);

    // Expired, not yet valid, far too long-lived, no exp.
    let now = unix_now();
    for (nbf, exp) in [
        (Some(now - 900), Some(now - 300)),
        (Some(now + 3600), Some(now + 4000)),
        (Some(now), Some(now + 86_400)),
        (Some(now), None),
    ] {
        let mut c = assertion_claims(&client_id, &aud);
        c["nbf"] = json!(nbf);
        c["exp"] = json!(exp);
        if exp.is_none() {
            c.as_object_mut().unwrap().remove("exp");
        }
        let (s, b) = post(sign(&key, &ps256_header(&der), &c)).await;
        assert_aadsts(s, &b, 401, "invalid_client", 700024);
        assert!(description(&b).contains("Client assertion is not within its valid time range"));
    }

    // Replayed jti: the first use passes, the second is refused; a failed assertion does not
    // burn its jti.
    let c = assertion_claims(&client_id, &aud);
    let mut bad_aud = c.clone();
    bad_aud["aud"] = token_url(&sb, FABRIKAM, true).into();
    assert_eq!(post(sign(&key, &ps256_header(&der), &bad_aud)).await.0, 401);
    let a = sign(&key, &ps256_header(&der), &c);
    assert_eq!(post(a.clone()).await.0, 200);
    let (s, b) = post(a).await;
    assert_aadsts(s, &b, 401, "invalid_client", 50013);
    assert!(description(&b).contains("already been used"));
    let mut no_jti = assertion_claims(&client_id, &aud);
    no_jti.as_object_mut().unwrap().remove("jti");
    let (s, b) = post(sign(&key, &ps256_header(&der), &no_jti)).await;
    assert_aadsts(s, &b, 401, "invalid_client", 50027);

    // iss = client, sub = someone else.
    let mut c = assertion_claims(&client_id, &aud);
    c["sub"] = "someone-else".into();
    let (s, b) = post(sign(&key, &ps256_header(&der), &c)).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700021);
    // Garbage.
    for junk in ["not-a-jwt", "a.b.c", "e30.e30.e30"] {
        let (s, b) = post(junk.to_string()).await;
        assert_aadsts(s, &b, 401, "invalid_client", 50027);
    }
}

#[tokio::test]
async fn configured_certificates_from_a_file_and_expired_keys() {
    let dir = tempfile::tempdir().unwrap();
    let now = unix_now();
    let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap();
    let good = certs::self_signed(&key, "tool", now - 60, now + 3600).unwrap();
    let old = certs::self_signed(&key, "tool-old", now - 7200, now - 3600).unwrap();
    let pem_of = |der: &Vec<u8>| pem::encode(&pem::Pem::new("CERTIFICATE", der.clone()));
    std::fs::write(dir.path().join("tool.pem"), pem_of(&good)).unwrap();
    let cfg = json!({
        "tenants": [{"id": CONTOSO, "domain": "contoso.onmicrosoft.com", "name": "Contoso",
            "users": [{"upn": "admin@contoso.onmicrosoft.com", "name": "A", "oid": "01b11418-86c7-466a-b822-c55750d55bf8"}]}],
        "apps": [
            {"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "name": "Main", "home_tenant": CONTOSO,
             "redirect_uris": ["http://localhost/x"], "roles": ["Alert.Read.All"]},
            {"client_id": "f95a6c0b-7f8c-48dc-89fc-63be220e6b35", "name": "Tool", "home_tenant": CONTOSO,
             "redirect_uris": ["http://localhost/y"], "roles": ["Incident.Read.All"],
             "certificates": ["tool.pem", pem_of(&old)],
             "federated_credentials": [{"issuer": "{authority}/sandbox-oidc", "subject": "system:serviceaccount:siem:collector"}]}
        ]
    });
    let path = dir.path().join("sandbox.json");
    std::fs::write(&path, cfg.to_string()).unwrap();
    let sb = Sandbox::start(SandboxOptions {
        config: Some(path),
        ..Default::default()
    })
    .unwrap();
    let tool = "f95a6c0b-7f8c-48dc-89fc-63be220e6b35";
    let aud = token_url(&sb, CONTOSO, true);
    let post = |a: String| {
        let sb = &sb;
        async move {
            post_token(
                sb,
                CONTOSO,
                true,
                &[
                    ("grant_type", "client_credentials"),
                    ("client_id", tool),
                    ("scope", &format!("{DEFENDER}/.default")),
                    ("client_assertion_type", JWT_BEARER),
                    ("client_assertion", &a),
                ],
            )
            .await
        }
    };
    let (s, b) = post(sign(
        &key,
        &ps256_header(&good),
        &assertion_claims(tool, &aud),
    ))
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        claims(b["access_token"].as_str().unwrap())["roles"],
        json!(["Incident.Read.All"])
    );
    let (s, b) = post(sign(
        &key,
        &ps256_header(&old),
        &assertion_claims(tool, &aud),
    ))
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    assert!(description(&b).contains("The key used is expired"), "{b}");
    // The generated certificate belongs to the first app only.
    let (main_key, main_der) = main_cert(&sb);
    let (s, _) = post(sign(
        &main_key,
        &ps256_header(&main_der),
        &assertion_claims(tool, &aud),
    ))
    .await;
    assert_eq!(s, 401);
    // Its federated credential, with {authority} resolved.
    let r = http()
        .post(format!("{}/sandbox/federated-token", sb.authority()))
        .form(&[("subject", "system:serviceaccount:siem:collector")])
        .send()
        .await
        .unwrap();
    let (s, b) = post(r.text().await.unwrap()).await;
    assert_eq!(s, 200, "{b}");
    // A certificate entry that is not a certificate is a config error naming the field.
    let bad = json!({"tenants": cfg["tenants"], "apps": [{"client_id": tool, "name": "T", "home_tenant": CONTOSO,
        "redirect_uris": ["http://localhost/y"], "certificates": ["missing.pem"]}]});
    std::fs::write(dir.path().join("bad.json"), bad.to_string()).unwrap();
    let err = Sandbox::start(SandboxOptions {
        config: Some(dir.path().join("bad.json")),
        ..Default::default()
    })
    .err()
    .unwrap();
    assert!(
        format!("{err:#}").contains("apps[0].certificates[0]"),
        "{err:#}"
    );
}

async fn mint(sb: &Sandbox, form: &[(&str, &str)]) -> String {
    let r = http()
        .post(format!("{}/sandbox/federated-token", sb.authority()))
        .form(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    r.text().await.unwrap()
}

#[tokio::test]
async fn federated_assertions() {
    let sb = start();
    let info = sb.info();
    let app = &info["apps"][0];
    let file_token =
        std::fs::read_to_string(app["federated_token_file"].as_str().unwrap()).unwrap();
    let issuer = format!("{}/sandbox-oidc", sb.authority());
    assert_eq!(app["federated_issuer"], issuer);
    assert_eq!(
        app["federated_subject"],
        "repo:mssp/siem-onboarding:ref:refs/heads/main"
    );
    let c = claims(&file_token);
    assert_eq!(
        (c["iss"].as_str(), c["aud"].as_str()),
        (Some(issuer.as_str()), Some("api://AzureADTokenExchange"))
    );
    assert!(c["exp"].as_i64().unwrap() - unix_now() > 3000);

    // Accepted, and again (platforms reuse the token until it expires).
    for _ in 0..2 {
        let (s, b) =
            with_assertion(&sb, "contoso.onmicrosoft.com", true, DEFENDER, &file_token).await;
        assert_eq!(s, 200, "{b}");
        let t = claims(b["access_token"].as_str().unwrap());
        assert_eq!(
            (t["azpacr"].as_str(), t["tid"].as_str()),
            (Some("2"), Some(CONTOSO))
        );
    }
    let (s, b) = with_assertion(&sb, FABRIKAM, false, XDR, &mint(&sb, &[]).await).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(claims(b["access_token"].as_str().unwrap())["appidacr"], "2");

    // Wrong subject, wrong audience, wrong issuer: 70021 naming what was presented.
    for form in [
        vec![(
            "subject",
            "repo:mssp/siem-onboarding:ref:refs/heads/feature",
        )],
        vec![("audience", "api://Other")],
        vec![("issuer", "https://token.actions.githubusercontent.com")],
        vec![("subject", "REPO:mssp/siem-onboarding:ref:refs/heads/main")],
    ] {
        let t = mint(&sb, &form).await;
        let (s, b) = with_assertion(&sb, CONTOSO, true, DEFENDER, &t).await;
        assert_aadsts(s, &b, 401, "invalid_client", 70021);
        assert!(
            description(&b).contains(&format!(
                "Assertion Subject: '{}'",
                claims(&t)["sub"].as_str().unwrap()
            )),
            "{b}"
        );
    }
    // Expired.
    let t = mint(&sb, &[("lifetime_secs", "-60")]).await;
    let (s, b) = with_assertion(&sb, CONTOSO, true, DEFENDER, &t).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700024);
    // Tampered payload (signature no longer matches).
    let parts: Vec<&str> = file_token.split('.').collect();
    let mut c = claims(&file_token);
    c["exp"] = json!(unix_now() + 999_999);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(c.to_string().as_bytes()),
        parts[2]
    );
    let (s, b) = with_assertion(&sb, CONTOSO, true, DEFENDER, &forged).await;
    assert_aadsts(s, &b, 401, "invalid_client", 700027);
    // Another app has no federated credential.
    let (s, b) = post_token(
        &sb,
        CONTOSO,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "32949881-2c1c-4f64-b3b6-ea7ed5bb7956"),
            ("scope", &format!("{DEFENDER}/.default")),
            ("client_assertion_type", JWT_BEARER),
            ("client_assertion", &file_token),
        ],
    )
    .await;
    assert_aadsts(s, &b, 401, "invalid_client", 70021);

    // The minting endpoint refuses nonsense lifetimes.
    for bad in ["0", "x", "99999999999"] {
        let r = http()
            .post(format!("{}/sandbox/federated-token", sb.authority()))
            .form(&[("lifetime_secs", bad)])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    // Discovery and JWKS of the simulated issuer; the token's kid is there.
    let d: Value = http()
        .get(format!("{issuer}/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], issuer);
    let jwks: Value = http()
        .get(d["jwks_uri"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kid = jws::Jws::parse(&file_token).unwrap().header["kid"].clone();
    assert_eq!(jwks["keys"][0]["kid"], kid);
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
}

/// The page's pending request id.
fn request_id(html: &str) -> String {
    html.split("name=\"request\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_string()
}

async fn submit(sb: &Sandbox, id: &str, account: &str, action: &str) -> String {
    let r = http()
        .post(format!("{}/sandbox/signin", sb.authority()))
        .form(&[("request", id), ("account", account), ("action", action)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    r.headers()["location"].to_str().unwrap().to_string()
}

async fn app_only_secret(sb: &Sandbox, tenant: &str) -> (u16, Value) {
    let (client_id, secret) = sb.default_app();
    post_token(
        sb,
        tenant,
        true,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &client_id),
            ("client_secret", &secret),
            ("scope", &format!("{DEFENDER}/.default")),
        ],
    )
    .await
}

#[tokio::test]
async fn v1_admin_consent_link_records_consent() {
    let sb = start();
    let (client_id, _) = sb.default_app();
    let (s, b) = app_only_secret(&sb, NORTHWIND).await;
    assert_aadsts(s, &b, 400, "unauthorized_client", 700016);
    // The Defender docs' link: no redirect_uri, no resource.
    let url = format!(
        "{}/common/oauth2/authorize?prompt=consent&client_id={client_id}&response_type=code&sso_reload=true&state=link-1",
        sb.authority()
    );
    let r = http().get(url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("Application permissions, granted for your whole organization: Alert.Read.All, Incident.Read.All"), "{html}");
    let loc = submit(
        &sb,
        &request_id(&html),
        "admin@northwind.onmicrosoft.com",
        "accept",
    )
    .await;
    assert!(
        loc.starts_with("http://localhost/SiemMsspConnector?code="),
        "{loc}"
    );
    let q = query_of(&loc);
    assert_eq!(q["state"], "link-1");
    let (s, b) = app_only_secret(&sb, "northwind.onmicrosoft.com").await;
    assert_eq!(s, 200, "{b}");
    let c = claims(b["access_token"].as_str().unwrap());
    assert_eq!(
        (c["tid"].as_str(), c["roles"].clone()),
        (
            Some(NORTHWIND),
            json!(["Alert.Read.All", "Incident.Read.All"])
        )
    );
}

#[tokio::test]
async fn v2_admin_consent_accept_and_cancel() {
    let sb = start();
    let (client_id, _) = sb.default_app();
    let scope = format!("{DEFENDER}/.default");
    let page = |state: &'static str| {
        let url = format!(
            "{}/organizations/v2.0/adminconsent?client_id={client_id}&scope={scope}&redirect_uri=http://localhost:7777/SiemMsspConnector&state={state}",
            sb.authority()
        );
        async move {
            let r = http().get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            request_id(&r.text().await.unwrap())
        }
    };
    let loc = submit(
        &sb,
        &page("no").await,
        "admin@northwind.onmicrosoft.com",
        "cancel",
    )
    .await;
    assert!(
        loc.starts_with("http://localhost:7777/SiemMsspConnector?error=access_denied&error_subcode=cancel&error_description=AADSTS65004"),
        "{loc}"
    );
    assert_eq!(query_of(&loc)["state"], "no");
    assert_eq!(app_only_secret(&sb, NORTHWIND).await.0, 400);

    let loc = submit(
        &sb,
        &page("yes").await,
        "admin@northwind.onmicrosoft.com",
        "accept",
    )
    .await;
    let expected = format!(
        "http://localhost:7777/SiemMsspConnector?admin_consent=True&tenant={NORTHWIND}&scope={}&state=yes",
        url::form_urlencoded::byte_serialize(scope.as_bytes()).collect::<String>()
    );
    assert_eq!(loc, expected);
    assert_eq!(app_only_secret(&sb, NORTHWIND).await.0, 200);
}
