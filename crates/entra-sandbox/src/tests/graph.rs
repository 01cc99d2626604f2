//! The Microsoft Graph security API end to end (handlers/graph.rs, data/graph.rs): shape,
//! $filter, $orderby, $top (clamped to `graph_max_top`), $skip, @odata.nextLink, $expand,
//! Prefer, 401, 403, 429 (Retry-After in seconds or as an HTTP-date), records that change while
//! a collector pages, and touched records that tie on lastUpdateDateTime.

use super::support::{claims, http, post_token, start, CONTOSO, DEFENDER, FABRIKAM};
use crate::faults::PathKind;
use crate::routes::dispatch;
use crate::{Sandbox, SandboxOptions};
use serde_json::Value;
use std::collections::{HashMap, HashSet};

const GRAPH: &str = "https://graph.microsoft.com";

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

async fn get_with(
    url: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut r = http().get(url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    for (k, v) in headers {
        r = r.header(*k, *v);
    }
    let r = r.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap())
}

async fn get(url: &str, token: Option<&str>) -> (u16, reqwest::header::HeaderMap, Value) {
    get_with(url, token, &[]).await
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn assert_graph_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"]
        .as_str()
        .is_some_and(|m| !m.is_empty()));
    let inner = &body["error"]["innerError"];
    let date = inner["date"].as_str().unwrap();
    assert_eq!(date.len(), 19, "{date}");
    assert!(uuid::Uuid::parse_str(inner["request-id"].as_str().unwrap()).is_ok());
    assert!(inner["client-request-id"].is_string());
}

/// Follows @odata.nextLink from `url`, calling `between` after each page; returns every record
/// and the number of pages.
async fn follow(url: String, token: &str, mut between: impl FnMut(usize)) -> (Vec<Value>, usize) {
    let (mut items, mut pages, mut next) = (Vec::new(), 0, Some(url));
    while let Some(u) = next {
        let (s, _, b) = get(&u, Some(token)).await;
        assert_eq!(s, 200, "{b}");
        items.extend(b["value"].as_array().unwrap().iter().cloned());
        pages += 1;
        next = b["@odata.nextLink"].as_str().map(str::to_string);
        if let Some(n) = &next {
            assert!(n.contains("$skiptoken=") && !n.contains("$skip="), "{n}");
        }
        between(pages);
        assert!(pages < 200);
    }
    (items, pages)
}

fn updated(v: &Value) -> &str {
    v["lastUpdateDateTime"].as_str().unwrap()
}

