//! `login --device-code` (issue 11 item 1) against the sandbox's device code endpoints: the code
//! and URL on stderr while stdout stays the result, v1 and v2 to success (with --save and
//! --profile), declined and expired (exit 4), slow_down honoured, Conditional Access (53003) and
//! "no public client flows" (7000218) explained with the alternatives, bad flag mixes refused.
//!
//! The person on the other device is the sandbox's simulated user
//! (`entra_sandbox::simulated_user_device_sign_in`), who reads the code mssp-token printed and
//! types it on the sandbox's page.

use crate::support::{bin, claims, Sandbox};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub(crate) const CONTOSO_ID: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";
pub(crate) const CONTOSO: &str = "contoso.onmicrosoft.com";
const FABRIKAM: &str = "fabrikam.onmicrosoft.com";
/// Allows public client flows (no credential needed on the polls).
pub(crate) const PUBLIC_APP: &str = "0a8cc6e5-7d5e-4a39-9d5f-0c3a3c1e9b51";
/// Does not: its polls need the secret.
const CONFIDENTIAL_APP: &str = "b64a329e-a098-404b-99fd-26066cccda7e";
const SECRET: &str = "device-code-test-secret~42";
const DEFENDER: &str = "https://api.securitycenter.microsoft.com";

/// A sandbox whose device codes poll every second, live `lifetime` seconds, and where
/// Fabrikam's Conditional Access blocks the device code flow.
pub(crate) fn sandbox(dir: &Path, lifetime: u64) -> Sandbox {
    let user = |upn: &str, name: &str, oid: &str| json!({"upn": upn, "name": name, "oid": oid});
    let grants = json!([{"client_id": PUBLIC_APP}, {"client_id": CONFIDENTIAL_APP}]);
    let cfg = json!({
        "device_code_lifetime_secs": lifetime,
        "device_code_interval_secs": 1,
        "device_code_blocked_tenants": [FABRIKAM],
        "tenants": [
            {"id": CONTOSO_ID, "domain": CONTOSO, "name": "Contoso", "grants": grants,
             "users": [user("admin@contoso.onmicrosoft.com", "Contoso Admin", "01b11418-86c7-466a-b822-c55750d55bf8")]},
            {"id": "c48fcbb1-e295-4b5c-b80f-1376e2cb1575", "domain": FABRIKAM, "name": "Fabrikam",
             "grants": grants,
             "users": [user("admin@fabrikam.onmicrosoft.com", "Fabrikam Admin", "078a7e53-d2f1-4c53-947c-717ea235cdcd")]},
            {"id": "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7", "domain": "mssp-provider.onmicrosoft.com",
             "name": "MSSP (provider)",
             "users": [user("engineer@mssp-provider.onmicrosoft.com", "MSSP Engineer", "244e3ec2-5b8e-48a3-be9f-2ffa23acb155")]}
        ],
        "apps": [
            {"client_id": PUBLIC_APP, "name": "Device code tool", "home_tenant": "mssp-provider.onmicrosoft.com",
             "multi_tenant": true, "public_client": true, "redirect_uris": ["http://localhost/SiemMsspConnector"],
             "secrets": [{"value": "unused-public-secret"}], "roles": ["Alert.Read.All"]},
            {"client_id": CONFIDENTIAL_APP, "name": "MSSP SIEM Connector", "home_tenant": "mssp-provider.onmicrosoft.com",
             "multi_tenant": true, "redirect_uris": ["http://localhost/SiemMsspConnector"],
             "secrets": [{"value": SECRET}], "roles": ["Alert.Read.All"]}
        ]
    });
    let p = dir.join("sandbox.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    Sandbox::start_with(&["--config", p.to_str().unwrap()])
}

/// `mssp-token login --device-code` against `sb` for `tenant` with `client_id` (the secret is
/// given only for the confidential app), a clean environment, data and cache under `dir`.
pub(crate) fn login(
    sb: &Sandbox,
    dir: &Path,
    tenant: &str,
    client_id: &str,
    args: &[&str],
) -> Command {
    let mut c = Command::new(bin());
    c.args(["login", "--device-code", "--authority"])
        .arg(sb.authority())
        .args(["--tenant", tenant, "--client-id", client_id])
        .args(args);
    if !args.contains(&"--wait") {
        c.args(["--wait", "30"]);
    }
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_FEDERATED_TOKEN_FILE",
        "SSL_CERT_FILE",
        "MSSP_TOKEN_STORE",
        "BROWSER",
    ] {
        c.env_remove(var);
    }
    if client_id == CONFIDENTIAL_APP {
        c.env("AZURE_CLIENT_SECRET", SECRET);
    }
    c.env("MSSP_TOKEN_DATA_DIR", dir.join("data"))
        .env("MSSP_TOKEN_CACHE_DIR", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// A running login: the URL and code it printed, then its end.
pub(crate) struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Vec<String>,
}

pub(crate) struct Ended {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Running {
    pub(crate) fn start(mut c: Command) -> Running {
        let mut child = c.spawn().expect("start mssp-token");
        let err = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Running {
            child,
            lines,
            stderr: Vec::new(),
        }
    }

    /// The verification URL and the user code from stderr (the line after "open", the line
    /// after "enter the code").
    pub(crate) fn code(&mut self) -> (String, String) {
        let mut url = None;
        let mut after: Option<&'static str> = None;
        loop {
            let line = self
                .lines
                .recv_timeout(Duration::from_secs(30))
                .unwrap_or_else(|_| panic!("no code on stderr:\n{}", self.stderr.join("\n")));
            self.stderr.push(line.clone());
            let t = line.trim();
            if t.is_empty() {
                continue;
            }
            match after.take() {
                Some("url") => url = Some(t.to_string()),
                Some(_) => return (url.expect("the URL comes first"), t.to_string()),
                None => {}
            }
            if t.ends_with(", open") {
                after = Some("url");
            } else if t == "and enter the code" {
                after = Some("code");
            }
        }
    }

    pub(crate) fn end(mut self) -> Ended {
        let out = self.child.wait_with_output().unwrap();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.stderr.push(l);
        }
        let stderr = self.stderr.join("\n");
        assert!(!stderr.contains("panicked"), "{stderr}");
        Ended {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr,
        }
    }
}

/// The person on the other device: types `code` at `url` and presses Accept or Cancel.
fn person(url: &str, code: &str, accept: bool) -> Result<String, String> {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(entra_sandbox::simulated_user_device_sign_in(
        url, code, None, accept,
    ))
    .map_err(|e| format!("{e:#}"))
}

fn token_requests(sb: &Sandbox) -> u64 {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let url = format!("{}/sandbox/stats", sb.authority());
    let body = rt.block_on(async {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rest = url.strip_prefix("http://").unwrap();
        let (host, path) = rest.split_at(rest.find('/').unwrap());
        let mut s = tokio::net::TcpStream::connect(host).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut text = String::new();
        s.read_to_string(&mut text).await.unwrap();
        text
    });
    let v: Value = serde_json::from_str(body.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    v["requests"]["token"].as_u64().unwrap()
}

#[test]
fn v2_device_code_signs_in_and_stdout_is_only_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    let save = dir.path().join("contoso.json");
    let mut run = Running::start(login(
        &sb,
        dir.path(),
        CONTOSO,
        PUBLIC_APP,
        &[
            "--scope",
            &format!("{DEFENDER}/.default"),
            "-o",
            "json",
            "--save",
            save.to_str().unwrap(),
        ],
    ));
    let (url, code) = run.code();
    assert_eq!(url, format!("{}/sandbox/device", sb.authority()));
    assert_eq!(
        person(&url, &code, true).unwrap(),
        "admin@contoso.onmicrosoft.com"
    );
    let out = run.end();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(out.stdout.trim()).expect("stdout is one JSON object");
    assert_eq!(v["endpoint"], "v2");
    assert_eq!(v["tenant_id"], CONTOSO_ID);
    assert!(v["refresh_token"].is_string(), "offline_access was asked");
    assert_eq!(
        claims(v["access_token"].as_str().unwrap())["tid"],
        CONTOSO_ID
    );
    assert!(!out.stdout.contains(&code), "the code goes to stderr only");
    assert!(
        out.stderr.contains("Entra ID says: To sign in"),
        "{}",
        out.stderr
    );
    assert!(
        !out.stderr.contains("DAQAB"),
        "the device code is a secret: {}",
        out.stderr
    );
    let saved: Value = serde_json::from_str(&std::fs::read_to_string(&save).unwrap()).unwrap();
    assert_eq!(saved["refresh_token"], v["refresh_token"]);
}

#[test]
fn v1_device_code_with_the_app_secret_saves_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    let mut run = Running::start(login(
        &sb,
        dir.path(),
        CONTOSO,
        CONFIDENTIAL_APP,
        &["--profile", "contoso", "-o", "raw"],
    ));
    let (url, code) = run.code();
    person(&url, &code, true).unwrap();
    let out = run.end();
    assert_eq!(out.code, 0, "{}", out.stderr);
    let c = claims(out.stdout.trim());
    assert_eq!(c["tid"], CONTOSO_ID);
    assert_eq!(c["aud"], DEFENDER);
    // The profile works like one from a browser sign-in.
    let mut status = Command::new(bin());
    status
        .args(["status", "-o", "json"])
        .env_remove("MSSP_TOKEN_STORE")
        .env("MSSP_TOKEN_DATA_DIR", dir.path().join("data"))
        .env("MSSP_TOKEN_CACHE_DIR", dir.path().join("cache"));
    let st = crate::support::run(&mut status);
    assert_eq!(st.code, 0, "{}", st.stderr);
    let list: Value = serde_json::from_str(st.stdout.trim()).unwrap();
    assert_eq!(list[0]["profile"], "contoso", "{list}");
    assert_eq!(list[0]["tenant_id"], CONTOSO_ID, "{list}");
}

