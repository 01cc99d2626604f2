//! Partner access through GDAP (the Secure Application Model): the partner signs in ONCE in its
//! own tenant (`login --partner --profile partner`), then `token`, `api`, `onboard` and `collect` take
//! `--partner partner` and redeem that refresh token in each customer's tenant.
//!
//! The built-in sandbox: partner tenant mssp-provider (engineer@ in group "SOC Analysts",
//! risky-admin@ at risk, intern@ in no group); Contoso has an active relationship (Security
//! Reader, Security Operator), Fabrikam's expired, Northwind's is active but the app is not
//! consented there; generated tenants (--tenants N) have an active one (Security Reader) except
//! the legacy ones (tenant00002, ...), which have none.
//!
//! The partner refresh token is a secret like the client secret: every output of every command
//! here is searched for every partner refresh token the store ever held.

use crate::support::{bin, browser_log, claims, fake_browser, run, Output, Sandbox};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PARTNER: &str = "mssp-provider.onmicrosoft.com";
const PARTNER_ID: &str = "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7";
const CONTOSO_ID: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";

/// A private data folder (profiles) and cache, and the partner refresh tokens seen so far.
struct Home {
    dir: tempfile::TempDir,
    seen: Vec<String>,
}

impl Home {
    fn new() -> Home {
        Home {
            dir: tempfile::tempdir().unwrap(),
            seen: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn profile_file(&self, name: &str) -> PathBuf {
        self.path()
            .join("data/profiles")
            .join(format!("{name}.json"))
    }

    fn profile(&self, name: &str) -> Value {
        serde_json::from_slice(&std::fs::read(self.profile_file(name)).unwrap()).unwrap()
    }

    /// The partner refresh token stored now (remembered for the leak checks).
    fn partner_rt(&mut self, name: &str) -> String {
        let rt = self.profile(name)["refresh_token"]
            .as_str()
            .expect("the partner profile holds a refresh token")
            .to_string();
        if !self.seen.contains(&rt) {
            self.seen.push(rt.clone());
        }
        rt
    }

    fn env<'c>(&self, sb: &Sandbox, c: &'c mut Command) -> &'c mut Command {
        for var in [
            "AZURE_TENANT_ID",
            "AZURE_CLIENT_ID",
            "AZURE_AUTHORITY_HOST",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            "AZURE_FEDERATED_TOKEN_FILE",
            "SSL_CERT_FILE",
            "MSSP_TOKEN_STORE",
            "MSSP_TOKEN_PASSPHRASE",
            "MSSP_TOKEN_IDENTITY",
        ] {
            c.env_remove(var);
        }
        c.env("MSSP_TOKEN_DATA_DIR", self.path().join("data"))
            .env("MSSP_TOKEN_CACHE_DIR", self.path().join("cache"))
            .env(
                "AZURE_CLIENT_SECRET",
                sb.app()["client_secret"].as_str().unwrap(),
            )
            .stdin(Stdio::null())
    }

    /// `mssp-token ARGS --authority SANDBOX` in this home; its output is checked for leaks.
    fn run(&mut self, sb: &Sandbox, args: &[&str]) -> Output {
        let mut c = Command::new(bin());
        c.args(args);
        if args[0] != "status" {
            c.arg("--authority").arg(sb.authority());
        }
        self.env(sb, &mut c);
        let out = run(&mut c);
        self.no_leak(&out, args);
        out
    }

    /// No partner refresh token seen so far in `out`.
    fn no_leak(&self, out: &Output, what: &[&str]) {
        for rt in &self.seen {
            assert!(
                !out.stdout.contains(rt.as_str()) && !out.stderr.contains(rt.as_str()),
                "the partner refresh token leaked from {what:?}:\n{}\n{}",
                out.stdout,
                out.stderr
            );
        }
    }

    /// `login --partner --profile NAME` as `upn` in the partner tenant (the browser stand-in
    /// picks the account).
    fn partner_login(&mut self, sb: &Sandbox, name: &str, upn: &str) -> Output {
        let log = self.path().join(format!("browser-{name}.log"));
        let mut c = sb.login(&log, &["--tenant", PARTNER, "--partner"]);
        c.args(["--profile", name, "-o", "json", "--login-hint", upn]);
        self.env(sb, &mut c);
        c.env("BROWSER", fake_browser())
            .env("FAKE_BROWSER_LOG", &log)
            .env("FAKE_BROWSER_ACCOUNT", upn);
        let out = run(&mut c);
        assert_eq!(out.code, 0, "{}\n{:?}", out.stderr, browser_log(&log));
        out
    }
}

