//! The sandbox at scale: generated tenants and their mix, the tenants file, fault injection
//! and its counters, added latency, TLS.

use super::support::{self, http};
use crate::data::config::Config;
use crate::data::generate::{self, Mix};
use crate::data::roster;
use crate::faults::{Faults, Kind, Spec, KINDS};
use crate::state::now;
use crate::store::Store;
use crate::{Sandbox, SandboxOptions};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SCOPE: &str = "https://api.securitycenter.microsoft.com/.default";

fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let part = jwt.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

/// POST client_credentials (v2); (status, body text, Retry-After).
async fn cc(
    client: &reqwest::Client,
    authority: &str,
    tenant: &str,
    client_id: &str,
    secret: &str,
) -> reqwest::Result<(u16, String, Option<String>)> {
    let r = client
        .post(format!("{authority}/{tenant}/oauth2/v2.0/token"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("scope", SCOPE),
        ])
        .send()
        .await?;
    let status = r.status().as_u16();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let text = r.text().await?;
    Ok((status, text, retry))
}

#[test]
fn mix_rule_counts_and_spread() {
    let mut counts: HashMap<&str, u32> = HashMap::new();
    for i in 1..=1000 {
        *counts.entry(Mix::of(i).label()).or_default() += 1;
    }
    // 49 is coprime with 100: every block of 100 holds exactly 85/5/6/4.
    assert_eq!(counts["consented"], 850);
    assert_eq!(counts["missing_role"], 50);
    assert_eq!(counts["not_consented"], 60);
    assert_eq!(counts["legacy_expired_secret"], 40);
    // Small runs see every state early.
    assert_eq!(Mix::of(1), Mix::Consented);
    assert_eq!(Mix::of(2), Mix::LegacyOnly);
    assert_eq!(Mix::of(4), Mix::LegacyOnly);
    assert_eq!(Mix::of(6), Mix::NotConsented);
    assert_eq!(Mix::of(12), Mix::MissingRole);
    // Names, domains and GUIDs are stable.
    assert_eq!(generate::domain(7), "tenant00007.onmicrosoft.com");
    assert_eq!(generate::name(7), "Tenant 00007");
    assert_eq!(generate::tenant_id(7), generate::tenant_id(7));
    assert_ne!(generate::tenant_id(7), generate::tenant_id(8));
    assert!(uuid::Uuid::parse_str(&generate::tenant_id(7)).is_ok());
}

#[test]
fn generated_config_has_indexes_and_the_legacy_app() {
    let mut cfg = Config::builtin();
    let builtin = cfg.tenants.len();
    generate::add(&mut cfg, 1000, now()).unwrap();
    assert_eq!(cfg.tenants.len(), builtin + 1000);
    let t = cfg.find_tenant("TENANT00999.onmicrosoft.com").unwrap();
    assert_eq!(t.name, "Tenant 00999");
    assert_eq!(cfg.find_tenant(&generate::tenant_id(999)).unwrap().id, t.id);
    assert_eq!(cfg.tenant_by_id(&t.id).unwrap().domain, t.domain);
    assert!(cfg.tenant_by_id(&t.domain).is_none());
    let (ut, u) = cfg.user("Admin@tenant00999.onmicrosoft.com").unwrap();
    assert_eq!(
        (ut.id.as_str(), u.upn.as_str()),
        (t.id.as_str(), "admin@tenant00999.onmicrosoft.com")
    );
    assert!(cfg.user("admin@contoso.onmicrosoft.com").is_some());
    // The built-in legacy app is reused, not duplicated.
    assert_eq!(cfg.apps.len(), 3);

    // A config without a legacy app gets one; a clashing domain is refused.
    let mut cfg = Config::builtin();
    cfg.apps
        .retain(|a| a.secrets.iter().all(|s| !s.is_expired(now())));
    assert!(generate::legacy_app(&cfg, now()).is_none());
    generate::add(&mut cfg, 10, now()).unwrap();
    assert!(generate::legacy_app(&cfg, now()).is_some());
    assert!(generate::add(&mut cfg, 3, now())
        .unwrap_err()
        .to_string()
        .contains("clashes"));
    assert!(generate::add(&mut Config::builtin(), generate::MAX_GENERATED + 1, now()).is_err());
}