#[test]
fn a_declined_sign_in_is_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    let mut run = Running::start(login(&sb, dir.path(), CONTOSO, PUBLIC_APP, &[]));
    let (url, code) = run.code();
    assert_eq!(person(&url, &code, false).unwrap(), "");
    let out = run.end();
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("declined"), "{}", out.stderr);
    assert!(out.stdout.is_empty());
}

#[test]
fn an_expired_code_is_exit_4() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 2);
    let mut run = Running::start(login(&sb, dir.path(), CONTOSO, PUBLIC_APP, &[]));
    run.code();
    let out = run.end();
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("expired"), "{}", out.stderr);
    assert!(out.stdout.is_empty());

    // Entra's own expired_token answer (its clock, not ours) ends the wait the same way.
    let sb = sandbox(dir.path(), 60);
    sb.tamper(json!({"on": "token", "status": 400,
        "body": "{\"error\":\"expired_token\",\"error_description\":\"AADSTS70019: Verification code expired.\",\"error_codes\":[70019]}"}));
    let mut run = Running::start(login(&sb, dir.path(), CONTOSO, PUBLIC_APP, &[]));
    run.code();
    let out = run.end();
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("the device code expired before anyone signed in")
            && out.stderr.contains("AADSTS70019"),
        "{}",
        out.stderr
    );
}