fn ndjson(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn line<'a>(lines: &'a [Value], tenant: &str) -> &'a Value {
    lines
        .iter()
        .find(|l| l["tenant"] == tenant)
        .unwrap_or_else(|| panic!("no line for {tenant}: {lines:?}"))
}

#[test]
fn partner_signs_in_once_and_onboard_explains_each_customer() {
    let sb = Sandbox::start_with(&["--tenants", "2"]);
    let mut home = Home::new();
    let login = home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    assert!(
        login
            .stderr
            .contains("mssp-token token --partner partner --tenant <customer>"),
        "{}",
        login.stderr
    );
    let signed: Value = serde_json::from_str(login.stdout.trim()).unwrap();
    assert_eq!(signed["tenant_id"], PARTNER_ID);
    let p = home.profile("partner");
    assert_eq!(p["kind"], "partner");
    assert_eq!(p["partner_upn"], "engineer@mssp-provider.onmicrosoft.com");
    assert_eq!(p["partner_tenant"], PARTNER_ID);
    assert_eq!(p["endpoint"], "v2", "a partner session is v2: {p}");
    assert!(
        p["scope"].as_str().unwrap().contains("offline_access"),
        "{p}"
    );
    let first_rt = home.partner_rt("partner");

    let tenants = home.path().join("tenants.txt");
    std::fs::write(
        &tenants,
        "contoso.onmicrosoft.com\nfabrikam.onmicrosoft.com\nnorthwind.onmicrosoft.com\ntenant00002.onmicrosoft.com\n",
    )
    .unwrap();
    let out = home.run(
        &sb,
        &[
            "onboard",
            "--tenants",
            tenants.to_str().unwrap(),
            "--partner",
            "partner",
        ],
    );
    assert_eq!(out.code, 8, "{}\n{}", out.stdout, out.stderr);
    let lines = ndjson(&out.stdout);
    assert_eq!(lines.len(), 4, "one result per tenant: {lines:?}");

    let ok = line(&lines, "contoso.onmicrosoft.com");
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["tenant_id"], CONTOSO_ID);
    assert_eq!(ok["roles"], json!(["Security Reader", "Security Operator"]));
    assert_eq!(ok["scp"], json!(["user_impersonation"]));

    let expired = line(&lines, "fabrikam.onmicrosoft.com");
    assert_eq!(
        (&expired["status"], &expired["stage"], &expired["aadsts"]),
        (&json!("failed"), &json!("token"), &json!(50020)),
        "{expired}"
    );
    let e = expired["error"].as_str().unwrap();
    assert!(
        e.contains("GDAP relationship with this customer has expired")
            && e.contains("Fix: ask the customer to approve a new GDAP relationship"),
        "{e}"
    );

    let unconsented = line(&lines, "northwind.onmicrosoft.com");
    assert_eq!(unconsented["aadsts"], 65001, "{unconsented}");
    let e = unconsented["error"].as_str().unwrap();
    assert!(
        e.contains("app is not consented in this customer tenant")
            && e.contains("Partner Center application consent"),
        "{e}"
    );

    let missing = line(&lines, "tenant00002.onmicrosoft.com");
    assert_eq!(missing["aadsts"], 50020, "{missing}");
    let e = missing["error"].as_str().unwrap();
    assert!(
        e.contains("engineer@mssp-provider.onmicrosoft.com has no delegated admin access here")
            && e.contains("no active GDAP relationship")
            && e.contains("Fix: in Partner Center"),
        "{e}"
    );
    assert!(
        out.stderr.contains("1 ok") || out.stderr.contains("ok"),
        "{}",
        out.stderr
    );

    // The stored partner token was rotated, and still works afterwards.
    let rotated = home.partner_rt("partner");
    assert_ne!(
        rotated, first_rt,
        "the rotated partner refresh token is written back"
    );
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            "contoso.onmicrosoft.com",
            "-o",
            "json",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let set: Value = serde_json::from_str(out.stdout.trim()).unwrap();
    assert!(set.get("refresh_token").is_none_or(Value::is_null), "{set}");
    let c = claims(set["access_token"].as_str().unwrap());
    assert_eq!(c["tid"], CONTOSO_ID);
    assert_eq!(c["aud"], "https://api.securitycenter.microsoft.com");
    assert_eq!(
        c["preferred_username"],
        "engineer@mssp-provider.onmicrosoft.com"
    );
    assert!(
        out.stderr.contains("Security Reader, Security Operator"),
        "{}",
        out.stderr
    );
    home.partner_rt("partner");
    // --require-role with a partner token: a GDAP role it lacks is exit 5, nothing printed.
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            CONTOSO_ID,
            "--require-role",
            "Global Administrator",
        ],
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty() && out.stderr.contains("lacks Global Administrator"));
    home.partner_rt("partner");
    // Nothing but the profile holds the partner token: not the cache, not a report.
    for f in crate::support::files_under(home.path()) {
        if f == home.profile_file("partner") || f.extension().is_some_and(|e| e == "log") {
            continue;
        }
        let text = String::from_utf8_lossy(&std::fs::read(&f).unwrap()).into_owned();
        for rt in &home.seen {
            assert!(
                !text.contains(rt.as_str()),
                "{} holds a partner refresh token",
                f.display()
            );
        }
    }
}

