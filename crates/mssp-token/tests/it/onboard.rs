//! `mssp-token onboard` against the sandbox: one result per tenant, stages and AADSTS codes,
//! the NDJSON report, shards, --only-failed, and bad tenants files.

use crate::support::{self, app_cmd, run, Sandbox};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;

const TENANTS: [&str; 5] = [
    "contoso.onmicrosoft.com",
    "fabrikam.onmicrosoft.com",
    "northwind.onmicrosoft.com",
    "nobody.onmicrosoft.com",
    "mssp-provider.onmicrosoft.com",
];

fn write_list(dir: &Path) -> std::path::PathBuf {
    let f = dir.join("tenants.txt");
    std::fs::write(&f, format!("# our customers\n{}\n", TENANTS.join("\n"))).unwrap();
    f
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON ({e}): {l}")))
        .collect()
}

fn onboard(sb: &Sandbox, dir: &Path, args: &[&str]) -> support::Output {
    run(app_cmd(sb, "onboard", dir)
        .args(["--base-url", &sb.authority()])
        .args(args))
}

#[test]
fn every_tenant_gets_one_result_with_stage_and_code() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_list(dir.path());
    let out = onboard(
        &sb,
        dir.path(),
        &[
            "--tenants",
            file.to_str().unwrap(),
            "--require-role",
            "Incident.Read.All",
            "--probe",
            "/api/alerts?$top=1",
        ],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    let results = lines(&out.stdout);
    assert_eq!(results.len(), TENANTS.len());
    let by: std::collections::HashMap<&str, &Value> = results
        .iter()
        .map(|r| (r["tenant"].as_str().unwrap(), r))
        .collect();
    assert_eq!(by.len(), TENANTS.len(), "exactly one line per tenant");
    let c = by["contoso.onmicrosoft.com"];
    assert_eq!(c["status"], "ok");
    assert_eq!(c["stage"], "probe");
    assert_eq!(c["http_status"], 200);
    assert!(c["expires_at"].as_str().unwrap().ends_with('Z'));
    let f = by["fabrikam.onmicrosoft.com"];
    assert_eq!(
        (f["status"].as_str(), f["stage"].as_str()),
        (Some("failed"), Some("roles"))
    );
    assert_eq!(f["roles"], serde_json::json!(["Alert.Read.All"]));
    let n = by["northwind.onmicrosoft.com"];
    assert_eq!(
        (n["stage"].as_str(), n["aadsts"].as_u64()),
        (Some("token"), Some(700016))
    );
    assert_eq!(by["nobody.onmicrosoft.com"]["aadsts"], 90002);
    for r in &results {
        assert!(r["elapsed_ms"].is_u64());
        for k in [
            "name",
            "tenant",
            "status",
            "stage",
            "error",
            "aadsts",
            "roles",
            "expires_at",
        ] {
            assert!(r.get(k).is_some(), "{k} in {r}");
        }
    }
    assert!(out.stderr.contains("5 tenants"), "{}", out.stderr);
    assert!(out.stderr.contains("AADSTS700016 x1"), "{}", out.stderr);
}

#[test]
fn all_ok_is_exit_0_and_the_report_is_written_atomically_0600() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        format!(
            "[defaults]\nclient_id = \"{}\"\nrequire_roles = [\"Alert.Read.All\"]\nprobe = \"/api/alerts?$top=1\"\n\n[[tenant]]\nname = \"Contoso\"\ntenant = \"contoso.onmicrosoft.com\"\n\n[[tenant]]\nname = \"Fabrikam\"\ntenant = \"fabrikam.onmicrosoft.com\"\n",
            sb.app()["client_id"].as_str().unwrap()
        ),
    )
    .unwrap();
    let report = dir.path().join("report.ndjson");
    let out = onboard(
        &sb,
        dir.path(),
        &[
            "--tenants",
            file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "the report goes to the file");
    let results = lines(&std::fs::read_to_string(&report).unwrap());
    let names: BTreeSet<&str> = results
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, BTreeSet::from(["Contoso", "Fabrikam"]));
    assert!(
        !dir.path().join("report.ndjson.partial").exists(),
        "the partial report became the report"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&report).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}

#[test]
fn shards_partition_the_list_exactly() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_list(dir.path());
    let mut seen = Vec::new();
    for k in 1..=3 {
        let shard = format!("{k}/3");
        let out = onboard(
            &sb,
            dir.path(),
            &["--tenants", file.to_str().unwrap(), "--shard", &shard],
        );
        assert!(out.code == 0 || out.code == 8, "{}", out.stderr);
        for r in lines(&out.stdout) {
            seen.push(r["tenant"].as_str().unwrap().to_string());
        }
    }
    let mut sorted = seen.clone();
    sorted.sort();
    let mut want: Vec<String> = TENANTS.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(
        sorted, want,
        "every tenant once across the shards: {seen:?}"
    );
}

