//! The `mssp-token sandbox` command itself, run as a process: its first stdout line, its flags,
//! that mssp-token gets tokens from it, and that it stops cleanly on a signal. These are the
//! tests where the process is the point; every other test starts the sandbox in process
//! (support::Sandbox), with the same flags translated by support::sandbox_options.

use crate::support::{bin, free_port, run, sandbox_options, SandboxProcess};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const CLIENT: &str = "3f1d2c4b-7a8e-4d6f-9b0a-1c2e3d4f5a6b";
const SECRET: &str = "sandbox-command-test-secret";
const TENANT_ID: &str = "6c0f4e2a-9d1b-4c7e-8f3a-2b5d7e9f1a3c";
const TENANT: &str = "woodgrove.onmicrosoft.com";
const HOME_ID: &str = "0d8e6f4a-2c1b-4e3d-9a7f-5b6c8d0e2f41";

/// A small `--config` file: one customer tenant where the app is consented, the app's home.
fn config(dir: &Path) -> std::path::PathBuf {
    let cfg = json!({
        "tenants": [
            {
                "id": TENANT_ID, "domain": TENANT, "name": "Woodgrove",
                "users": [{"upn": "admin@woodgrove.onmicrosoft.com", "name": "Woodgrove Admin",
                           "oid": "8a2b4c6d-1e3f-4a5b-9c7d-0e2f4a6b8c1d"}],
                "grants": [{"client_id": CLIENT, "roles": ["Alert.Read.All"]}]
            },
            {
                "id": HOME_ID, "domain": "mssp-home.onmicrosoft.com", "name": "MSSP home",
                "users": [{"upn": "engineer@mssp-home.onmicrosoft.com", "name": "MSSP Engineer",
                           "oid": "4f6a8b0c-2d3e-4f5a-8b7c-9d1e3f5a7b9c"}]
            }
        ],
        "apps": [{
            "client_id": CLIENT, "name": "Sandbox command test",
            "home_tenant": HOME_ID, "multi_tenant": true,
            "redirect_uris": ["http://localhost/SiemMsspConnector"],
            "secrets": [{"value": SECRET}],
            "roles": ["Alert.Read.All"]
        }]
    });
    let p = dir.join("sandbox.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn every_flag_reaches_the_first_line_as_the_in_process_sandbox_has_it() {
    let dir = tempfile::tempdir().unwrap();
    let roster = dir.path().join("tenants.toml");
    let roster = roster.to_str().unwrap();
    let flags = [
        "--tls",
        "--rate-limit",
        "7",
        "--tenants",
        "5",
        "--write-tenants",
        roster,
        "--faults",
        "503=0.25,reset=0.05",
        "--seed",
        "42",
        "--retry-after",
        "3",
        "--stall-secs",
        "9",
        "--latency-ms",
        "2",
        "--threads",
        "3",
    ];
    let port = free_port();
    let port_flag = ["--port".to_string(), port.to_string()];
    let args: Vec<&str> = port_flag
        .iter()
        .map(String::as_str)
        .chain(flags.iter().copied())
        .collect();
    let sb = SandboxProcess::start_with(&args);
    let info = &sb.info;
    assert_eq!(
        info["authority"],
        format!("https://127.0.0.1:{port}"),
        "{info}"
    );
    assert_eq!(info["api_base"], info["authority"]);
    assert!(
        Path::new(info["ca_file"].as_str().unwrap()).is_file(),
        "{info}"
    );
    assert!(std::fs::read_to_string(roster)
        .unwrap()
        .contains("[[tenant]]"));

    // The same flags through the tests' translation give the same sandbox.
    let in_process = entra_sandbox::Sandbox::start(sandbox_options(&flags)).unwrap();
    let mine = in_process.info();
    assert_eq!(keys(info), keys(&mine), "the first line's fields");
    for field in [
        "tls",
        "rate_limit_per_minute",
        "generated_tenants",
        "tenants_file",
        "tenants_list_file",
        "faults",
        "fault_seed",
        "retry_after_secs",
        "stall_secs",
        "latency_ms",
        "threads",
    ] {
        assert!(!info[field].is_null(), "{field} is set: {info}");
        assert_eq!(info[field], mine[field], "{field}");
    }
    assert_eq!(info["threads"], 3);
    assert_eq!(info["rate_limit_per_minute"], 7);
    assert_eq!(info["fault_seed"], 42);
    assert_eq!(
        info["tenants"].as_array().unwrap().len(),
        mine["tenants"].as_array().unwrap().len()
    );
    let ids = |v: &Value| -> Vec<Value> {
        v["apps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["client_id"].clone())
            .collect()
    };
    assert_eq!(ids(info), ids(&mine));
}

#[test]
fn the_sandbox_command_serves_its_config_to_mssp_token() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = config(dir.path());
    let sb = SandboxProcess::start_with(&["--config", cfg.to_str().unwrap()]);
    let app = &sb.info["apps"][0];
    assert_eq!(app["client_id"], CLIENT);
    assert_eq!(app["client_secret"], SECRET);
    let woodgrove = sb.info["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["id"] == TENANT_ID)
        .expect("the configured tenant is listed");
    assert_eq!(woodgrove["consented"], true);
    assert!(
        sb.info["ca_file"].is_null(),
        "plain HTTP without --tls: {}",
        sb.info
    );

    let cache = dir.path().join("cache");
    let out = run(Command::new(bin())
        .args(["token", "--no-cache", "-o", "json", "--tenant", TENANT])
        .args(["--client-id", CLIENT, "--authority", &sb.authority()])
        .env("AZURE_CLIENT_SECRET", SECRET)
        .env("MSSP_TOKEN_CACHE_DIR", &cache)
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("SSL_CERT_FILE")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .stdin(Stdio::null()));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert_eq!(v["tenant_id"], TENANT_ID);
}

#[test]
fn the_sandbox_command_stops_cleanly_on_sigterm_sigint_and_sighup() {
    for (name, number) in [("TERM", 15), ("INT", 2), ("HUP", 1)] {
        let mut sb = SandboxProcess::start_with(&["--threads", "2"]);
        // Its private folder (certificate, PFX, federated token) exists while it runs ...
        let cert = sb.info["apps"][0]["certificate_file"]
            .as_str()
            .unwrap()
            .to_string();
        let folder = Path::new(&cert).parent().unwrap().to_path_buf();
        assert!(folder.is_dir(), "{}", folder.display());
        // (its signal handlers are installed before it prints the first line)
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(sb.pid().to_string())
            .status()
            .unwrap();
        assert!(sent.success());
        let status = sb
            .wait_exit(Duration::from_secs(10))
            .unwrap_or_else(|| panic!("SIG{name}: still running after 10 s"));
        assert_eq!(status.code(), Some(128 + number), "SIG{name}: {status:?}");
        assert!(
            sb.stderr().contains("stopped"),
            "SIG{name}: {}",
            sb.stderr()
        );
        // ... and is removed when it stops.
        assert!(
            !folder.exists(),
            "SIG{name}: {} left behind",
            folder.display()
        );
    }
}

#[test]
fn a_busy_port_is_an_error_not_a_hang() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let mut child = Command::new(bin())
        .args(["sandbox", "--port", &port])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mssp-token sandbox --port {port} (busy) did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{stderr}");
    assert!(out.stdout.is_empty(), "no first line on failure");
    assert!(
        stderr.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    drop(taken);
}