#[test]
fn token_partner_checks_the_tenant_and_explains_risk_and_bad_use() {
    let sb = Sandbox::start();
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    home.partner_rt("partner");

    // --tenant is required; the customer's token must be the customer's (exit 5, nothing out).
    let out = home.run(&sb, &["token", "--partner", "partner"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("--partner needs --tenant"),
        "{}",
        out.stderr
    );
    sb.tamper(json!({"on": "token", "count": 1, "claims": {"tid": "c48fcbb1-e295-4b5c-b80f-1376e2cb1575"}}));
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            CONTOSO_ID,
            "-o",
            "raw",
        ],
    );
    assert_eq!(out.code, 5, "{}", out.stderr);
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    home.partner_rt("partner");

    // Another app than the profile's.
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            CONTOSO_ID,
            "--client-id",
            "32949881-2c1c-4f64-b3b6-ea7ed5bb7956",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("works only with the app it was issued to"),
        "{}",
        out.stderr
    );

    // A delegated (customer) profile is not a partner session.
    let log = home.path().join("browser-contoso.log");
    let mut c = sb.login(&log, &["--profile", "contoso", "-o", "json"]);
    home.env(&sb, &mut c);
    c.env("BROWSER", fake_browser())
        .env("FAKE_BROWSER_LOG", &log);
    assert_eq!(run(&mut c).code, 0);
    let out = home.run(
        &sb,
        &["token", "--partner", "contoso", "--tenant", CONTOSO_ID],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("not a partner one") && out.stderr.contains("login --partner"),
        "{}",
        out.stderr
    );

    // A partner admin at risk: 530034, explained with the fix.
    home.partner_login(&sb, "risky", "risky-admin@mssp-provider.onmicrosoft.com");
    home.partner_rt("risky");
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "risky",
            "--tenant",
            "contoso.onmicrosoft.com",
        ],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
    assert!(
        out.stderr.contains("AADSTS530034")
            && out
                .stderr
                .contains("risky-admin@mssp-provider.onmicrosoft.com is at risk")
            && out.stderr.contains("Entra ID Protection"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
}

#[test]
fn api_partner_calls_the_customers_api_with_the_delegated_token() {
    // A customer whose consent includes the delegated Alert.Read permission.
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
      "tenants": [
        {"id": PARTNER_ID, "domain": PARTNER, "name": "MSSP",
         "users": [{"upn": "soc@mssp-provider.onmicrosoft.com", "name": "SOC", "oid": "21111111-1111-4111-8111-111111111111"}],
         "groups": [{"id": "31111111-1111-4111-8111-111111111111", "name": "SOC", "members": ["soc@mssp-provider.onmicrosoft.com"]}]},
        {"id": CONTOSO_ID, "domain": "contoso.onmicrosoft.com", "name": "Contoso",
         "users": [{"upn": "admin@contoso.onmicrosoft.com", "name": "Admin", "oid": "51111111-1111-4111-8111-111111111111"}],
         "grants": [{"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "scopes": ["user_impersonation", "Alert.Read"]}],
         "gdap": [{"partner": PARTNER, "name": "SOC", "access": [{"group": "SOC", "roles": ["Security Reader"]}]}]}
      ],
      "apps": [
        {"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "name": "SAM app", "home_tenant": PARTNER,
         "multi_tenant": true, "redirect_uris": ["http://localhost/SiemMsspConnector"],
         "secrets": [{"value": "sam-secret-value"}], "scopes": ["user_impersonation", "Alert.Read"]}
      ]
    });
    let file = dir.path().join("sandbox.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let sb = Sandbox::start_with(&["--config", file.to_str().unwrap()]);
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "soc@mssp-provider.onmicrosoft.com");
    home.partner_rt("partner");
    let out = home.run(
        &sb,
        &[
            "api",
            "/api/alerts?$top=2",
            "--partner",
            "partner",
            "--tenant",
            "contoso.onmicrosoft.com",
            "--base-url",
            &sb.authority(),
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(v["value"].is_array(), "{v}");
    home.partner_rt("partner");
    // status lists the partner session as such.
    let out = home.run(&sb, &["status", "-o", "json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(out.stdout.contains("\"partner\""), "{}", out.stdout);
}

#[test]
fn many_redemptions_at_once_keep_a_working_partner_token() {
    let sb = Sandbox::start();
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    let first = home.partner_rt("partner");
    // Six processes redeem the same partner token at once, each writing its rotation back.
    let children: Vec<_> = (0..6)
        .map(|_| {
            let mut c = Command::new(bin());
            c.args([
                "token",
                "--partner",
                "partner",
                "--tenant",
                CONTOSO_ID,
                "-o",
                "json",
            ])
            .arg("--authority")
            .arg(sb.authority())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            home.env(&sb, &mut c);
            c.stdin(Stdio::null());
            c.spawn().unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let o = Output {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_eq!(o.code, 0, "{}", o.stderr);
        home.no_leak(&o, &["token", "--partner"]);
    }
    // The profile is whole, holds a rotated token, and that token works.
    let p = home.profile("partner");
    assert_eq!(p["kind"], "partner");
    assert_ne!(home.partner_rt("partner"), first);
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            "contoso.onmicrosoft.com",
            "-o",
            "raw",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(claims(out.stdout.trim())["tid"], CONTOSO_ID);
}

#[test]
fn onboard_partner_checks_roles_by_gdap_role_and_refuses_another_app() {
    let sb = Sandbox::start();
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    home.partner_rt("partner");
    let list = home.path().join("one.txt");
    std::fs::write(&list, "contoso.onmicrosoft.com\n").unwrap();
    let list = list.to_str().unwrap().to_string();
    // A GDAP role the token carries, by name: ok.
    let out = home.run(
        &sb,
        &[
            "onboard",
            "--tenants",
            &list,
            "--partner",
            "partner",
            "--require-role",
            "Security Reader",
        ],
    );
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    // One it does not carry: the roles stage fails (exit 8), naming what it has.
    let out = home.run(
        &sb,
        &[
            "onboard",
            "--tenants",
            &list,
            "--partner",
            "partner",
            "--require-role",
            "Security Administrator",
        ],
    );
    assert_eq!(out.code, 8, "{}\n{}", out.stdout, out.stderr);
    let l = &ndjson(&out.stdout)[0];
    assert_eq!(
        (&l["status"], &l["stage"]),
        (&json!("failed"), &json!("roles")),
        "{l}"
    );
    let e = l["error"].as_str().unwrap();
    assert!(
        e.contains("lacks Security Administrator") && e.contains("Security Reader"),
        "{e}"
    );
    // A tenants file naming another app than the partner profile's: refused before any request.
    let toml = home.path().join("other-app.toml");
    std::fs::write(
        &toml,
        "[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"32949881-2c1c-4f64-b3b6-ea7ed5bb7956\"\n",
    )
    .unwrap();
    let out = home.run(
        &sb,
        &[
            "onboard",
            "--tenants",
            toml.to_str().unwrap(),
            "--partner",
            "partner",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("other-app.toml:")
            && out.stderr.contains("is not the partner profile's app"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.is_empty());
    // A tenant in another cloud than the partner session's, in the file or by --cloud.
    std::fs::write(
        &toml,
        "[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\ncloud = \"usgov\"\n",
    )
    .unwrap();
    let out = home.run(
        &sb,
        &[
            "onboard",
            "--tenants",
            toml.to_str().unwrap(),
            "--partner",
            "partner",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("but the partner session is in the public cloud"),
        "{}",
        out.stderr
    );
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            CONTOSO_ID,
            "--cloud",
            "usgov",
        ],
    );
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("--cloud usgov contradicts --partner partner"),
        "{}",
        out.stderr
    );
}

#[test]
fn an_answer_echoing_the_partner_token_never_shows_it() {
    let sb = Sandbox::start();
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    home.partner_rt("partner");
    let echoes = [
        json!({"status": 400, "body": "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS50020: no access. You sent: {request_body}\\r\\nTrace ID: t\",\"error_codes\":[50020]}"}),
        json!({"status": 400, "body": "{\"error\":\"{request_body}\",\"error_codes\":[65001]}"}),
        json!({"status": 400, "headers": {"Content-Type": "text/html"}, "body": "<html><head><title>Bad: {request_body}</title></head></html>"}),
    ];
    let list = home.path().join("one.txt");
    std::fs::write(&list, "contoso.onmicrosoft.com\n").unwrap();
    for echo in echoes {
        let mut spec = echo.clone();
        spec["on"] = json!("token");
        spec["count"] = json!(1);
        sb.tamper(spec.clone());
        // (Home::run fails the test if any partner refresh token shows up.)
        let out = home.run(
            &sb,
            &["token", "--partner", "partner", "--tenant", CONTOSO_ID],
        );
        assert_ne!(out.code, 0, "{spec}");
        assert!(out.stdout.is_empty(), "{}", out.stdout);
        if spec["body"].as_str().unwrap().contains("You sent") {
            // The echo reached the message, with the token cut out.
            assert!(
                out.stderr.contains("You sent: ") && out.stderr.contains("(redacted)"),
                "{}",
                out.stderr
            );
        }
        sb.tamper(spec.clone());
        let out = home.run(
            &sb,
            &[
                "onboard",
                "--tenants",
                list.to_str().unwrap(),
                "--partner",
                "partner",
                "-v",
            ],
        );
        assert_eq!(out.code, 8, "{spec}: {}", out.stderr);
    }
    // The stored partner token is untouched and still works.
    let out = home.run(
        &sb,
        &[
            "token",
            "--partner",
            "partner",
            "--tenant",
            CONTOSO_ID,
            "-o",
            "raw",
        ],
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
}

#[test]
fn the_apps_certificate_or_federated_token_redeems_the_partner_token() {
    let sb = Sandbox::start();
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    home.partner_rt("partner");
    let app = sb.app().clone();
    for (flag, file) in [
        ("--certificate", &app["certificate_file"]),
        ("--federated-token-file", &app["federated_token_file"]),
    ] {
        let file = file.as_str().expect("the sandbox writes the file");
        let out = home.run(
            &sb,
            &[
                "token",
                "--partner",
                "partner",
                "--tenant",
                CONTOSO_ID,
                "-o",
                "raw",
                flag,
                file,
            ],
        );
        assert_eq!(out.code, 0, "{flag}: {}", out.stderr);
        let c = claims(out.stdout.trim());
        assert_eq!(c["tid"], CONTOSO_ID);
        // azpacr 2: the client authenticated with an assertion, not the secret.
        assert_eq!(c["azpacr"], "2", "{flag}: {c}");
        home.partner_rt("partner");
    }
}

#[test]
fn the_partner_refresh_token_is_printed_by_no_command_not_even_login() {
    let sb = Sandbox::start();
    let mut home = Home::new();
    let login = home.partner_login(&sb, "partner", "engineer@mssp-provider.onmicrosoft.com");
    let rt = home.partner_rt("partner");
    let signed: Value = serde_json::from_str(login.stdout.trim()).unwrap();
    assert!(signed.get("refresh_token").is_none(), "{signed}");
    assert!(!login.stdout.contains(&rt) && !login.stderr.contains(&rt));
    for format in ["json", "text", "env"] {
        let out = home.run(&sb, &["token", "--profile", "partner", "-o", format]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        let out = home.run(&sb, &["refresh", "--profile", "partner", "-o", format]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        // The rotated one too (run() checks every token seen so far).
        home.partner_rt("partner");
        assert!(!out.stdout.contains("REFRESH"), "{}", out.stdout);
    }
}

#[test]
fn collect_partner_pulls_each_customers_alerts_with_the_delegated_token() {
    // Contoso consented the SAM app's delegated Graph permission SecurityAlert.Read.All.
    let dir = tempfile::tempdir().unwrap();
    let cfg = json!({
      "tenants": [
        {"id": PARTNER_ID, "domain": PARTNER, "name": "MSSP",
         "users": [{"upn": "soc@mssp-provider.onmicrosoft.com", "name": "SOC", "oid": "21111111-1111-4111-8111-111111111111"}],
         "groups": [{"id": "31111111-1111-4111-8111-111111111111", "name": "SOC", "members": ["soc@mssp-provider.onmicrosoft.com"]}]},
        {"id": CONTOSO_ID, "domain": "contoso.onmicrosoft.com", "name": "Contoso",
         "users": [{"upn": "admin@contoso.onmicrosoft.com", "name": "Admin", "oid": "51111111-1111-4111-8111-111111111111"}],
         "grants": [{"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "scopes": ["user_impersonation", "SecurityAlert.Read.All"]}],
         "gdap": [{"partner": PARTNER, "name": "SOC", "access": [{"group": "SOC", "roles": ["Security Reader"]}]}]},
        {"id": "c48fcbb1-e295-4b5c-b80f-1376e2cb1575", "domain": "fabrikam.onmicrosoft.com", "name": "Fabrikam",
         "users": [{"upn": "admin@fabrikam.onmicrosoft.com", "name": "Admin", "oid": "61111111-1111-4111-8111-111111111111"}]}
      ],
      "apps": [
        {"client_id": "b64a329e-a098-404b-99fd-26066cccda7e", "name": "SAM app", "home_tenant": PARTNER,
         "multi_tenant": true, "redirect_uris": ["http://localhost/SiemMsspConnector"],
         "secrets": [{"value": "sam-secret-value"}], "scopes": ["user_impersonation", "SecurityAlert.Read.All"]}
      ]
    });
    let file = dir.path().join("sandbox.json");
    std::fs::write(&file, cfg.to_string()).unwrap();
    let sb = Sandbox::start_with(&["--config", file.to_str().unwrap()]);
    let mut home = Home::new();
    home.partner_login(&sb, "partner", "soc@mssp-provider.onmicrosoft.com");
    home.partner_rt("partner");
    let tenants = dir.path().join("tenants.txt");
    std::fs::write(
        &tenants,
        "contoso.onmicrosoft.com\nfabrikam.onmicrosoft.com\n",
    )
    .unwrap();
    let report = dir.path().join("report.ndjson");
    let state = dir.path().join("state");
    let out = home.run(
        &sb,
        &[
            "collect",
            "--partner",
            "partner",
            "--tenants",
            tenants.to_str().unwrap(),
            "--source",
            "graph-alerts",
            "--since",
            "60d",
            "--state",
            state.to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
            "--base-url",
            &sb.authority(),
        ],
    );
    home.partner_rt("partner");
    // Contoso: its alerts; Fabrikam: no GDAP relationship, explained; exit 8.
    assert_eq!(out.code, 8, "{}", out.stderr);
    let lines = ndjson(&out.stdout);
    assert!(!lines.is_empty(), "{}", out.stderr);
    assert!(lines.iter().all(|l| l["tenant_id"] == CONTOSO_ID));
    let rep = ndjson(&std::fs::read_to_string(&report).unwrap());
    let fab = rep
        .iter()
        .find(|r| r["tenant"] == "fabrikam.onmicrosoft.com")
        .unwrap();
    assert_eq!(fab["status"], "failed");
    let why = fab["sources"][0]["error"].as_str().unwrap_or_default();
    assert!(why.contains("AADSTS50020") && why.contains("GDAP"), "{fab}");
    assert!(out.stderr.contains("AADSTS50020 x1"), "{}", out.stderr);
}