#[test]
fn only_failed_reruns_exactly_the_failed_ones() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = write_list(dir.path());
    let report = dir.path().join("r.ndjson");
    let out = onboard(
        &sb,
        dir.path(),
        &[
            "--tenants",
            file.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    let failed: BTreeSet<String> = lines(&std::fs::read_to_string(&report).unwrap())
        .iter()
        .filter(|r| r["status"] != "ok")
        .map(|r| r["tenant"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from([
            "northwind.onmicrosoft.com".to_string(),
            "nobody.onmicrosoft.com".to_string()
        ])
    );
    let again = onboard(
        &sb,
        dir.path(),
        &[
            "--tenants",
            file.to_str().unwrap(),
            "--only-failed",
            report.to_str().unwrap(),
        ],
    );
    let rerun: BTreeSet<String> = lines(&again.stdout)
        .iter()
        .map(|r| r["tenant"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(rerun, failed);
}

#[test]
fn bad_tenants_files_name_the_line() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "bad.toml",
            "[[tenant]]\ntenant = \"a.onmicrosoft.com\"\n[[tenant]\n",
            "bad.toml:3",
        ),
        (
            "unknown.toml",
            "[[tenant]]\ntenant = \"a.onmicrosoft.com\"\ncolour = \"red\"\n",
            "unknown.toml:3: unknown field `colour`",
        ),
        (
            "dup.txt",
            "a.onmicrosoft.com\nb.onmicrosoft.com\nA.onmicrosoft.com\n",
            "dup.txt:3: tenant A.onmicrosoft.com is listed twice (first on line 1)",
        ),
        ("empty.txt", "", "no tenants"),
        ("comments.txt", "# nothing\n\n", "no tenants"),
        (
            "words.txt",
            "a.onmicrosoft.com\ncontoso fabrikam\n",
            "words.txt:2",
        ),
        ("common.txt", "common\n", "common.txt:1"),
    ];
    for (name, content, needle) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, content).unwrap();
        let out = onboard(&sb, dir.path(), &["--tenants", f.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{name}: {}", out.stderr);
        assert!(out.stderr.contains(needle), "{name}: {}", out.stderr);
        assert!(out.stdout.is_empty());
    }
}

/// A sandbox with generated tenants and faults; returns it and its tenants file.
fn faulty(n: u32, faults: &str) -> (Sandbox, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.toml");
    let sb = Sandbox::start_with(&[
        "--tenants",
        &n.to_string(),
        "--write-tenants",
        file.to_str().unwrap(),
        "--faults",
        faults,
        "--retry-after",
        "0",
        "--seed",
        "7",
    ]);
    (sb, file, dir)
}

fn onboard_generated(sb: &Sandbox, dir: &Path, file: &Path, extra: &[&str]) -> support::Output {
    let legacy = sb.expired_app();
    run(app_cmd(sb, "onboard", dir)
        .args(["--tenants", file.to_str().unwrap(), "--concurrency", "8"])
        .args(extra)
        .env(
            sb.info["legacy_secret_env"].as_str().unwrap(),
            legacy["client_secret"].as_str().unwrap(),
        ))
}

#[test]
fn retryable_faults_are_retried_and_recovered() {
    let (sb, file, dir) = faulty(40, "429=0.15,503=0.1,500=0.05,reset=0.05");
    let out = onboard_generated(
        &sb,
        dir.path(),
        &file,
        &["--retries", "12", "--require-role", "Alert.Read.All"],
    );
    let results = lines(&out.stdout);
    let listed = std::fs::read_to_string(&file)
        .unwrap()
        .matches("[[tenant]]")
        .count();
    assert_eq!(results.len(), listed, "one line per tenant");
    // Only the generated mix fails: not consented (700016) and the expired legacy secret (7000222).
    for r in &results {
        if r["status"] != "ok" {
            let code = r["aadsts"].as_u64();
            assert!(
                matches!(code, Some(700016) | Some(7000222)),
                "a fault leaked through: {r}"
            );
            assert_eq!(r["stage"], "token", "{r}");
        }
    }
    assert!(results.iter().any(|r| r["aadsts"] == 700016));
    assert!(results.iter().any(|r| r["aadsts"] == 7000222));
    assert_eq!(out.code, 8, "{}", out.stderr);
    let stats: Value = serde_json::from_slice(
        &std::process::Command::new("curl")
            .args(["-sS", &format!("{}/sandbox/stats", sb.authority())])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    assert!(
        stats["faults"]["total"].as_u64().unwrap() > 5,
        "faults were injected: {stats}"
    );
}

#[test]
fn non_retryable_faults_are_reported_at_their_stage() {
    let (sb, file, dir) = faulty(6, "malformed=1.0");
    let out = onboard_generated(&sb, dir.path(), &file, &[]);
    assert_eq!(out.code, 8, "{}", out.stderr);
    let results = lines(&out.stdout);
    assert!(!results.is_empty());
    for r in &results {
        assert_eq!(r["status"], "failed", "{r}");
        assert_eq!(r["stage"], "token", "{r}");
        assert!(r["aadsts"].is_null());
        assert!(
            r["error"]
                .as_str()
                .unwrap()
                .contains("not a token response"),
            "{r}"
        );
    }
}

#[test]
fn the_probe_stage_reports_api_faults() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, "contoso.onmicrosoft.com\nfabrikam.onmicrosoft.com\n").unwrap();
    // One at a time: the first tenant's probe is throttled past its retries.
    sb.tamper(serde_json::json!({
        "on": "api", "count": 2, "status": 429,
        "headers": {"Retry-After": "0"}, "body": "Too Many Requests"
    }));
    let out = onboard(
        &sb,
        dir.path(),
        &[
            "--tenants",
            file.to_str().unwrap(),
            "--probe",
            "/api/alerts?$top=1",
            "--concurrency",
            "1",
            "--retries",
            "2",
            "--deadline",
            "20",
        ],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    let results = lines(&out.stdout);
    let failed: Vec<&Value> = results.iter().filter(|r| r["status"] != "ok").collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    assert_eq!(failed[0]["stage"], "probe");
    assert!(
        failed[0]["error"].as_str().unwrap().contains("throttled"),
        "{}",
        failed[0]
    );
}

/// The report lines of `path`.
fn report_lines(path: &Path) -> Vec<Value> {
    lines(&std::fs::read_to_string(path).unwrap())
}

#[test]
fn an_absurd_answer_fails_only_that_tenant_and_the_report_is_written() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(&file, "contoso.onmicrosoft.com\nfabrikam.onmicrosoft.com\n").unwrap();
    // The first token answer says it lives 10^12 seconds (issue 9 item 7).
    sb.tamper(serde_json::json!({"on": "token", "fields": {"expires_in": 1_000_000_000_000u64}}));
    let report = dir.path().join("report.ndjson");
    let out = onboard(
        &sb,
        dir.path(),
        &[
            "--tenants",
            file.to_str().unwrap(),
            "--concurrency",
            "1",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    let results = report_lines(&report);
    assert_eq!(results.len(), 2, "{results:?}");
    // Whichever tenant's token request came first got the absurd answer (the order of the
    // requests is not the order of the file): that one failed at the token stage, the other ran.
    let failed: Vec<&Value> = results.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{results:?}");
    let c = failed[0];
    assert_eq!(c["stage"].as_str(), Some("token"), "{c}");
    let error = c["error"].as_str().unwrap_or("");
    assert!(error.contains("expires_in"), "a clear error: {c}");
    let other = results.iter().find(|r| r["tenant"] != c["tenant"]).unwrap();
    assert_eq!(other["status"], "ok", "{other}");
}

#[test]
fn the_same_tenant_as_domain_and_guid_runs_once() {
    let sb = Sandbox::start();
    let contoso = sb.tenant_named("Contoso");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("t.txt");
    std::fs::write(
        &file,
        format!(
            "{}\n{}\nfabrikam.onmicrosoft.com\n",
            contoso["domain"].as_str().unwrap(),
            contoso["id"].as_str().unwrap().to_uppercase()
        ),
    )
    .unwrap();
    let out = onboard(
        &sb,
        dir.path(),
        &["--tenants", file.to_str().unwrap(), "--concurrency", "1"],
    );
    assert_eq!(out.code, 8, "{}", out.stderr);
    let results = lines(&out.stdout);
    assert_eq!(
        results.len(),
        3,
        "one line per line of the file: {results:?}"
    );
    let same: Vec<&Value> = results
        .iter()
        .filter(|r| r["tenant_id"] == contoso["id"])
        .collect();
    assert_eq!(same.len(), 2, "{results:?}");
    let ran: Vec<&&Value> = same.iter().filter(|r| r["status"] == "ok").collect();
    assert_eq!(ran.len(), 1, "onboarded once: {same:?}");
    let dup = same.iter().find(|r| r["status"] != "ok").unwrap();
    let error = dup["error"].as_str().unwrap();
    assert!(
        error.contains("t.txt:2:") && error.contains("line 1"),
        "names both lines: {error}"
    );
    assert!(
        dup["expires_at"].is_null(),
        "no token was asked for it: {dup}"
    );
}

#[test]
fn probes_to_another_host_are_warned_about_and_clear_text_is_refused() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let client_id = sb.app()["client_id"].as_str().unwrap().to_string();
    let (elsewhere, hits) = support::static_authority(200, "application/json", b"{}".to_vec());
    let file = dir.path().join("t.toml");
    std::fs::write(
        &file,
        format!(
            "[defaults]\nclient_id = \"{client_id}\"\n\n[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\nprobe = \"{elsewhere}/api/alerts\"\n\n[[tenant]]\ntenant = \"fabrikam.onmicrosoft.com\"\nprobe = \"/api/alerts?$top=1\"\n"
        ),
    )
    .unwrap();
    let out = onboard(&sb, dir.path(), &["--tenants", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let host = elsewhere.trim_start_matches("http://");
    assert!(
        out.stderr
            .contains(&format!("t.toml:4: the probe goes to {host}"))
            && out.stderr.contains("1 tenant's bearer token"),
        "{}",
        out.stderr
    );
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);

    // Plain http to a host that is not loopback: the file is refused before any request.
    std::fs::write(
        &file,
        format!(
            "[defaults]\nclient_id = \"{client_id}\"\n\n[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\nprobe = \"http://probe.example.com/api/alerts\"\n"
        ),
    )
    .unwrap();
    let out = onboard(&sb, dir.path(), &["--tenants", file.to_str().unwrap()]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("t.toml:4:"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn max_rps_queues_tenants_without_spending_their_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.toml");
    let sb = Sandbox::start_with(&["--tenants", "25", "--write-tenants", file.to_str().unwrap()]);
    let legacy = sb.expired_app();
    // About 30 tenants of two requests each at 10 per second: most wait far longer than their
    // 2 s deadline before their first request; none may fail by it.
    let out = run(app_cmd(&sb, "onboard", dir.path())
        .args(["--tenants", file.to_str().unwrap()])
        .args(["--concurrency", "64", "--max-rps", "10", "--deadline", "2"])
        .env(
            sb.info["legacy_secret_env"].as_str().unwrap(),
            legacy["client_secret"].as_str().unwrap(),
        ));
    let results = lines(&out.stdout);
    assert!(results.len() >= 25, "{}", out.stderr);
    for r in &results {
        let error = r["error"].as_str().unwrap_or("");
        assert!(!error.contains("deadline"), "failed while queued: {r}");
    }
    assert!(results.iter().filter(|r| r["status"] == "ok").count() >= 20);
}

/// Starts `onboard --report` over many slow tenants, waits for the first result in
/// `report.partial`, sends `signal`, and returns (exit code, stderr, report path).
fn interrupted(signal: &str) -> (i32, String, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tenants.toml");
    let sb = Sandbox::start_with(&[
        "--tenants",
        "30",
        "--write-tenants",
        file.to_str().unwrap(),
        "--latency-ms",
        "300",
    ]);
    let report = dir.path().join("report.ndjson");
    std::fs::write(&report, "yesterday's report\n").unwrap();
    let legacy = sb.expired_app();
    let child = app_cmd(&sb, "onboard", dir.path())
        .args(["--tenants", file.to_str().unwrap(), "--concurrency", "2"])
        .arg("--report")
        .arg(&report)
        .env(
            sb.info["legacy_secret_env"].as_str().unwrap(),
            legacy["client_secret"].as_str().unwrap(),
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = dir.path().join("report.ndjson.partial");
    let waited = std::time::Instant::now();
    while std::fs::read_to_string(&partial)
        .unwrap_or_default()
        .lines()
        .count()
        < 1
    {
        assert!(
            waited.elapsed() < std::time::Duration::from_secs(60),
            "no result in {} within a minute",
            partial.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let sent = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.stdout.is_empty());
    (out.status.code().unwrap_or(-1), stderr, report, dir)
}

#[test]
fn an_interrupted_run_keeps_the_old_report_and_finishes_the_partial_one() {
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (exit, stderr, report, _dir) = interrupted(signal);
        assert_eq!(exit, code, "SIG{signal}: {stderr}");
        assert_eq!(
            std::fs::read_to_string(&report).unwrap(),
            "yesterday's report\n",
            "the old report stays"
        );
        let partial = report.with_file_name("report.ndjson.partial");
        let ran = report_lines(&partial);
        assert!(!ran.is_empty());
        assert!(
            stderr.contains(&format!("interrupted by SIG{signal}"))
                && stderr.contains(&format!("{} of ", ran.len()))
                && stderr.contains(&partial.display().to_string()),
            "says where and how many: {stderr}"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&partial).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