#[test]
fn slow_down_adds_five_seconds_to_the_interval() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    let slow_down = json!({"on": "token", "count": 1, "status": 400,
        "body": "{\"error\":\"slow_down\",\"error_description\":\"AADSTS70016: slow down\",\"error_codes\":[70016]}"});
    // Nobody signs in: after the slow_down at 1 s the next poll is due at 7 s, past --wait 5,
    // so the wait ends after exactly one poll (without slow_down there would be four).
    sb.tamper(slow_down.clone());
    let mut run = Running::start(login(
        &sb,
        dir.path(),
        CONTOSO,
        PUBLIC_APP,
        &["--wait", "5", "--verbose"],
    ));
    run.code();
    let out = run.end();
    assert_eq!(out.code, 4, "{}", out.stderr);
    assert!(out.stderr.contains("--wait 5"), "{}", out.stderr);
    assert!(out.stderr.contains("polling every 6 s"), "{}", out.stderr);
    assert_eq!(token_requests(&sb), 1);

    // After a slow_down, the sign-in still completes.
    sb.tamper(slow_down);
    let mut run = Running::start(login(&sb, dir.path(), CONTOSO, PUBLIC_APP, &["-o", "raw"]));
    let (url, code) = run.code();
    person(&url, &code, true).unwrap();
    let out = run.end();
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(token_requests(&sb), 3, "one slow_down, then the tokens");
}

#[test]
fn conditional_access_blocking_device_code_names_the_alternatives() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    let mut run = Running::start(login(&sb, dir.path(), FABRIKAM, PUBLIC_APP, &[]));
    let (url, code) = run.code();
    assert!(person(&url, &code, true)
        .unwrap_err()
        .contains("AADSTS53003"));
    let out = run.end();
    assert_eq!(out.code, 3, "{}", out.stderr);
    for needle in [
        "Conditional Access blocked the device code sign-in",
        "AADSTS53003",
        "--port N",
        "ssh -L N:localhost:N",
        "--no-browser",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
    assert!(out.stdout.is_empty());
}

