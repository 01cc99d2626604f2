//! Certificate client assertions: made by our code, checked by an independent verifier
//! (PyJWT + cryptography) as Entra would check them. PEM and PFX inputs, and their errors.

use crate::support::{self, bin, run};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

const TENANT: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";
const CLIENT: &str = "9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f";

/// A self-signed RSA certificate: cert.pem (certificate + key) and cert.pfx (password "pfx-pw").
fn make_cert(dir: &Path) {
    support::self_signed_cert(dir, "mssp-token test");
    support::pfx_of(dir, "pfx-pw");
}

/// A token endpoint that records the form it receives and answers a token for TENANT.
fn recording_authority() -> (String, Arc<Mutex<Vec<String>>>) {
    use base64::Engine;
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            let mut body = String::new();
            let _ = req.as_reader().read_to_string(&mut body);
            seen2.lock().unwrap().push(body);
            let claims = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!(
                r#"{{"tid":"{TENANT}","roles":["Alert.Read.All"]}}"#
            ));
            let token = format!("eyJhbGciOiJSUzI1NiJ9.{claims}.c2ln");
            let json = format!(
                r#"{{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"{token}"}}"#
            );
            let resp = tiny_http::Response::from_string(json).with_header(
                tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8")
                    .unwrap(),
            );
            let _ = req.respond(resp);
        }
    });
    (format!("http://127.0.0.1:{port}"), seen)
}

fn token_cmd(authority: &str, cache: &Path) -> Command {
    let mut c = Command::new(bin());
    c.args([
        "token",
        "--tenant",
        TENANT,
        "--client-id",
        CLIENT,
        "--authority",
        authority,
        "--no-cache",
    ])
    .env("MSSP_TOKEN_CACHE_DIR", cache)
    .env_remove("AZURE_CLIENT_SECRET")
    .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
    .env_remove("AZURE_CLIENT_CERTIFICATE_PASSWORD")
    .env_remove("AZURE_FEDERATED_TOKEN_FILE")
    .stdin(Stdio::null());
    c
}

fn form_value(body: &str, key: &str) -> Option<String> {
    url::form_urlencoded::parse(body.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

fn verify_independently(cert_pem: &Path, token_url: &str, assertion: &str) -> serde_json::Value {
    use std::io::Write;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/verify_assertion.py");
    let mut child = Command::new("python3")
        .arg(script)
        .arg(cert_pem)
        .arg(token_url)
        .arg(CLIENT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(assertion.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "PyJWT refused the assertion:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn pem_and_pfx_assertions_pass_an_independent_verifier() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let (authority, seen) = recording_authority();
    let token_url = format!("{authority}/{TENANT}/oauth2/v2.0/token");

    let out = run(token_cmd(&authority, dir.path())
        .arg("--certificate")
        .arg(dir.path().join("cert.pem")));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = run(token_cmd(&authority, dir.path())
        .arg("--certificate")
        .arg(dir.path().join("cert.pfx"))
        .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", "pfx-pw"));
    assert_eq!(out.code, 0, "{}", out.stderr);

    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2);
    let mut jtis = Vec::new();
    for body in &bodies {
        assert_eq!(
            form_value(body, "grant_type").as_deref(),
            Some("client_credentials")
        );
        assert_eq!(
            form_value(body, "client_assertion_type").as_deref(),
            Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        );
        assert_eq!(form_value(body, "client_secret"), None);
        assert_eq!(
            form_value(body, "scope").as_deref(),
            Some("https://api.securitycenter.microsoft.com/.default")
        );
        let assertion = form_value(body, "client_assertion").unwrap();
        let claims = verify_independently(&dir.path().join("crt.pem"), &token_url, &assertion);
        jtis.push(claims["jti"].as_str().unwrap().to_string());
        // The assertion is never printed.
        assert!(!out.stderr.contains(&assertion));
    }
    assert_ne!(jtis[0], jtis[1], "a fresh jti per assertion");
}

#[test]
fn certificate_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let (authority, _) = recording_authority();
    let only_cert = dir.path().join("crt.pem");
    let only_key = dir.path().join("key.pem");
    let garbage = dir.path().join("garbage.pfx");
    std::fs::write(&garbage, b"\x30\x82garbage").unwrap();
    let cases: Vec<(std::path::PathBuf, Option<&str>, &str)> = vec![
        (only_cert, None, "no private key block"),
        (only_key, None, "no -----BEGIN CERTIFICATE----- block"),
        (
            dir.path().join("cert.pfx"),
            Some("wrong-password"),
            "the password is wrong",
        ),
        (garbage, None, "cannot open it as PFX"),
        (dir.path().join("absent.pem"), None, "no such file"),
    ];
    for (path, pw, needle) in cases {
        let mut c = token_cmd(&authority, dir.path());
        c.arg("--certificate").arg(&path);
        if let Some(pw) = pw {
            c.env("AZURE_CLIENT_CERTIFICATE_PASSWORD", pw);
        }
        let out = run(&mut c);
        assert_eq!(out.code, 2, "{}: {}", path.display(), out.stderr);
        assert!(
            out.stderr.contains(needle),
            "{}: {}",
            path.display(),
            out.stderr
        );
        if let Some(pw) = pw {
            assert!(!out.stderr.contains(pw), "the password is never printed");
        }
    }
}

#[test]
fn federated_token_is_re_read_for_every_request() {
    let dir = tempfile::tempdir().unwrap();
    let (authority, seen) = recording_authority();
    let f = dir.path().join("federated.jwt");
    for (i, token) in ["aaa.bbb.ccc", "ddd.eee.fff"].iter().enumerate() {
        std::fs::write(&f, format!("{token}\n")).unwrap();
        let out = run(token_cmd(&authority, dir.path()).env("AZURE_FEDERATED_TOKEN_FILE", &f));
        assert_eq!(out.code, 0, "{}", out.stderr);
        let body = seen.lock().unwrap()[i].clone();
        assert_eq!(
            form_value(&body, "client_assertion").as_deref(),
            Some(*token)
        );
    }
    std::fs::write(&f, "").unwrap();
    let out = run(token_cmd(&authority, dir.path())
        .arg("--federated-token-file")
        .arg(&f));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("the file is empty"), "{}", out.stderr);
}
