//! `mssp-token collect` against the sandbox's Graph security and Defender APIs: every record
//! version once (checked against the API itself, read with `mssp-token api --all`), boundary
//! ties, a clamped `$top`, no `$skip` on Graph, 429 with both Retry-After forms, a tenant whose
//! every page fails, another tenant's record refused, shards, repair and recovery after a kill,
//! and SIGKILL at random instants while the alerts keep changing.

use crate::support::{app_cmd, run, Output, Sandbox};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// (tenant id, record id, last updated)
type Version = (String, String, String);

struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn tenants(&self, list: &[&str]) -> PathBuf {
        let f = self.path("tenants.txt");
        std::fs::write(&f, format!("# customers\n{}\n", list.join("\n"))).unwrap();
        f
    }
}

/// `mssp-token collect` against the sandbox over `tenants` with the state folder `state`, the
/// main app and a private cache, from 60 days back; `args` added.
fn collect_cmd(sb: &Sandbox, home: &Home, tenants: &Path, state: &Path, args: &[&str]) -> Command {
    let mut c = app_cmd(sb, "collect", &home.path("cache"));
    c.args(["--base-url", &sb.authority(), "--since", "60d"])
        .arg("--tenants")
        .arg(tenants)
        .arg("--state")
        .arg(state)
        .args(args);
    c
}

/// [`collect_cmd`] with the home's state folder, run to its end.
fn collect(sb: &Sandbox, home: &Home, tenants: &Path, args: &[&str]) -> Output {
    run(&mut collect_cmd(
        sb,
        home,
        tenants,
        &home.path("state"),
        args,
    ))
}

fn lines_of(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON ({e}): {l}")))
        .collect()
}

fn read_lines(path: &Path) -> Vec<Value> {
    lines_of(&std::fs::read_to_string(path).unwrap_or_default())
}

/// Every version written, checking none twice.
fn versions(lines: &[Value], source: &str) -> HashSet<Version> {
    let mut seen = HashSet::new();
    for l in lines.iter().filter(|l| l["source"] == source) {
        let v = (
            l["tenant_id"].as_str().unwrap().to_string(),
            l["id"].as_str().unwrap().to_string(),
            l["last_updated"].as_str().unwrap().to_string(),
        );
        assert!(seen.insert(v.clone()), "written twice: {v:?}");
    }
    seen
}