#[test]
fn fault_spec_parser() {
    let s = Spec::parse("429=0.05, 503=0.02,reset=0.01,malformed=0,html=0.1,stall=0.001,500=0.3")
        .unwrap();
    assert_eq!(s.fractions, [0.05, 0.3, 0.02, 0.01, 0.0, 0.1, 0.001]);
    assert_eq!(
        s.to_json(),
        json!({"429": 0.05, "500": 0.3, "503": 0.02, "reset": 0.01, "html": 0.1, "stall": 0.001})
    );
    assert_eq!(Spec::parse("reset=1").unwrap().fractions[3], 1.0);
    assert_eq!(Spec::parse("RESET=1,").unwrap().fractions[3], 1.0);
    for (bad, needle) in [
        ("", "empty"),
        (" , ", "empty"),
        ("429", "'429' is not kind=fraction"),
        ("404=0.1", "unknown kind '404'"),
        ("429=abc", "'429=abc': the fraction"),
        ("429=1.5", "'429=1.5': the fraction"),
        ("429=-0.1", "'429=-0.1': the fraction"),
        ("429=NaN", "'429=NaN': the fraction"),
        ("429=0.1,429=0.2", "given twice"),
        ("429=0.6,500=0.5", "more than 1"),
    ] {
        let e = Spec::parse(bad).unwrap_err().to_string();
        assert!(e.contains(needle), "{bad:?}: {e}");
    }
}

#[test]
fn fault_choice_is_deterministic_and_proportional() {
    let spec = Spec::parse("429=0.2,500=0.1,reset=0.05").unwrap();
    let a = Faults::new(spec, 42);
    let b = Faults::new(spec, 42);
    let c = Faults::new(spec, 43);
    let seq = |f: &Faults| (0..2000).map(|k| f.pick(k)).collect::<Vec<_>>();
    assert_eq!(seq(&a), seq(&b));
    assert_ne!(seq(&a), seq(&c));
    let mut n: HashMap<Option<Kind>, u32> = HashMap::new();
    for k in 0..20_000 {
        *n.entry(a.pick(k)).or_default() += 1;
    }
    let near = |got: u32, want: f64| (f64::from(got) - want).abs() < want * 0.1;
    assert!(near(n[&Some(Kind::Throttle)], 4000.0), "{n:?}");
    assert!(near(n[&Some(Kind::Server)], 2000.0), "{n:?}");
    assert!(near(n[&Some(Kind::Reset)], 1000.0), "{n:?}");
    assert!(near(n[&None], 13_000.0), "{n:?}");
    assert!(!n.contains_key(&Some(Kind::Html)));
}

/// The keys `mssp-token onboard` accepts; anything else fails to parse.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OnboardFile {
    defaults: OnboardEntry,
    tenant: Vec<OnboardEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct OnboardEntry {
    name: Option<String>,
    tenant: Option<String>,
    client_id: Option<String>,
    scope: Option<String>,
    resource: Option<String>,
    require_roles: Option<Vec<String>>,
    probe: Option<String>,
    cloud: Option<String>,
    client_secret_env: Option<String>,
}

#[test]
fn tenants_file_parses_with_the_allowed_keys_only() {
    let mut cfg = Config::builtin();
    cfg.tenants[0].name = "Contoso \"HQ\" \\ ünïcode\t".into();
    generate::add(&mut cfg, 100, now()).unwrap();
    let store = Store::new(&cfg);
    let text = roster::toml_text(&cfg, &store, now());
    let f: OnboardFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(
        f.defaults.client_id.as_deref(),
        Some(cfg.apps[0].client_id.as_str())
    );
    assert_eq!(f.defaults.scope.as_deref(), Some(SCOPE));
    assert_eq!(f.tenant.len(), cfg.tenants.len());
    assert_eq!(
        f.tenant[0].name.as_deref(),
        Some("Contoso \"HQ\" \\ ünïcode\t")
    );
    let legacy = generate::legacy_app(&cfg, now()).unwrap().client_id.clone();
    let mut legacy_entries = 0;
    for (e, t) in f.tenant.iter().zip(&cfg.tenants) {
        assert_eq!(e.tenant.as_deref(), Some(t.domain.as_str()));
        assert_eq!(e.name.as_deref(), Some(t.name.as_str()));
        let is_legacy = t.generated == Some(Mix::LegacyOnly);
        assert_eq!(e.client_id.is_some(), is_legacy, "{}", t.domain);
        if is_legacy {
            legacy_entries += 1;
            assert_eq!(e.client_id.as_deref(), Some(legacy.as_str()));
            assert_eq!(
                e.client_secret_env.as_deref(),
                Some("SANDBOX_LEGACY_SECRET")
            );
        } else {
            assert!(e.client_secret_env.is_none());
        }
    }
    assert_eq!(legacy_entries, 4);
    let list = roster::list_text(&cfg);
    assert_eq!(list.lines().count(), cfg.tenants.len());
    assert_eq!(list.lines().nth(4), Some("tenant00001.onmicrosoft.com"));
    assert_eq!(
        roster::list_path(std::path::Path::new("/x/t.toml")),
        std::path::Path::new("/x/t.toml.txt")
    );
}