#[tokio::test]
async fn graph_alerts_shape_filter_order_and_paging() {
    let sb = start();
    let base = sb.authority();
    let token = app_token(&sb, "contoso.onmicrosoft.com", GRAPH).await;
    assert_eq!(
        claims(&token)["roles"],
        serde_json::json!(["SecurityAlert.Read.All", "SecurityIncident.Read.All"])
    );
    let url = format!("{base}/v1.0/security/alerts_v2");
    let (s, _, b) = get(&url, Some(&token)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["@odata.context"],
        format!("{base}/v1.0/$metadata#security/alerts_v2")
    );
    assert!(b.get("@odata.nextLink").is_none());
    let all = b["value"].as_array().unwrap().clone();
    assert_eq!(all.len(), 300);
    for k in [
        "id",
        "tenantId",
        "incidentId",
        "lastUpdateDateTime",
        "createdDateTime",
        "status",
        "severity",
        "title",
        "serviceSource",
        "detectionSource",
        "category",
        "alertWebUrl",
        "mitreTechniques",
        "evidence",
    ] {
        assert!(all[0].get(k).is_some(), "{k} missing in {}", all[0]);
    }
    assert!(all.iter().all(|a| a["tenantId"] == CONTOSO));
    let ids: HashSet<&str> = all.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 300);
    // Many records share one lastUpdateDateTime.
    let mut per_time: HashMap<&str, usize> = HashMap::new();
    for a in &all {
        *per_time.entry(updated(a)).or_default() += 1;
    }
    assert!(per_time.values().any(|n| *n >= 5), "{per_time:?}");
    assert!(per_time.len() < 150);

    // $filter: ge, gt, le, lt, and.
    let mut times: Vec<&str> = per_time.keys().copied().collect();
    times.sort();
    let cut = times[times.len() / 2];
    let hi = times[times.len() * 3 / 4];
    for (f, pred) in [
        (
            format!("lastUpdateDateTime ge {cut}"),
            Box::new(|t: &str| t >= cut) as Box<dyn Fn(&str) -> bool>,
        ),
        (
            format!("lastUpdateDateTime gt {cut}"),
            Box::new(|t| t > cut),
        ),
        (
            format!("lastUpdateDateTime le {cut}"),
            Box::new(|t| t <= cut),
        ),
        (
            format!("lastUpdateDateTime lt {cut}"),
            Box::new(|t| t < cut),
        ),
        (
            format!("lastUpdateDateTime ge {cut} and lastUpdateDateTime lt {hi}"),
            Box::new(|t| t >= cut && t < hi),
        ),
    ] {
        let (s, _, b) = get(&format!("{url}?$filter={}", enc(&f)), Some(&token)).await;
        assert_eq!(s, 200, "{f}: {b}");
        let got = b["value"].as_array().unwrap();
        let want = all.iter().filter(|a| pred(updated(a))).count();
        assert_eq!(got.len(), want, "{f}");
        assert!(got.iter().all(|a| pred(updated(a))), "{f}");
    }
    let (s, _, b) = get(
        &format!("{url}?$filter={}", enc("createdDateTime ge 2000-01-01")),
        Some(&token),
    )
    .await;
    assert_eq!((s, b["value"].as_array().unwrap().len()), (200, 300));

    // $orderby asc and desc.
    for (o, desc) in [
        ("lastUpdateDateTime", false),
        ("lastUpdateDateTime asc", false),
        ("lastUpdateDateTime desc", true),
    ] {
        let (s, _, b) = get(&format!("{url}?$orderby={}", enc(o)), Some(&token)).await;
        assert_eq!(s, 200, "{b}");
        let t: Vec<&str> = b["value"].as_array().unwrap().iter().map(updated).collect();
        let mut sorted = t.clone();
        sorted.sort();
        if desc {
            sorted.reverse();
        }
        assert_eq!(t, sorted, "{o}");
    }

    // Paging: $top=40 with a filter and an order, linked by @odata.nextLink ($skiptoken), the
    // filter kept; the pages add up to the whole set, each record once, in order.
    let f = format!("lastUpdateDateTime ge {cut}");
    let first = format!(
        "{url}?$filter={}&$orderby={}&$top=40",
        enc(&f),
        enc("lastUpdateDateTime asc")
    );
    let (_, _, p1) = get(&first, Some(&token)).await;
    assert_eq!(p1["value"].as_array().unwrap().len(), 40);
    let link = p1["@odata.nextLink"].as_str().unwrap();
    assert!(link.starts_with(&format!("{url}?")), "{link}");
    assert!(
        link.contains("$filter=lastUpdateDateTime%20ge%20") && link.contains("$top=40"),
        "{link}"
    );
    let (paged, pages) = follow(first, &token, |_| {}).await;
    let want = all.iter().filter(|a| updated(a) >= cut).count();
    assert_eq!(paged.len(), want);
    assert_eq!(pages, want.div_ceil(40));
    let pids: HashSet<&str> = paged.iter().map(|a| a["id"].as_str().unwrap()).collect();
    assert_eq!(pids.len(), want);
    let t: Vec<&str> = paged.iter().map(updated).collect();
    assert!(t.windows(2).all(|w| w[0] <= w[1]));

    // Each tenant has its own data.
    let fab = app_token(&sb, FABRIKAM, GRAPH).await;
    let (s, _, b) = get(&format!("{url}?$top=1"), Some(&fab)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"][0]["tenantId"], FABRIKAM);
    assert!(!ids.contains(b["value"][0]["id"].as_str().unwrap()));
}