/// What the Graph API holds for a tenant now, read independently with `api --all`.
fn graph_truth(sb: &Sandbox, home: &Home, tenant: &Value) -> HashSet<Version> {
    let out = run(app_cmd(sb, "api", &home.path("cache"))
        .args(["--api", "graph", "--all", "--base-url", &sb.authority()])
        .args(["--tenant", tenant["id"].as_str().unwrap()])
        .arg("/v1.0/security/alerts_v2?$top=1000"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                tenant["id"].as_str().unwrap().to_string(),
                a["id"].as_str().unwrap().to_string(),
                a["lastUpdateDateTime"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// POST /sandbox/graph/touch: `new` alerts and `update` updated ones, at one time.
fn touch(sb: &Sandbox, tenant: &Value, new: u32, update: u32) -> Vec<Version> {
    let url = url::Url::parse(&sb.authority()).unwrap();
    let body = format!(
        "tenant={}&new={new}&update={update}",
        tenant["id"].as_str().unwrap()
    );
    let mut s = std::net::TcpStream::connect((
        url.host_str().unwrap(),
        url.port_or_known_default().unwrap(),
    ))
    .unwrap();
    write!(
        s,
        "POST /sandbox/graph/touch HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let json_part = &answer[answer.find("\r\n\r\n").unwrap() + 4..];
    let v: Value = serde_json::from_str(json_part.trim()).unwrap_or_else(|e| {
        panic!("touch answered {answer} ({e})");
    });
    v["touched"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                tenant["id"].as_str().unwrap().to_string(),
                t["id"].as_str().unwrap().to_string(),
                t["lastUpdateDateTime"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The sandbox's built-in configuration with `changes` applied.
fn write_config(path: &Path, changes: Value) {
    let mut cfg: Value = serde_json::from_str(entra_sandbox::builtin_config_json()).unwrap();
    for (k, v) in changes.as_object().unwrap() {
        cfg[k] = v.clone();
    }
    std::fs::write(path, cfg.to_string()).unwrap();
}

fn domain(t: &Value) -> &str {
    t["domain"].as_str().unwrap()
}

fn report(home: &Home) -> Vec<Value> {
    read_lines(&home.path("report.ndjson"))
}

#[test]
fn every_source_once_then_only_what_changed() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    let out_file = home.path("alerts.ndjson");
    let all = [
        "--source",
        "graph-alerts",
        "--source",
        "graph-incidents",
        "--source",
        "mde-alerts",
        "--source",
        "xdr-incidents",
    ];
    let out = collect(&sb, &home, &tenants, &all);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let first = lines_of(&out.stdout);
    for l in &first {
        let keys: BTreeSet<&str> = l.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            BTreeSet::from([
                "tenant",
                "tenant_id",
                "source",
                "id",
                "last_updated",
                "record"
            ]),
            "{l}"
        );
        assert_eq!(l["tenant"], domain(&contoso));
        assert_eq!(l["tenant_id"], contoso["id"]);
    }
    let alerts = versions(&first, "graph-alerts");
    assert_eq!(alerts, graph_truth(&sb, &home, &contoso), "graph-alerts");
    for (source, id_field) in [
        ("graph-incidents", "id"),
        ("mde-alerts", "id"),
        ("xdr-incidents", "incidentId"),
    ] {
        let mine: Vec<&Value> = first.iter().filter(|l| l["source"] == source).collect();
        assert!(!mine.is_empty(), "{source}: nothing collected");
        versions(&first, source);
        for l in &mine {
            let rid = match &l["record"][id_field] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            assert_eq!(l["id"].as_str().unwrap(), rid, "{source}");
        }
    }
    assert!(
        first
            .iter()
            .filter(|l| l["source"] == "graph-incidents")
            .all(|l| l["record"]["alerts"].is_array()),
        "incidents come with their alerts"
    );
    assert!(out.stderr.contains("collect: 1 tenants"), "{}", out.stderr);
    // The state folder: one cursor per tenant and source, 0600 in a 0700 folder.
    let state = home.path("state");
    for s in [
        "graph-alerts",
        "graph-incidents",
        "mde-alerts",
        "xdr-incidents",
    ] {
        let f = state.join(format!("{}.{s}.json", contoso["id"].as_str().unwrap()));
        let saved: Value = serde_json::from_slice(&std::fs::read(&f).unwrap()).unwrap();
        assert!(saved["cursor"].is_string(), "{saved}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&state).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    // Nothing changed: nothing written (the records at the cursor are dropped, not repeated).
    let again = collect(&sb, &home, &tenants, &all);
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.stdout, "", "a second run repeats nothing");

    // Alerts change: exactly the new versions come, to the file this time.
    let touched: HashSet<Version> = touch(&sb, &contoso, 3, 5).into_iter().collect();
    let third = collect(
        &sb,
        &home,
        &tenants,
        &[
            "--source",
            "graph-alerts",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(third.stdout, "");
    assert_eq!(versions(&read_lines(&out_file), "graph-alerts"), touched);
}

#[test]
fn ties_larger_than_a_page_a_clamped_top_and_no_skip_on_graph() {
    let home = Home::new();
    let config = home.path("sandbox.json");
    write_config(
        &config,
        json!({"graph_max_top": 7, "graph_requests_per_minute": 0}),
    );
    let sb = Sandbox::start_with(&["--config", config.to_str().unwrap()]);
    let contoso = sb.tenant_named("Contoso").clone();
    // 40 alerts updated at one instant: more ties than a page holds.
    let touched = touch(&sb, &contoso, 10, 30);
    assert_eq!(touched.len(), 40);
    let tenants = home.tenants(&[domain(&contoso)]);
    let out_file = home.path("alerts.ndjson");
    // Asking 50 a page, the API clamps to 7 (and says more remain with a link).
    let out = collect(
        &sb,
        &home,
        &tenants,
        &[
            "-v",
            "--source",
            "graph-alerts",
            "--page-size",
            "50",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let got = versions(&read_lines(&out_file), "graph-alerts");
    assert_eq!(got, graph_truth(&sb, &home, &contoso));
    for t in &touched {
        assert!(got.contains(t), "tie {t:?} missing");
    }
    let gets: Vec<&str> = out.stderr.lines().filter(|l| l.contains("GET ")).collect();
    assert!(gets.len() > 40, "paged in small pages: {}", gets.len());
    for g in &gets {
        assert!(
            !g.contains("%24skip=") && !g.contains("$skip="),
            "Graph is paged by time and links, never by $skip: {g}"
        );
    }
}

#[test]
fn throttled_pages_wait_for_retry_after_in_seconds_and_as_a_date() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    let date = httpdate_in(2);
    sb.tamper(
        json!({"on": "api", "count": 1, "status": 429, "headers": {"Retry-After": "1"},
        "body": "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}"}),
    );
    sb.tamper(
        json!({"on": "api", "count": 1, "status": 429, "headers": {"Retry-After": date},
        "body": "{\"error\":{\"code\":\"TooManyRequests\",\"message\":\"slow down\"}}"}),
    );
    let started = Instant::now();
    let out = collect(&sb, &home, &tenants, &["--source", "graph-alerts"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "both waits were honoured: {:?}",
        started.elapsed()
    );
    assert_eq!(
        versions(&lines_of(&out.stdout), "graph-alerts"),
        graph_truth(&sb, &home, &contoso)
    );
}

/// An HTTP-date `secs` seconds from now (rounded up to the next whole second).
fn httpdate_in(secs: u64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs
        + 1;
    let days = now / 86_400;
    let s = now % 86_400;
    // 1970-01-01 was a Thursday.
    let wd = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"][(days % 7) as usize];
    let (y, m, d) = civil(days as i64);
    let mon = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ][(m - 1) as usize];
    format!(
        "{wd}, {d:02} {mon} {y} {:02}:{:02}:{:02} GMT",
        s / 3600,
        (s / 60) % 60,
        s % 60
    )
}

fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[test]
fn a_tenant_whose_every_page_fails_keeps_its_cursor_and_the_others_finish() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let fabrikam = sb.tenant_named("Fabrikam").clone();
    let tenants = home.tenants(&[domain(&contoso), domain(&fabrikam)]);
    sb.tamper(
        json!({"on": "api", "tenant": fabrikam["id"], "count": 100000, "status": 503,
        "body": "{\"error\":{\"code\":\"ServiceUnavailable\",\"message\":\"down\"}}"}),
    );
    let out = collect(
        &sb,
        &home,
        &tenants,
        &[
            "--source",
            "graph-alerts",
            "--retries",
            "2",
            "--report",
            home.path("report.ndjson").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(out.stderr.contains("HTTP 503"), "{}", out.stderr);
    let got = versions(&lines_of(&out.stdout), "graph-alerts");
    assert_eq!(got, graph_truth(&sb, &home, &contoso), "contoso complete");
    let rep = report(&home);
    let by: HashMap<&str, &Value> = rep
        .iter()
        .map(|r| (r["tenant"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by[domain(&contoso)]["status"], "ok");
    let f = by[domain(&fabrikam)];
    assert_eq!(f["status"], "failed", "{f}");
    assert!(
        f["sources"][0]["error"].as_str().unwrap().contains("503"),
        "{f}"
    );
    let cursor = home.path("state").join(format!(
        "{}.graph-alerts.json",
        fabrikam["id"].as_str().unwrap()
    ));
    assert!(!cursor.exists(), "the failing tenant's cursor did not move");
}

#[test]
fn a_record_of_another_tenant_is_refused_and_counted() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let fabrikam = sb.tenant_named("Fabrikam").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    sb.tamper(
        json!({"on": "api", "records": {"tenantId": fabrikam["id"], "title": "forged"},
        "record_index": 2}),
    );
    let out = collect(
        &sb,
        &home,
        &tenants,
        &[
            "--source",
            "graph-alerts",
            "--report",
            home.path("report.ndjson").to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    let lines = lines_of(&out.stdout);
    assert!(
        lines
            .iter()
            .all(|l| l["record"]["tenantId"] == contoso["id"]),
        "no record of another tenant is written"
    );
    assert!(!out.stdout.contains("forged"));
    let truth = graph_truth(&sb, &home, &contoso);
    assert_eq!(versions(&lines, "graph-alerts").len(), truth.len() - 1);
    let rep = report(&home);
    assert_eq!(rep[0]["sources"][0]["refused"], 1, "{}", rep[0]);
    assert!(out.stderr.contains("1 refused"), "{}", out.stderr);
}

#[test]
fn shards_partition_the_tenants_exactly_and_their_reports_merge() {
    let sb = Sandbox::start_with(&["--tenants", "7"]);
    let home = Home::new();
    let consented: Vec<String> = sb.info["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["consented"] == true)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(consented.len() >= 5, "{consented:?}");
    let list: Vec<&str> = consented.iter().map(String::as_str).collect();
    let tenants = home.tenants(&list);
    let mut seen: Vec<String> = Vec::new();
    let mut reports = Vec::new();
    let mut total = 0;
    for k in 1..=3 {
        let shard_home = Home::new();
        let report = home.path(&format!("report-{k}.ndjson"));
        let shard = format!("{k}/3");
        let out = run(&mut collect_cmd(
            &sb,
            &home,
            &tenants,
            &shard_home.path("state"),
            &[
                "--report",
                report.to_str().unwrap(),
                "--source",
                "graph-alerts",
                "--shard",
                &shard,
            ],
        ));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let lines = lines_of(&out.stdout);
        total += lines.len();
        let ids: BTreeSet<String> = lines
            .iter()
            .map(|l| l["tenant_id"].as_str().unwrap().to_string())
            .collect();
        seen.extend(ids);
        reports.push(report);
    }
    let unique: BTreeSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a tenant in two shards: {seen:?}");
    assert_eq!(
        unique,
        consented.iter().collect::<BTreeSet<_>>(),
        "every tenant in one shard"
    );
    // The shards' reports merge into one: every tenant once, one exit code.
    let merged = run(std::process::Command::new(crate::support::bin())
        .args(["report", "merge", "--expect-shards", "3"])
        .args(&reports));
    assert_eq!(merged.code, 0, "{}", merged.stderr);
    assert_eq!(lines_of(&merged.stdout).len(), consented.len());
    assert!(
        merged.stderr.contains(&format!("{total} records")),
        "{}",
        merged.stderr
    );
    // A shard's report missing is noticed.
    let short = run(std::process::Command::new(crate::support::bin())
        .args(["report", "merge", "--expect-shards", "3"])
        .args(&reports[..2]));
    assert_eq!(short.code, 2, "{}", short.stderr);
}

#[test]
fn a_cut_last_line_is_repaired_and_lines_after_the_last_cursor_are_kept() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    let out_file = home.path("alerts.ndjson");
    let args = [
        "--source",
        "graph-alerts",
        "--out",
        out_file.to_str().unwrap(),
    ];
    // A first run, and the state as it was before a second one.
    assert_eq!(collect(&sb, &home, &tenants, &args).code, 0);
    let before = snapshot(&home.path("state"));
    touch(&sb, &contoso, 4, 4);
    assert_eq!(collect(&sb, &home, &tenants, &args).code, 0);
    let complete = read_lines(&out_file);
    // The second run "died" after its records were fsynced, before its cursor was saved.
    restore(&home.path("state"), &before);
    // ...and a third, killed mid-line.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&out_file)
        .unwrap();
    f.write_all(br#"{"tenant":"contoso.onmicrosoft.com","tenant_id":"#)
        .unwrap();
    drop(f);
    let out = collect(&sb, &home, &tenants, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stderr.contains("cut short"), "{}", out.stderr);
    assert!(
        out.stderr
            .contains("8 records written by an interrupted run"),
        "{}",
        out.stderr
    );
    let now = read_lines(&out_file);
    assert_eq!(now.len(), complete.len(), "nothing repeated, nothing lost");
    assert_eq!(
        versions(&now, "graph-alerts"),
        graph_truth(&sb, &home, &contoso)
            .union(&versions(&complete, "graph-alerts"))
            .cloned()
            .collect()
    );
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != "lock")
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect()
}

fn restore(dir: &Path, files: &[(PathBuf, Vec<u8>)]) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name() != "lock" {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    for (p, b) in files {
        std::fs::write(p, b).unwrap();
    }
}

#[test]
fn killed_at_random_instants_while_alerts_change_nothing_is_lost_or_repeated() {
    let home = Home::new();
    let config = home.path("sandbox.json");
    write_config(&config, json!({"graph_requests_per_minute": 0}));
    let sb = Sandbox::start_with(&["--config", config.to_str().unwrap()]);
    let picked: Vec<Value> = ["Contoso", "Fabrikam", "MSSP (provider)"]
        .iter()
        .map(|n| sb.tenant_named(n).clone())
        .collect();
    let names: Vec<&str> = picked.iter().map(domain).collect();
    let tenants = home.tenants(&names);
    let out_file = home.path("alerts.ndjson");
    let mut produced: HashSet<Version> = HashSet::new();
    for t in &picked {
        produced.extend(graph_truth(&sb, &home, t));
    }
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("kill test seed {seed}");
    let mut rng = seed | 1;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let mut killed = 0;
    let mut killed_while_writing = 0;
    for round in 0..24 {
        // The alerts change between (and during) runs.
        let t = &picked[round % picked.len()];
        produced.extend(touch(&sb, t, 10, 30));
        let mut child = collect_cmd(
            &sb,
            &home,
            &tenants,
            &home.path("state"),
            &[
                "--source",
                "graph-alerts",
                "--page-size",
                "4",
                "--out",
                out_file.to_str().unwrap(),
            ],
        )
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
        let size_before = std::fs::metadata(&out_file).map(|m| m.len()).unwrap_or(0);
        std::thread::sleep(Duration::from_millis(2 + next(200)));
        if round % 3 == 1 {
            produced.extend(touch(&sb, &picked[(round + 1) % picked.len()], 1, 3));
        }
        match child.try_wait().unwrap() {
            Some(_) => {}
            None => {
                child.kill().unwrap();
                killed += 1;
                let size = std::fs::metadata(&out_file).map(|m| m.len()).unwrap_or(0);
                if size > size_before {
                    killed_while_writing += 1;
                }
            }
        }
        child.wait().unwrap();
    }
    let last = collect(
        &sb,
        &home,
        &tenants,
        &[
            "--source",
            "graph-alerts",
            "--page-size",
            "9",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(last.code, 0, "{}", last.stderr);
    eprintln!("killed {killed} of 24 runs, {killed_while_writing} after they had written records");
    assert!(
        killed_while_writing >= 3,
        "the test killed too few runs in the middle ({killed_while_writing}) to mean anything"
    );
    let got = versions(&read_lines(&out_file), "graph-alerts");
    let mut now: HashSet<Version> = HashSet::new();
    for t in &picked {
        now.extend(graph_truth(&sb, &home, t));
    }
    let missing: Vec<&Version> = now.difference(&got).collect();
    assert!(missing.is_empty(), "lost (seed {seed}): {missing:?}");
    let invented: Vec<&Version> = got.difference(&produced).collect();
    assert!(
        invented.is_empty(),
        "never produced (seed {seed}): {invented:?}"
    );
}

/// What a Defender API holds for a tenant now (`api --all`): (tenant, id, lastUpdateTime).
fn defender_truth(
    sb: &Sandbox,
    home: &Home,
    tenant: &Value,
    path: &str,
    id: &str,
) -> HashSet<Version> {
    let api = if path.contains("incidents") {
        "xdr"
    } else {
        "mde"
    };
    let out = run(app_cmd(sb, "api", &home.path("cache"))
        .args(["--api", api, "--all", "--base-url", &sb.authority()])
        .args(["--tenant", tenant["id"].as_str().unwrap()])
        .arg(path));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    v["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let rid = match &a[id] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (
                tenant["id"].as_str().unwrap().to_string(),
                rid,
                a["lastUpdateTime"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn defender_pages_in_no_order_are_narrowed_to_complete_windows() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    for (source, page, path, id) in [
        ("mde-alerts", "25", "/api/alerts", "id"),
        ("xdr-incidents", "8", "/api/incidents", "incidentId"),
    ] {
        let out = collect(
            &sb,
            &home,
            &tenants,
            &["-v", "--source", source, "--page-size", page],
        );
        assert_eq!(out.code, 0, "{source}: {}", out.stderr);
        let got = versions(&lines_of(&out.stdout), source);
        assert_eq!(
            got,
            defender_truth(&sb, &home, &contoso, path, id),
            "{source}"
        );
        let gets = out.stderr.lines().filter(|l| l.contains("GET ")).count();
        eprintln!("{source}: {gets} requests");
        assert!(gets > 10, "{source}: small pages, many windows ({gets})");
        assert!(
            !out.stderr.contains("%24orderby"),
            "the Defender APIs document no $orderby: {}",
            out.stderr
        );
    }
}

#[test]
fn one_run_per_state_folder_and_output_and_a_bad_state_is_named_with_the_fix() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    let out_file = home.path("alerts.ndjson");
    let args = [
        "--source",
        "graph-alerts",
        "--out",
        out_file.to_str().unwrap(),
    ];
    assert_eq!(collect(&sb, &home, &tenants, &args).code, 0);

    // Another run holds the output file: exit 7 within the lock wait, nothing written.
    let before = std::fs::read(&out_file).unwrap();
    let held = std::fs::OpenOptions::new()
        .append(true)
        .open(&out_file)
        .unwrap();
    held.lock().unwrap();
    let other_state = home.path("state-2");
    let out = run(collect_cmd(&sb, &home, &tenants, &other_state, &args)
        .env("MSSP_TOKEN_LOCK_WAIT_SECS", "1"));
    assert_eq!(out.code, 7, "{}", out.stderr);
    assert!(out.stderr.contains("another collect run"), "{}", out.stderr);
    drop(held);
    assert_eq!(std::fs::read(&out_file).unwrap(), before);

    // A state folder others can write is refused, naming the fix.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let open = home.path("open-state");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let out = run(&mut collect_cmd(
            &sb,
            &home,
            &tenants,
            &open,
            &["--source", "graph-alerts"],
        ));
        assert_eq!(out.code, 7, "{}", out.stderr);
        assert!(out.stderr.contains("chmod 700"), "{}", out.stderr);
        assert_eq!(out.stdout, "");
    }

    // A damaged cursor file: that source fails naming the file and the way out; exit 8.
    let cursor = home.path("state").join(format!(
        "{}.graph-alerts.json",
        contoso["id"].as_str().unwrap()
    ));
    std::fs::write(&cursor, "{\"cursor\": ").unwrap();
    let out = collect(&sb, &home, &tenants, &args);
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(
        out.stderr.contains(cursor.to_str().unwrap()) && out.stderr.contains("delete it"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&out_file).unwrap(), before, "nothing written");
}

#[test]
fn tokens_come_from_the_cache_between_runs_and_fresh_after_a_401() {
    let sb = Sandbox::start();
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    let args = ["-v", "--source", "graph-alerts", "--source", "mde-alerts"];
    let first = collect(&sb, &home, &tenants, &args);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(
        first
            .stderr
            .matches("client credentials for tenant")
            .count(),
        2,
        "one token per API: {}",
        first.stderr
    );
    let second = collect(&sb, &home, &tenants, &args);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert!(
        !second.stderr.contains("client credentials for tenant"),
        "the second run asks Entra for nothing: {}",
        second.stderr
    );
    assert_eq!(second.stderr.matches("from the cache").count(), 2);
    // The API refuses the cached token once: a fresh one from Entra, and the page succeeds.
    sb.tamper(json!({"on": "api", "count": 1, "status": 401,
        "body": "{\"error\":{\"code\":\"InvalidAuthenticationToken\",\"message\":\"expired\"}}"}));
    let third = collect(&sb, &home, &tenants, &args);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(
        third
            .stderr
            .matches("client credentials for tenant")
            .count(),
        1,
        "{}",
        third.stderr
    );
    // --no-cache: always from Entra.
    let fourth = collect(&sb, &home, &tenants, &[&args[..], &["--no-cache"]].concat());
    assert_eq!(fourth.code, 0, "{}", fourth.stderr);
    assert_eq!(
        fourth
            .stderr
            .matches("client credentials for tenant")
            .count(),
        2
    );
}

#[test]
fn a_deadline_keeps_what_was_written_and_the_next_run_goes_on() {
    let sb = Sandbox::start_with(&["--latency-ms", "150"]);
    let home = Home::new();
    let contoso = sb.tenant_named("Contoso").clone();
    let tenants = home.tenants(&[domain(&contoso)]);
    let out_file = home.path("alerts.ndjson");
    let report = home.path("report.ndjson");
    let args = [
        "--source",
        "graph-alerts",
        "--out",
        out_file.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
    ];
    // 300 alerts, 10 a page, 150 ms each: far more than 2 s.
    let cut = collect(
        &sb,
        &home,
        &tenants,
        &[&args[..], &["--deadline", "2", "--page-size", "10"]].concat(),
    );
    assert_eq!(cut.code, 8, "{}", cut.stderr);
    let rep = read_lines(&report);
    let s = &rep[0]["sources"][0];
    assert_eq!(s["status"], "failed", "{s}");
    assert!(
        s["error"].as_str().unwrap().contains("deadline of 2 s"),
        "{s}"
    );
    let written = read_lines(&out_file).len() as u64;
    assert!(written > 0, "pages before the deadline were written");
    assert_eq!(
        s["records"], written,
        "the report counts what was written: {s}"
    );
    assert!(s["cursor"].is_string(), "{s}");
    // The next run (whole pages) goes on from the cursor: everything once.
    let rest = collect(&sb, &home, &tenants, &args);
    assert_eq!(rest.code, 0, "{}", rest.stderr);
    assert_eq!(
        versions(&read_lines(&out_file), "graph-alerts"),
        graph_truth(&sb, &home, &contoso)
    );
}
