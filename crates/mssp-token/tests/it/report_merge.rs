//! `report merge` over shard reports: the reports of real `onboard --shard K/3 --report` runs
//! against the sandbox, and hand-written `collect` reports.

use crate::support::{app_cmd, bin, run, Output, Sandbox};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The sandbox's default tenants: some pass, some fail (see onboard.rs).
const TENANTS: [&str; 5] = [
    "contoso.onmicrosoft.com",
    "fabrikam.onmicrosoft.com",
    "northwind.onmicrosoft.com",
    "nobody.onmicrosoft.com",
    "mssp-provider.onmicrosoft.com",
];

fn merge(args: &[&str]) -> Output {
    run(Command::new(bin())
        .args(["report", "merge"])
        .args(args)
        .stdin(Stdio::null()))
}

fn lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not NDJSON ({e}): {l}")))
        .collect()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// `onboard --tenants FILE [--shard K/N] --report dir/NAME`: the report's path.
fn onboard_report(
    sb: &Sandbox,
    dir: &Path,
    tenants: &Path,
    shard: Option<&str>,
    name: &str,
) -> PathBuf {
    let report = dir.join(name);
    let mut cmd = app_cmd(sb, "onboard", dir);
    cmd.args(["--base-url", &sb.authority(), "--tenants", s(tenants)])
        .args(["--report", s(&report)]);
    if let Some(k_of_n) = shard {
        cmd.args(["--shard", k_of_n]);
    }
    let out = run(&mut cmd);
    assert!(
        out.code == 0 || out.code == 8,
        "onboard {shard:?}: {}",
        out.stderr
    );
    assert!(report.is_file(), "onboard wrote {}", report.display());
    report
}

/// Three real shards over `tenants`: their report paths.
fn three_shards(sb: &Sandbox, dir: &Path, tenants: &Path) -> Vec<PathBuf> {
    (1..=3)
        .map(|k| {
            onboard_report(
                sb,
                dir,
                tenants,
                Some(&format!("{k}/3")),
                &format!("shard-{k}.ndjson"),
            )
        })
        .collect()
}

fn tenants_of(report: &Path) -> Vec<String> {
    lines(&std::fs::read_to_string(report).unwrap())
        .iter()
        .map(|r| r["tenant"].as_str().unwrap().to_string())
        .collect()
}

/// The shards partition the tenants: every one exactly once across the reports.
fn assert_partition(reports: &[PathBuf], want: &[&str]) {
    let mut seen: Vec<String> = reports.iter().flat_map(|r| tenants_of(r)).collect();
    seen.sort();
    let mut want: Vec<String> = want.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(seen, want, "union = every tenant, no overlap");
}