#[tokio::test]
async fn graph_top_skip_and_query_limits() {
    let sb = start();
    let url = format!("{}/v1.0/security/alerts_v2", sb.authority());
    let token = app_token(&sb, CONTOSO, GRAPH).await;
    for top in ["1000", "1001", "99999999999999999999999", "0005"] {
        let (s, _, b) = get(&format!("{url}?$top={top}"), Some(&token)).await;
        let want = if top == "0005" { 5 } else { 300 };
        assert_eq!(
            (s, b["value"].as_array().unwrap().len()),
            (200, want),
            "{top}"
        );
    }
    let (s, _, b) = get(&format!("{url}?$skip=500"), Some(&token)).await;
    assert_eq!((s, b["value"].as_array().unwrap().len()), (200, 0));
    let (s, _, b) = get(&format!("{url}?$skip=290&$top=5"), Some(&token)).await;
    assert_eq!((s, b["value"].as_array().unwrap().len()), (200, 5));
    assert!(b["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("$skiptoken="));
    for q in [
        "$top=0",
        "$top=000",
        "$top=-1",
        "$top=%2B5",
        "$top=x",
        "$skip=501",
        "$skip=-1",
        "$skiptoken=%21%21",
        "$orderby=severity",
        "$orderby=lastUpdateDateTime%20sideways",
        "$filter=severity%20eq%20'high'",
        "$filter=lastUpdateDateTime%20ge%20yesterday",
        "$expand=alerts",
    ] {
        let (s, _, b) = get(&format!("{url}?{q}"), Some(&token)).await;
        assert_eq!(s, 400, "{q}: {b}");
        assert_graph_error(&b, "BadRequest");
    }
    let (s, _, b) = get(&format!("{url}?$skip=501"), Some(&token)).await;
    assert_eq!(s, 400);
    assert!(b["error"]["message"].as_str().unwrap().contains("500"));
    // Other Graph paths: 404 in Graph's shape.
    let (s, _, b) = get(
        &format!("{}/v1.0/security/secureScores", sb.authority()),
        Some(&token),
    )
    .await;
    assert_eq!(s, 404);
    assert_graph_error(&b, "ResourceNotFound");
}

#[tokio::test]
async fn graph_incidents_expand_alerts() {
    let sb = start();
    let base = sb.authority();
    let token = app_token(&sb, CONTOSO, GRAPH).await;
    let url = format!("{base}/v1.0/security/incidents");
    let (s, _, b) = get(&url, Some(&token)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["@odata.context"],
        format!("{base}/v1.0/$metadata#security/incidents")
    );
    let v = b["value"].as_array().unwrap();
    let (_, _, a) = get(&format!("{base}/v1.0/security/alerts_v2"), Some(&token)).await;
    let incident_ids: HashSet<&str> = a["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["incidentId"].as_str().unwrap())
        .collect();
    assert_eq!(v.len(), incident_ids.len());
    assert!(v.len() >= 100 && v.len() < 300, "{}", v.len());
    for k in [
        "id",
        "tenantId",
        "displayName",
        "status",
        "severity",
        "createdDateTime",
        "lastUpdateDateTime",
        "incidentWebUrl",
    ] {
        assert!(v[0].get(k).is_some(), "{k} missing in {}", v[0]);
    }
    assert!(v[0].get("alerts").is_none());
    let (s, _, b) = get(&format!("{url}?$expand=alerts&$top=30"), Some(&token)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["@odata.context"],
        format!("{base}/v1.0/$metadata#security/incidents(alerts())")
    );
    let inc = &b["value"][0];
    let alerts = inc["alerts"].as_array().unwrap();
    assert!(!alerts.is_empty());
    let latest = alerts.iter().map(updated).max().unwrap();
    assert_eq!(updated(inc), latest);
    for a in alerts {
        assert_eq!(a["incidentId"], inc["id"]);
        assert_eq!(a["tenantId"], CONTOSO);
    }
    assert!(b["@odata.nextLink"]
        .as_str()
        .unwrap()
        .contains("$expand=alerts"));
    let (paged, pages) = follow(format!("{url}?$expand=alerts&$top=30"), &token, |_| {}).await;
    assert_eq!((paged.len(), pages), (v.len(), v.len().div_ceil(30)));
    assert!(paged.iter().all(|i| i["alerts"].is_array()));
    let (s, _, b) = get(&format!("{url}?$expand=evidence"), Some(&token)).await;
    assert_eq!(s, 400);
    assert_graph_error(&b, "BadRequest");
}

#[tokio::test]
async fn graph_tokens_audiences_and_permissions() {
    let sb = start();
    let base = sb.authority();
    let alerts = format!("{base}/v1.0/security/alerts_v2?$top=1");
    let incidents = format!("{base}/v1.0/security/incidents?$top=1");
    // No token, garbage, a Defender token: 401 InvalidAuthenticationToken; the
    // client-request-id is echoed.
    let (s, h, b) = get_with(&alerts, None, &[("client-request-id", "abc-123")]).await;
    assert_eq!(s, 401);
    assert_graph_error(&b, "InvalidAuthenticationToken");
    assert_eq!(b["error"]["innerError"]["client-request-id"], "abc-123");
    assert_eq!(h["client-request-id"], "abc-123");
    assert!(h["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Bearer"));
    let (s, _, b) = get(&alerts, Some("not.a.jwt")).await;
    assert_eq!(s, 401);
    assert_graph_error(&b, "InvalidAuthenticationToken");
    let mde = app_token(&sb, CONTOSO, DEFENDER).await;
    let (s, _, b) = get(&alerts, Some(&mde)).await;
    assert_eq!(s, 401);
    assert!(b["error"]["message"].as_str().unwrap().contains("audience"));
    // A Graph token is not one for the Defender API, and keeps its Defender roles there.
    let g = app_token(&sb, CONTOSO, GRAPH).await;
    assert_eq!(
        get(&format!("{base}/api/alerts?$top=1"), Some(&g)).await.0,
        401
    );
    assert_eq!(
        claims(&mde)["roles"],
        serde_json::json!(["Alert.Read.All", "Incident.Read.All"])
    );
    // National clouds' Graph audiences are accepted.
    for aud in [
        "https://graph.microsoft.us",
        "https://dod-graph.microsoft.us",
    ] {
        let t = app_token(&sb, CONTOSO, aud).await;
        assert_eq!(get(&alerts, Some(&t)).await.0, 200, "{aud}");
    }
    // Fabrikam consented Alert.Read.All only: SecurityAlert.Read.All, not the incidents one.
    let fab = app_token(&sb, FABRIKAM, GRAPH).await;
    assert_eq!(
        claims(&fab)["roles"],
        serde_json::json!(["SecurityAlert.Read.All"])
    );
    assert_eq!(get(&alerts, Some(&fab)).await.0, 200);
    let (s, _, b) = get(&incidents, Some(&fab)).await;
    assert_eq!(s, 403);
    assert_graph_error(&b, "Forbidden");
    let m = b["error"]["message"].as_str().unwrap();
    assert!(
        m.contains("SecurityIncident.Read.All") && m.contains("SecurityAlert.Read.All"),
        "{m}"
    );
    // Only GET.
    let r = http().post(&alerts).bearer_auth(&g).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test]
async fn graph_prefer_include_unknown_enum_members() {
    let sb = start();
    let url = format!("{}/v1.0/security/alerts_v2", sb.authority());
    let token = app_token(&sb, CONTOSO, GRAPH).await;
    let (_, h, plain) = get(&url, Some(&token)).await;
    assert!(h.get("preference-applied").is_none());
    let sources = |b: &Value| -> Vec<String> {
        b["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["serviceSource"].as_str().unwrap().to_string())
            .collect()
    };
    let old = sources(&plain);
    assert!(old.iter().any(|s| s == "unknownFutureValue"));
    let (s, h, full) = get_with(
        &url,
        Some(&token),
        &[("Prefer", "include-unknown-enum-members")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(h["preference-applied"], "include-unknown-enum-members");
    let new = sources(&full);
    assert!(!new.iter().any(|s| s == "unknownFutureValue"));
    for (o, n) in old.iter().zip(&new) {
        if o == "unknownFutureValue" {
            assert!(
                n == "microsoftSentinel" || n == "microsoftDefenderForCloud",
                "{n}"
            );
        } else {
            assert_eq!(o, n);
        }
    }
}

#[tokio::test]
async fn graph_records_change_while_a_collector_pages() {
    let sb = start();
    let base = sb.authority();
    let token = app_token(&sb, CONTOSO, GRAPH).await;
    let url = format!("{base}/v1.0/security/alerts_v2");
    let (_, _, b) = get(&url, Some(&token)).await;
    let before: HashMap<String, String> = b["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                updated(a).to_string(),
            )
        })
        .collect();
    let mut times: Vec<&String> = before.values().collect();
    times.sort();
    let since = times[0].clone();
    let touch = |form: Vec<(&'static str, String)>| {
        let u = format!("{base}/sandbox/graph/touch");
        async move {
            let r = http().post(u).form(&form).send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    // Page ascending from the start; after the first page, 20 alerts are updated and 5 added.
    let first = format!(
        "{url}?$filter={}&$orderby={}&$top=50",
        enc(&format!("lastUpdateDateTime ge {since}")),
        enc("lastUpdateDateTime asc")
    );
    let mut touched = None;
    let paged = {
        let mut fire = true;
        let mut items = Vec::new();
        let mut next = Some(first);
        while let Some(u) = next {
            let (s, _, b) = get(&u, Some(&token)).await;
            assert_eq!(s, 200, "{b}");
            items.extend(b["value"].as_array().unwrap().iter().cloned());
            next = b["@odata.nextLink"].as_str().map(str::to_string);
            if fire {
                fire = false;
                let (s, t) = touch(vec![
                    ("tenant", "contoso.onmicrosoft.com".into()),
                    ("update", "20".into()),
                    ("new", "5".into()),
                ])
                .await;
                assert_eq!(s, 200, "{t}");
                touched = Some(t);
            }
        }
        items
    };
    let t = touched.unwrap();
    let list = t["touched"].as_array().unwrap();
    assert_eq!(list.len(), 25);
    assert_eq!(list.iter().filter(|x| x["new"] == true).count(), 5);
    let stamp = list[0]["lastUpdateDateTime"].as_str().unwrap().to_string();
    assert!(list
        .iter()
        .all(|x| x["lastUpdateDateTime"] == stamp.as_str()));
    // Keyset paging: no record of the original set is skipped (each is seen with its old or
    // its new lastUpdateDateTime), and every touched one is seen at its new time.
    let seen: HashSet<(String, String)> = paged
        .iter()
        .map(|a| {
            (
                a["id"].as_str().unwrap().to_string(),
                updated(a).to_string(),
            )
        })
        .collect();
    assert_eq!(seen.len(), paged.len(), "no record twice in one version");
    let seen_ids: HashSet<&str> = seen.iter().map(|(i, _)| i.as_str()).collect();
    for id in before.keys() {
        assert!(seen_ids.contains(id.as_str()), "{id} skipped");
    }
    for x in list {
        let key = (x["id"].as_str().unwrap().to_string(), stamp.clone());
        assert!(seen.contains(&key), "{key:?} not seen after the touch");
        if x["new"] == false {
            assert!(before.contains_key(&key.0), "an update keeps its id");
            assert_ne!(before[&key.0], stamp);
        }
    }
    // A later poll `ge` the boundary gets exactly the 25 records at the new time.
    let (_, _, b) = get(
        &format!(
            "{url}?$filter={}",
            enc(&format!("lastUpdateDateTime ge {stamp}"))
        ),
        Some(&token),
    )
    .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 25);
    // A touch at an explicit time (a tie with existing records), and bad forms.
    let (s, t) = touch(vec![
        ("tenant", CONTOSO.into()),
        ("update", "3".into()),
        ("at", stamp.clone()),
    ])
    .await;
    assert_eq!(s, 200, "{t}");
    let (_, _, b) = get(
        &format!(
            "{url}?$filter={}",
            enc(&format!("lastUpdateDateTime ge {stamp}"))
        ),
        Some(&token),
    )
    .await;
    let n = b["value"].as_array().unwrap().len();
    assert!((25..=28).contains(&n), "{n}");
    for form in [
        vec![("tenant", "nowhere.example".to_string())],
        vec![("tenant", CONTOSO.into()), ("new", "x".into())],
        vec![("tenant", CONTOSO.into()), ("new", "10001".into())],
        vec![("tenant", CONTOSO.into()), ("at", "yesterday".into())],
    ] {
        assert_eq!(touch(form).await.0, 400);
    }
    // The incident of an updated alert moved too.
    let (_, _, b) = get(
        &format!(
            "{base}/v1.0/security/incidents?$expand=alerts&$filter={}",
            enc(&format!("lastUpdateDateTime ge {stamp}"))
        ),
        Some(&token),
    )
    .await;
    assert!(!b["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn graph_throttling_per_app_per_tenant_is_configurable() {
    assert_eq!(start().inner.graph.rate_limit(), 150, "Graph's default");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.json");
    let mut cfg: Value = serde_json::from_str(crate::data::config::BUILTIN_JSON).unwrap();
    cfg["graph_requests_per_minute"] = 3.into();
    cfg["graph_alerts_per_tenant"] = 20.into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let sb = Sandbox::start(SandboxOptions {
        config: Some(path),
        ..Default::default()
    })
    .unwrap();
    let info = sb.info();
    assert_eq!(info["graph_requests_per_minute"], 3);
    assert_eq!(info["graph_alerts_per_tenant"], 20);
    assert_eq!(
        info["graph_touch_url"],
        format!("{}/sandbox/graph/touch", sb.authority())
    );
    let url = format!("{}/v1.0/security/alerts_v2", sb.authority());
    let t = app_token(&sb, CONTOSO, GRAPH).await;
    for _ in 0..3 {
        let (s, _, b) = get(&url, Some(&t)).await;
        assert_eq!((s, b["value"].as_array().unwrap().len()), (200, 20));
    }
    let (s, h, b) = get(&url, Some(&t)).await;
    assert_eq!(s, 429);
    assert_graph_error(&b, "TooManyRequests");
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // The incidents share the budget; another tenant has its own; 401s do not count.
    assert_eq!(
        get(
            &format!("{}/v1.0/security/incidents", sb.authority()),
            Some(&t)
        )
        .await
        .0,
        429
    );
    let f = app_token(&sb, FABRIKAM, GRAPH).await;
    assert_eq!(get(&url, Some(&f)).await.0, 200);
    assert_eq!(get(&url, None).await.0, 401);
    // The Defender API's budget is separate.
    let mde = app_token(&sb, CONTOSO, DEFENDER).await;
    assert_eq!(
        get(&format!("{}/api/alerts?$top=1", sb.authority()), Some(&mde))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn graph_touch_makes_many_ties_served_in_order_by_id() {
    let sb = start();
    let base = sb.authority();
    let token = app_token(&sb, CONTOSO, GRAPH).await;
    let url = format!("{base}/v1.0/security/alerts_v2");
    // 150 of the 300 alerts updated and 40 added, all at one explicit time (after every
    // generated one).
    let at = "2099-01-02T03:04:05.0000000Z";
    let r = http()
        .post(format!("{base}/sandbox/graph/touch"))
        .form(&[
            ("tenant", CONTOSO),
            ("update", "150"),
            ("new", "40"),
            ("at", at),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let t: Value = r.json().await.unwrap();
    let touched = t["touched"].as_array().unwrap();
    assert_eq!(touched.len(), 190);
    assert!(touched.iter().all(|x| x["lastUpdateDateTime"] == at));
    let mut want: Vec<String> = touched
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    want.sort();
    want.dedup();
    assert_eq!(want.len(), 190, "distinct ids");
    // One page, then pages of 25 that cut through the ties: ascending, ties by id, each once.
    for top in ["", "&$top=25"] {
        let first = format!(
            "{url}?$filter={}&$orderby={}{top}",
            enc(&format!("lastUpdateDateTime ge {at}")),
            enc("lastUpdateDateTime asc")
        );
        let (got, pages) = follow(first, &token, |_| {}).await;
        assert_eq!(pages, if top.is_empty() { 1 } else { 8 });
        assert!(got.iter().all(|a| updated(a) == at));
        let ids: Vec<String> = got
            .iter()
            .map(|a| a["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, want, "ascending, ties by id ({top})");
    }
    // The whole set ascending by lastUpdateDateTime: the ties come last, in id order.
    let (all, _) = follow(
        format!("{url}?$orderby={}&$top=100", enc("lastUpdateDateTime asc")),
        &token,
        |_| {},
    )
    .await;
    assert_eq!(all.len(), 340);
    let keys: Vec<(&str, &str)> = all
        .iter()
        .map(|a| (updated(a), a["id"].as_str().unwrap()))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "sorted by (time, id)");
    assert!(keys[150..].iter().all(|(t, _)| *t == at));
}

/// A sandbox on the built-in config with `changes` applied.
fn sandbox_with(changes: &[(&str, Value)]) -> (Sandbox, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.json");
    let mut cfg: Value = serde_json::from_str(crate::data::config::BUILTIN_JSON).unwrap();
    for (k, v) in changes {
        cfg[*k] = v.clone();
    }
    std::fs::write(&path, cfg.to_string()).unwrap();
    let sb = Sandbox::start(SandboxOptions {
        config: Some(path),
        ..Default::default()
    })
    .unwrap();
    (sb, dir)
}

#[tokio::test]
async fn graph_top_above_the_configured_maximum_is_clamped() {
    let d = start();
    assert_eq!(d.info()["graph_max_top"], 1000, "Graph's default");
    assert_eq!(d.info()["graph_retry_after_date"], false);
    drop(d);
    let (sb, _dir) = sandbox_with(&[
        ("graph_max_top", 7.into()),
        ("graph_alerts_per_tenant", 20.into()),
    ]);
    assert_eq!(sb.info()["graph_max_top"], 7);
    let base = sb.authority();
    let token = app_token(&sb, CONTOSO, GRAPH).await;
    let url = format!("{base}/v1.0/security/alerts_v2");
    // $top=50 gives 7 records and a link; the link keeps $top=50, clamped again, so the
    // pages are 7, 7, 6.
    let first = format!("{url}?$top=50&$orderby={}", enc("lastUpdateDateTime asc"));
    let (s, _, b) = get(&first, Some(&token)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["value"].as_array().unwrap().len(), 7);
    let link = b["@odata.nextLink"].as_str().unwrap();
    assert!(
        link.contains("$top=50") && link.contains("$skiptoken="),
        "{link}"
    );
    let mut sizes = Vec::new();
    let mut next = Some(first);
    let mut all = Vec::new();
    while let Some(u) = next {
        let (s, _, b) = get(&u, Some(&token)).await;
        assert_eq!(s, 200, "{b}");
        let v = b["value"].as_array().unwrap();
        sizes.push(v.len());
        all.extend(v.iter().map(|a| a["id"].as_str().unwrap().to_string()));
        next = b["@odata.nextLink"].as_str().map(str::to_string);
    }
    assert_eq!(sizes, [7, 7, 6]);
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 20);
    // No $top: the maximum too; $top within it is kept; incidents are clamped alike.
    let (_, _, b) = get(&url, Some(&token)).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 7);
    assert!(b["@odata.nextLink"].is_string());
    let (_, _, b) = get(&format!("{url}?$top=3"), Some(&token)).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 3);
    let (s, _, b) = get(
        &format!("{base}/v1.0/security/incidents?$top=1000&$expand=alerts"),
        Some(&token),
    )
    .await;
    assert_eq!((s, b["value"].as_array().unwrap().len()), (200, 7));
    for q in ["$top=0", "$top=x"] {
        let (s, _, b) = get(&format!("{url}?{q}"), Some(&token)).await;
        assert_eq!(s, 400, "{q}");
        assert_graph_error(&b, "BadRequest");
    }
    // The Defender API keeps its own $top rules.
    let mde = app_token(&sb, CONTOSO, DEFENDER).await;
    let (s, _, b) = get(&format!("{base}/api/alerts?$top=50"), Some(&mde)).await;
    assert_eq!(s, 200, "{b}");
    assert!(b["value"].as_array().unwrap().len() > 7);
    // graph_max_top must be at least 1.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sandbox.json");
    let mut cfg: Value = serde_json::from_str(crate::data::config::BUILTIN_JSON).unwrap();
    cfg["graph_max_top"] = 0.into();
    std::fs::write(&path, cfg.to_string()).unwrap();
    let e = crate::data::config::Config::load(&path).unwrap_err();
    assert!(format!("{e:#}").contains("graph_max_top"), "{e:#}");
}

#[tokio::test]
async fn graph_throttling_retry_after_as_an_http_date() {
    let (sb, _dir) = sandbox_with(&[
        ("graph_requests_per_minute", 2.into()),
        ("graph_alerts_per_tenant", 5.into()),
        ("graph_retry_after_date", true.into()),
    ]);
    assert_eq!(sb.info()["graph_retry_after_date"], true);
    let url = format!("{}/v1.0/security/alerts_v2", sb.authority());
    let t = app_token(&sb, CONTOSO, GRAPH).await;
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    };
    // The window starts (whole seconds) at the first request.
    let window_start = epoch();
    for _ in 0..2 {
        assert_eq!(get(&url, Some(&t)).await.0, 200);
    }
    let (s, h, b) = get(&url, Some(&t)).await;
    let after = epoch();
    assert_eq!(s, 429, "{b}");
    assert_graph_error(&b, "TooManyRequests");
    let date = h["retry-after"].to_str().unwrap().to_string();
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
    assert_eq!(date.len(), 29, "{date}");
    assert!(
        date.ends_with(" GMT") && date.as_bytes()[3] == b',',
        "{date}"
    );
    let at = (0..=after + 120)
        .rev()
        .take(200)
        .find(|s| crate::clock::format_http_date(*s) == date)
        .unwrap_or_else(|| panic!("{date} is not within two minutes"));
    // Never earlier than the end of the window, and within a minute (plus a second) of now.
    assert!(at >= window_start + 60, "{date} before the window's end");
    assert!(at <= after + 61, "{date}");
    // Without the key: delta-seconds (see graph_throttling_per_app_per_tenant_is_configurable).
}

/// Straight through `dispatch` (no catch_unwind): any panic fails the test. The Graph routes
/// are API paths for faults and latency.
#[test]
fn graph_hostile_inputs_never_panic_and_faults_apply() {
    use crate::http::Req;
    assert_eq!(PathKind::of("/v1.0/security/alerts_v2"), PathKind::Api);
    assert_eq!(PathKind::of("/v1.0/security/incidents"), PathKind::Api);
    let sb = start();
    let inner = &sb.inner;
    let (client_id, secret) = sb.default_app();
    let form = format!(
        "grant_type=client_credentials&client_id={client_id}&client_secret={secret}&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
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
    let queries = [
        "",
        "$top=99999999999999999999999",
        "$skip=18446744073709551615",
        "$skiptoken=",
        "$skiptoken=OTk5OTk5OTk5OTk5OTk5OTk5OTk5fHg",
        "$skiptoken=LTF8",
        "$filter=%FF%FE",
        "$filter=lastUpdateDateTime%20ge%209999-12-31T23:59:59.9999999%2B23:59",
        "$orderby=%20&$expand=%20",
        "$orderby=lastUpdateDateTime%20desc%20desc",
        "$top=&$skip=&$filter=&$orderby=",
    ];
    for path in [
        "/v1.0/security/alerts_v2",
        "/v1.0/security/incidents",
        "/v1.0/",
        "/v1.0",
    ] {
        for a in ["Bearer é", "bearer", &format!("Bearer {token}")] {
            for q in queries {
                let req = Req::new(
                    "GET",
                    &format!("{path}?{q}"),
                    vec![
                        ("Authorization".into(), a.to_string()),
                        ("Prefer".into(), "é, ,".into()),
                        ("client-request-id".into(), "é".repeat(300)),
                    ],
                    vec![],
                );
                let r = dispatch(inner, &req);
                assert!(r.status < 500, "{path}?{q}: {}", r.status);
            }
        }
    }
    for body in [
        "tenant=%FF&new=1",
        "tenant=contoso.onmicrosoft.com&at=9999-12-31T23:59:59Z&new=2",
        "tenant=contoso.onmicrosoft.com&update=18446744073709551616",
    ] {
        let r = dispatch(
            inner,
            &Req::new(
                "POST",
                "/sandbox/graph/touch",
                vec![],
                body.as_bytes().to_vec(),
            ),
        );
        assert!(r.status == 200 || r.status == 400, "{body}: {}", r.status);
    }
}