#[tokio::test]
async fn generated_tenants_answer_by_state_and_the_files_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.toml");
    let sb = Sandbox::start(SandboxOptions {
        generate_tenants: Some(200),
        tenants_file: Some(file.clone()),
        latency_ms: Some(150),
        ..Default::default()
    })
    .unwrap();
    let info = sb.info();
    assert_eq!(info["generated_tenants"], 200);
    assert_eq!(info["tenants"].as_array().unwrap().len(), 204);
    assert_eq!(info["tenants_file"], json!(file));
    assert_eq!(info["latency_ms"], 150);
    assert_eq!(info["tls"], false);
    assert!(info["ca_file"].is_null() && info["faults"].is_null());
    assert!(info["threads"].as_u64().unwrap() >= 8);
    let t4 = &info["tenants"][4 + 3];
    assert_eq!(
        (
            t4["domain"].as_str(),
            t4["state"].as_str(),
            t4["consented"].as_bool()
        ),
        (
            Some("tenant00004.onmicrosoft.com"),
            Some("legacy_expired_secret"),
            Some(false)
        )
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.matches("[[tenant]]").count(), 204);
    let list = std::fs::read_to_string(dir.path().join("tenants.toml.txt")).unwrap();
    assert_eq!(list.lines().count(), 204);

    let (client_id, secret) = sb.default_app();
    let legacy_id = info["legacy_client_id"].as_str().unwrap().to_string();
    let legacy_secret = info["apps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["client_id"] == legacy_id.as_str())
        .unwrap()["client_secret"]
        .as_str()
        .unwrap()
        .to_string();
    let c = http();
    let a = sb.authority();
    let t0 = Instant::now();
    let (s, b, _) = cc(&c, &a, "tenant00001.onmicrosoft.com", &client_id, &secret)
        .await
        .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150), "latency added");
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    let cl = claims(v["access_token"].as_str().unwrap());
    assert_eq!(cl["roles"], json!(["Alert.Read.All", "Incident.Read.All"]));
    assert_eq!(cl["tid"], generate::tenant_id(1));

    let (s, b, _) = cc(&c, &a, "tenant00012.onmicrosoft.com", &client_id, &secret)
        .await
        .unwrap();
    assert_eq!(s, 200, "{b}");
    let v: Value = serde_json::from_str(&b).unwrap();
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["roles"],
        json!(["Alert.Read.All"])
    );

    let (s, b, _) = cc(&c, &a, &generate::tenant_id(6), &client_id, &secret)
        .await
        .unwrap();
    assert_eq!(s, 400, "{b}");
    assert!(b.contains("AADSTS700016"), "{b}");

    let (s, b, _) = cc(
        &c,
        &a,
        "tenant00004.onmicrosoft.com",
        &legacy_id,
        &legacy_secret,
    )
    .await
    .unwrap();
    assert_eq!(s, 401, "{b}");
    assert!(b.contains("AADSTS7000222"), "{b}");
    // The main app is not consented there.
    let (s, b, _) = cc(&c, &a, "tenant00004.onmicrosoft.com", &client_id, &secret)
        .await
        .unwrap();
    assert!(s == 400 && b.contains("AADSTS700016"), "{b}");

    // The sign-in page lists the configured tenants and the requested generated one only;
    // a generated tenant's admin signs in and gets a code.
    let page = c
        .get(support::authorize_url(
            &sb,
            "tenant00010.onmicrosoft.com",
            true,
            &[
                ("client_id", client_id.as_str()),
                ("response_type", "code"),
                ("redirect_uri", "http://localhost/SiemMsspConnector"),
                ("scope", "openid"),
            ],
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("admin@tenant00010.onmicrosoft.com"), "{page}");
    assert!(page.contains("admin@contoso.onmicrosoft.com"));
    assert!(!page.contains("tenant00011"));
    let (upn, code, _) = support::sign_in(&sb, "tenant00001.onmicrosoft.com", false, &[]).await;
    assert_eq!(upn, "admin@tenant00001.onmicrosoft.com");
    assert!(!code.is_empty());

    // Discovery is not delayed; the counters saw it all.
    let t0 = Instant::now();
    let r = c
        .get(format!(
            "{a}/tenant00200.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(t0.elapsed() < Duration::from_millis(150));
    let stats: Value = c
        .get(format!("{a}/sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(stats["requests"]["token"], 5);
    assert_eq!(stats["requests"]["discovery"], 1);
    assert_eq!(stats["tokens_issued"], 2);
    assert_eq!(stats["faults"]["total"], 0);
    drop(sb);
    assert!(file.exists(), "the tenants file outlives the sandbox");
}

#[tokio::test]
async fn injected_faults_look_real_and_are_counted() {
    let sb = Sandbox::start(SandboxOptions {
        faults: Some("429=0.15,500=0.1,503=0.1,reset=0.1,malformed=0.1,html=0.1,stall=0.05".into()),
        fault_seed: Some(7),
        retry_after_secs: Some(3),
        stall_secs: Some(1),
        ..Default::default()
    })
    .unwrap();
    let info = sb.info();
    assert_eq!(info["faults"]["429"], 0.15);
    assert_eq!(info["fault_seed"], 7);
    let a = sb.authority();
    let (client_id, secret) = sb.default_app();
    // A fresh connection per request: a reset must not poison the next one.
    let c = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for _ in 0..60 {
        let what = match cc(&c, &a, "contoso.onmicrosoft.com", &client_id, &secret).await {
            Err(e) if e.is_timeout() || e.is_body() || e.is_decode() => "stall",
            Err(_) => "reset",
            Ok((200, b, _)) => match serde_json::from_str::<Value>(&b) {
                Ok(v) if v["access_token"].is_string() => "ok",
                _ => "malformed",
            },
            Ok((429, b, retry)) => {
                assert_eq!(retry.as_deref(), Some("3"));
                let v: Value = serde_json::from_str(&b).unwrap();
                assert_eq!(v["error"], "temporarily_unavailable");
                assert!(v["error_description"]
                    .as_str()
                    .unwrap()
                    .starts_with("AADSTS50196"));
                "429"
            }
            Ok((500, b, _)) => {
                let v: Value = serde_json::from_str(&b).unwrap();
                assert_eq!(v["error"], "server_error");
                assert!(v["error_codes"].is_array());
                "500"
            }
            Ok((503, b, retry)) => {
                assert_eq!(retry.as_deref(), Some("3"));
                let v: Value = serde_json::from_str(&b).unwrap();
                assert_eq!(v["error"], "temporarily_unavailable");
                "503"
            }
            Ok((502, b, _)) => {
                assert!(b.contains("<title>502 Bad Gateway</title>"), "{b}");
                "html"
            }
            Ok(other) => panic!("unexpected {other:?}"),
        };
        *seen.entry(what).or_default() += 1;
    }
    // Discovery, sign-in pages and controls are never faulted.
    for _ in 0..10 {
        let r = c
            .get(format!(
                "{a}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let stats: Value = c
        .get(format!("{a}/sandbox/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for k in KINDS {
        let name = k.name();
        let counted = stats["faults"][name].as_u64().unwrap();
        assert_eq!(
            counted,
            u64::from(*seen.get(name).unwrap_or(&0)),
            "{name}: {stats} {seen:?}"
        );
        assert_eq!(counted, sb.inner.net.stats.faults_of(k));
    }
    assert_eq!(
        stats["tokens_issued"].as_u64().unwrap(),
        u64::from(seen["ok"])
    );
    assert_eq!(sb.inner.net.stats.tokens_issued(), u64::from(seen["ok"]));
    assert_eq!(stats["requests"]["token"], 60);
    assert_eq!(stats["requests"]["discovery"], 10);
    // With this seed each kind shows up at least once in 60 requests.
    for k in [
        "ok",
        "429",
        "500",
        "503",
        "reset",
        "malformed",
        "html",
        "stall",
    ] {
        assert!(
            seen.get(k).is_some_and(|n| *n > 0),
            "{k} never seen: {seen:?}"
        );
    }

    // Defender API faults use Defender's error shape.
    let only = Sandbox::start(SandboxOptions {
        faults: Some("429=1".into()),
        ..Default::default()
    })
    .unwrap();
    let r = c
        .get(format!("{}/api/alerts", only.authority()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["code"], "TooManyRequests");
}

#[tokio::test]
async fn tls_with_the_generated_ca() {
    let sb = Sandbox::start(SandboxOptions {
        tls: true,
        ..Default::default()
    })
    .unwrap();
    let info = sb.info();
    let a = sb.authority();
    assert!(a.starts_with("https://127.0.0.1:"), "{a}");
    assert_eq!(info["api_base"], a.as_str());
    assert_eq!(info["tls"], true);
    let ca = std::fs::read(info["ca_file"].as_str().unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .no_proxy()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let (client_id, secret) = sb.default_app();
    for tenant in ["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"] {
        let (s, b, _) = cc(&client, &a, tenant, &client_id, &secret).await.unwrap();
        assert_eq!(s, 200, "{b}");
    }
    let d: Value = client
        .get(format!(
            "{a}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        d["token_endpoint"],
        format!("{a}/{}/oauth2/v2.0/token", support::CONTOSO)
    );
    // "localhost" is in the certificate too.
    let local = a.replace("127.0.0.1", "localhost");
    let r = client.get(format!("{local}/sandbox/stats")).send().await;
    if let Ok(r) = r {
        assert_eq!(r.status(), 200);
    }
    // A client that does not trust the CA is refused.
    let untrusting = reqwest::Client::builder().no_proxy().build().unwrap();
    let e = untrusting
        .get(format!("{a}/sandbox/stats"))
        .send()
        .await
        .unwrap_err();
    assert!(e.is_connect() || e.is_request(), "{e:?}");
    // Plain HTTP on the TLS port gets nowhere.
    let plain = a.replace("https://", "http://");
    assert!(http()
        .get(format!("{plain}/sandbox/stats"))
        .send()
        .await
        .is_err());
}

/// Every fault kind hits the Graph routes (/v1.0/*) as it hits the Defender API (/api/*):
/// same statuses, the Defender error shape, Retry-After, resets, truncated JSON and stalls.
/// Faults come before authentication, so no token is needed.
#[tokio::test]
async fn graph_routes_get_every_fault_kind_like_the_defender_api() {
    let c = reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for kind in KINDS {
        let sb = Sandbox::start(SandboxOptions {
            faults: Some(format!("{}=1", kind.name())),
            retry_after_secs: Some(4),
            stall_secs: Some(1),
            ..Default::default()
        })
        .unwrap();
        let mut seen = Vec::new();
        for path in [
            "/api/alerts",
            "/v1.0/security/alerts_v2",
            "/v1.0/security/incidents",
        ] {
            let r = c.get(format!("{}{path}", sb.authority())).send().await;
            let what = match r {
                Err(_) if kind == Kind::Reset => "reset".to_string(),
                Err(e) => panic!("{path}: {e:?}"),
                Ok(r) => {
                    let status = r.status().as_u16();
                    let retry = r
                        .headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_string());
                    match r.text().await {
                        Err(_) if kind == Kind::Stall => "stall".to_string(),
                        Err(e) => panic!("{path}: {e:?}"),
                        Ok(text) => {
                            let code = serde_json::from_str::<Value>(&text)
                                .map(|v| v["error"]["code"].clone())
                                .unwrap_or(Value::Null);
                            format!("{status} {retry:?} {code}")
                        }
                    }
                }
            };
            seen.push(what);
        }
        assert!(
            seen.iter().all(|w| *w == seen[0]),
            "{}: {seen:?}",
            kind.name()
        );
        let want = match kind {
            Kind::Throttle => "429 Some(\"4\") \"TooManyRequests\"",
            Kind::Server => "500 None \"InternalServerError\"",
            Kind::Unavailable => "503 Some(\"4\") \"ServiceUnavailable\"",
            Kind::Reset => "reset",
            Kind::Malformed => "200 None null",
            Kind::Html => "502 None null",
            Kind::Stall => "stall",
        };
        assert_eq!(seen[0], want, "{}", kind.name());
        assert_eq!(sb.inner.net.stats.faults_of(kind), 3, "{}", kind.name());
    }
}