#[test]
fn an_app_without_public_client_flows_needs_its_credential() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    let mut c = login(&sb, dir.path(), CONTOSO, CONFIDENTIAL_APP, &[]);
    c.env_remove("AZURE_CLIENT_SECRET");
    let mut run = Running::start(c);
    run.code();
    let out = run.end();
    assert_eq!(out.code, 3, "{}", out.stderr);
    for needle in [
        "AADSTS7000218",
        "Allow public client flows",
        "AZURE_CLIENT_SECRET",
        "ssh -L",
    ] {
        assert!(out.stderr.contains(needle), "{needle}: {}", out.stderr);
    }
}

#[test]
fn device_code_refuses_browser_flow_flags() {
    for extra in [
        &["--port", "8400"][..],
        &["--no-browser"],
        &["--browser-command", "firefox"],
        &["--redirect-uri", "https://example.com/x"],
    ] {
        let mut c = Command::new(bin());
        c.args([
            "login",
            "--device-code",
            "--tenant",
            CONTOSO,
            "--client-id",
            PUBLIC_APP,
        ])
        .args(extra)
        .stdin(Stdio::null());
        let out = crate::support::run(&mut c);
        assert_eq!(out.code, 2, "{extra:?}: {}", out.stderr);
        assert!(out.stderr.contains("--device-code"), "{}", out.stderr);
    }
}

#[test]
fn a_token_for_another_tenant_is_refused_and_nothing_is_saved() {
    let dir = tempfile::tempdir().unwrap();
    let sb = sandbox(dir.path(), 60);
    // Every answer of the token endpoint carries another customer's tid (the pending ones pass
    // unchanged; the token is re-signed with Fabrikam's tid).
    sb.tamper(json!({"on": "token", "count": 100,
        "claims": {"tid": "c48fcbb1-e295-4b5c-b80f-1376e2cb1575"}}));
    let save = dir.path().join("contoso.json");
    let mut run = Running::start(login(
        &sb,
        dir.path(),
        CONTOSO,
        PUBLIC_APP,
        &["--save", save.to_str().unwrap(), "--verbose"],
    ));
    let (url, code) = run.code();
    person(&url, &code, true).unwrap();
    let out = run.end();
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(!save.exists(), "nothing is saved");
    assert!(
        !out.stderr.contains("DAQAB"),
        "the device code is a secret: {}",
        out.stderr
    );
}

/// A stand-in for Entra whose devicecode endpoint answers `body` (HTTP 200).
fn hostile_authority(body: String) -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let resp = tiny_http::Response::from_string(body.clone()).with_header(
                "Content-Type: application/json"
                    .parse::<tiny_http::Header>()
                    .unwrap(),
            );
            let _ = req.respond(resp);
        }
    });
    format!("http://127.0.0.1:{port}")
}

#[test]
fn a_hostile_devicecode_answer_is_refused_naming_the_field_never_the_value() {
    let good = json!({"device_code": "DAQABsecretdevicecode", "user_code": "ABCD2EFGH",
        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 5});
    for (field, value, expect) in [
        (
            "verification_uri",
            json!("http://evil.example/devicelogin"),
            "verification_uri is not an https URL",
        ),
        (
            "verification_uri",
            json!("https://user:pw@evil.example/"),
            "verification_uri carries a user name or password",
        ),
        (
            "user_code",
            json!("AB\u{1b}]0;evil\u{7}CD"),
            "user_code is not a short code",
        ),
        ("expires_in", json!("99999999"), "expires_in 99999999"),
        ("interval", json!(86400), "interval 86400"),
        (
            "device_code",
            json!("evil'; rm -rf ~"),
            "device_code holds characters",
        ),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let authority = hostile_authority(body.to_string());
        let mut c = Command::new(bin());
        c.args(["login", "--device-code", "--authority", &authority])
            .args([
                "--tenant",
                CONTOSO_ID,
                "--client-id",
                PUBLIC_APP,
                "--wait",
                "5",
            ])
            .env_remove("AZURE_CLIENT_SECRET")
            .env_remove("AZURE_AUTHORITY_HOST")
            .stdin(Stdio::null());
        let out = crate::support::run(&mut c);
        assert_eq!(out.code, 6, "{field}: {}", out.stderr);
        assert!(out.stderr.contains(expect), "{field}: {}", out.stderr);
        assert!(!out.stderr.contains("evil"), "{field}: {}", out.stderr);
        assert!(
            !out.stderr.contains("DAQABsecret"),
            "{field}: {}",
            out.stderr
        );
        assert!(out.stdout.is_empty());
    }
}