#[test]
fn real_onboard_shards_merge_with_exit_8_when_a_tenant_failed() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.txt");
    std::fs::write(&tenants, format!("{}\n", TENANTS.join("\n"))).unwrap();
    let reports = three_shards(&sb, dir.path(), &tenants);
    assert_partition(&reports, &TENANTS);

    let args: Vec<&str> = reports.iter().map(|p| s(p)).collect();
    let out = merge(&[&["--expect-shards", "3"], &args[..]].concat());
    assert_eq!(out.code, 8, "{}", out.stderr);
    // Every line, in the order of the files given.
    let want: String = reports
        .iter()
        .map(|r| std::fs::read_to_string(r).unwrap())
        .collect();
    assert_eq!(out.stdout, want);
    let merged: BTreeSet<String> = lines(&out.stdout)
        .iter()
        .map(|r| r["tenant"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(merged.len(), TENANTS.len());
    assert!(
        out.stderr.contains("merge: 3 onboard reports, 5 tenants: "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("AADSTS700016 x1"), "{}", out.stderr);

    // --out: the same lines, written atomically with mode 0600; nothing on stdout.
    let merged_file = dir.path().join("merged.ndjson");
    let out = merge(&[&args[..], &["--out", s(&merged_file)]].concat());
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&merged_file).unwrap(), want);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&merged_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn real_onboard_shards_all_ok_merge_with_exit_0_and_an_empty_shard_is_fine() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("t.toml");
    std::fs::write(
        &tenants,
        format!(
            "[defaults]\nclient_id = \"{}\"\nrequire_roles = [\"Alert.Read.All\"]\nprobe = \"/api/alerts?$top=1\"\n\n[[tenant]]\nname = \"Contoso\"\ntenant = \"contoso.onmicrosoft.com\"\n\n[[tenant]]\nname = \"Fabrikam\"\ntenant = \"fabrikam.onmicrosoft.com\"\n",
            sb.app()["client_id"].as_str().unwrap()
        ),
    )
    .unwrap();
    // Two tenants over three shards: the third has none, and its report is empty.
    let reports = three_shards(&sb, dir.path(), &tenants);
    assert_partition(
        &reports,
        &["contoso.onmicrosoft.com", "fabrikam.onmicrosoft.com"],
    );
    assert_eq!(std::fs::read_to_string(&reports[2]).unwrap(), "");

    let args: Vec<&str> = reports.iter().map(|p| s(p)).collect();
    let out = merge(&[&["--expect-shards", "3"], &args[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(lines(&out.stdout).len(), 2);
    assert!(
        out.stderr
            .contains("merge: 3 onboard reports, 2 tenants: 2 ok, 0 failed"),
        "{}",
        out.stderr
    );
}

#[test]
fn the_same_tenant_in_two_reports_is_exit_2_naming_both_lines() {
    let sb = Sandbox::start();
    let dir = tempfile::tempdir().unwrap();
    let tenants = dir.path().join("tenants.txt");
    std::fs::write(&tenants, format!("{}\n", TENANTS.join("\n"))).unwrap();
    // A whole run and one shard of another: the shard's tenants are in both.
    let whole = onboard_report(&sb, dir.path(), &tenants, None, "whole.ndjson");
    let shard = onboard_report(&sb, dir.path(), &tenants, Some("2/3"), "shard-2.ndjson");
    let first = &tenants_of(&shard)[0];
    let line_in_whole = tenants_of(&whole).iter().position(|t| t == first).unwrap() + 1;

    let merged_file = dir.path().join("merged.ndjson");
    let out = merge(&[s(&whole), s(&shard), "--out", s(&merged_file)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(!merged_file.exists(), "nothing written");
    let both = format!("{}:{line_in_whole} and {}:1", s(&whole), s(&shard));
    assert!(out.stderr.contains(&both), "{both}: {}", out.stderr);
    assert!(out.stderr.contains(first.as_str()), "{}", out.stderr);

    // The same tenant by GUID in one report and by domain in another is the same tenant.
    let a = dir.path().join("a.ndjson");
    let b = dir.path().join("b.ndjson");
    let guid = "6f1a0c3e-2b4d-4e5f-8a9b-0c1d2e3f4a5b";
    std::fs::write(
        &a,
        format!("{{\"tenant\":\"contoso.com\",\"tenant_id\":\"{guid}\",\"status\":\"ok\",\"stage\":\"probe\"}}\n"),
    )
    .unwrap();
    std::fs::write(
        &b,
        format!(
            "{{\"tenant\":\"x.com\",\"tenant_id\":\"1\",\"status\":\"ok\",\"stage\":\"probe\"}}\n{{\"tenant\":\"{}\",\"tenant_id\":\"{guid}\",\"status\":\"ok\",\"stage\":\"probe\"}}\n",
            guid.to_uppercase()
        ),
    )
    .unwrap();
    let out = merge(&[s(&a), s(&b)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:1 and {}:2", s(&a), s(&b))),
        "{}",
        out.stderr
    );
    // One file given twice.
    let out = merge(&[s(&a), s(&a)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("given twice"), "{}", out.stderr);
}

/// Hand-written `collect` report lines (until `collect --report` writes them in a test here).
fn collect_line(name: &str, id: &str, status: &str, records: u64, refused: u64) -> String {
    serde_json::json!({
        "tenant": name,
        "tenant_id": id,
        "status": status,
        "sources": [
            {"source": "graph-alerts", "status": status, "records": records, "duplicates": 0,
             "refused": refused, "pages": 1, "cursor": "2024-05-01T00:00:00Z",
             "error": if status == "ok" { Value::Null } else { "HTTP 403".into() }},
            {"source": "graph-incidents", "status": "ok", "records": 2, "duplicates": 0,
             "refused": 0, "pages": 1, "cursor": null, "error": null}
        ],
        "error": null,
        "elapsed_ms": 12
    })
    .to_string()
}

#[test]
fn expect_shards_mismatch_is_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let mut reports = Vec::new();
    for (k, (name, id)) in [("A", "1"), ("B", "2"), ("C", "3")].iter().enumerate() {
        let p = dir.path().join(format!("shard-{}.ndjson", k + 1));
        std::fs::write(&p, collect_line(name, id, "ok", 5, 0) + "\n").unwrap();
        reports.push(p);
    }
    let args: Vec<&str> = reports.iter().map(|p| s(p)).collect();
    // A shard's artifact is missing: 3 reports of 4 shards.
    let out = merge(&[&["--expect-shards", "4"], &args[..]].concat());
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr.contains("expected 4 shard reports, got 3"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("missing"), "{}", out.stderr);
    // More reports than shards.
    let out = merge(&[&["--expect-shards", "2"], &args[..]].concat());
    assert_eq!(out.code, 2, "{}", out.stderr);
    // The right count: a collect merge, records and refused in the summary.
    let out = merge(&[&["--expect-shards", "3"], &args[..]].concat());
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("merge: 3 collect reports, 3 tenants: 3 ok, 0 failed; 21 records, 0 refused"),
        "{}",
        out.stderr
    );
}

#[test]
fn collect_reports_with_a_failed_tenant_are_exit_8_with_records_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("shard-1.ndjson");
    let b = dir.path().join("shard-2.ndjson");
    std::fs::write(
        &a,
        format!(
            "{}\n{}\n",
            collect_line("Contoso", "c1", "ok", 40, 2),
            collect_line("Fabrikam", "f1", "failed", 0, 0)
        ),
    )
    .unwrap();
    std::fs::write(&b, collect_line("Northwind", "n1", "ok", 10, 1) + "\n").unwrap();
    let out = merge(&[s(&a), s(&b)]);
    assert_eq!(out.code, 8, "{}", out.stderr);
    assert_eq!(lines(&out.stdout).len(), 3);
    assert!(
        out.stderr.contains(
            "merge: 2 collect reports, 3 tenants: 2 ok, 1 failed (graph-alerts 1); 56 records, 3 refused"
        ),
        "{}",
        out.stderr
    );
}

#[test]
fn bad_input_is_exit_2_naming_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.ndjson");
    std::fs::write(&good, collect_line("A", "1", "ok", 1, 0) + "\n").unwrap();

    // A garbage line, a truncated line, a line that is not a report line.
    for (i, bad) in [
        "this is not json",
        "{\"tenant\":\"B\",\"status\":\"o",
        "{\"tenant\":\"B\"}",
        "[\"status\",\"ok\"]",
    ]
    .iter()
    .enumerate()
    {
        let p = dir.path().join(format!("bad-{i}.ndjson"));
        std::fs::write(
            &p,
            format!("{}\n{bad}\n", collect_line("B", "2", "ok", 1, 0)),
        )
        .unwrap();
        let out = merge(&[s(&good), s(&p)]);
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(out.stdout.is_empty(), "nothing merged");
        assert!(
            out.stderr.contains(&format!("{}:2: ", s(&p))),
            "{bad}: {}",
            out.stderr
        );
    }

    // An onboard report and a collect report in one merge.
    let onboard = dir.path().join("onboard.ndjson");
    std::fs::write(
        &onboard,
        "{\"name\":\"C\",\"tenant\":\"c.com\",\"tenant_id\":null,\"status\":\"ok\",\"stage\":\"probe\"}\n",
    )
    .unwrap();
    let out = merge(&[s(&good), s(&onboard)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:1", s(&onboard)))
            && out.stderr.contains(&format!("{}:1", s(&good))),
        "{}",
        out.stderr
    );

    // A missing report, a folder given as a report.
    let missing = dir.path().join("shard-9.ndjson");
    let out = merge(&[s(&good), s(&missing)]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(s(&missing)) && out.stderr.contains("no such file"),
        "{}",
        out.stderr
    );
    let out = merge(&[s(&good), s(dir.path())]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("a directory"), "{}", out.stderr);
}
