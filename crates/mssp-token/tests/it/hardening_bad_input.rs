//! Hostile and mistaken input, table-driven, across the commands: flags, tenant and client IDs,
//! redirect URIs, pasted addresses, tokens given to `inspect`, token files given to `refresh`,
//! tenants files given to `onboard`, and token-endpoint answers from a fake login host.
//!
//! Every row asserts what a user would check: the exit code of the contract, that stderr names
//! the problem, that stdout stays empty, and that nothing panicked or hung. All rows run (a few
//! at a time) and every failing row is reported together.

use crate::support::{clean_cmd, static_authority};
use base64::Engine;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const TENANT: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";
const CLIENT: &str = "9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f";
/// The client secret every row that needs one gets; it must never be printed.
const SECRET: &str = "bad-input-secret-value-3b9d";
/// Longest a row may take: anything slower is a hang.
const ROW_LIMIT: Duration = Duration::from_secs(45);

/// One row of the table.
struct Case {
    name: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    stdin: Option<Vec<u8>>,
    code: i32,
    /// Substrings stderr must contain.
    needles: Vec<String>,
    /// Substrings stderr must not contain (a raw control character, a partial token...).
    absent: Vec<String>,
}

/// `collect` over `tenants` with the main app, `--state state` and `more`.
fn collect_args<'a>(tenants: &'a str, state: &'a str, more: &[&'a str]) -> Vec<&'a str> {
    let mut v: Vec<&'a str> = vec![
        "collect",
        "--tenants",
        tenants,
        "--state",
        state,
        "--source",
        "graph-alerts",
        "--client-id",
        CLIENT,
        "--authority",
        "http://127.0.0.1:9",
    ];
    v.extend_from_slice(more);
    v
}

fn case(name: &str, args: &[&str], code: i32, needle: &str) -> Case {
    Case {
        name: name.to_string(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: Vec::new(),
        stdin: None,
        code,
        needles: vec![needle.to_string()],
        absent: vec![SECRET.to_string()],
    }
}

impl Case {
    fn env(mut self, k: &str, v: &str) -> Case {
        self.env.push((k.to_string(), v.to_string()));
        self
    }
    fn secret(self) -> Case {
        self.env("AZURE_CLIENT_SECRET", SECRET)
    }
    fn stdin(mut self, s: &str) -> Case {
        self.stdin = Some(s.as_bytes().to_vec());
        self
    }
    fn needle(mut self, s: &str) -> Case {
        self.needles.push(s.to_string());
        self
    }
    fn absent(mut self, s: &str) -> Case {
        self.absent.push(s.to_string());
        self
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn b64(v: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
}

/// `token` against a fake login host (GUID tenant: one POST to the token endpoint, no discovery).
fn token_against(name: &str, authority: &str, code: i32, needle: &str) -> Case {
    case(
        name,
        &[
            "token",
            "--no-cache",
            "--tenant",
            TENANT,
            "--client-id",
            CLIENT,
            "--authority",
            authority,
        ],
        code,
        needle,
    )
    .secret()
}

fn login_args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["login", "--tenant", TENANT, "--client-id", CLIENT];
    v.extend_from_slice(extra);
    v
}

/// Paste mode (a redirect URI nothing listens on), the pasted text on stdin.
fn paste(name: &str, pasted: &str, needle: &str) -> Case {
    case(
        name,
        &login_args(&[
            "--redirect-uri",
            "https://mssp.example.com/SiemMsspConnector",
            "--no-browser",
            "--wait",
            "30",
        ]),
        4,
        needle,
    )
    .stdin(pasted)
}

fn cases(dir: &Path) -> Vec<Case> {
    let w = |name: &str, text: &str| -> String {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        s(&p)
    };
    let list = w("list.txt", "contoso.onmicrosoft.com\n");
    let state_dir = s(&dir.join("collect-state"));
    let dir_text = s(dir);
    let jwt_header = b64(r#"{"alg":"RS256","typ":"JWT"}"#);
    let good_claims = b64(r#"{"tid":"4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b"}"#);
    let good_jwt = format!("{jwt_header}.{good_claims}.c2ln");
    let long_domain = format!("{}.onmicrosoft.com", "a".repeat(284));
    assert_eq!(long_domain.len(), 300);

    let mut v = vec![
        // ---- flags ----
        case("unknown flag", &["token", "--bogus"], 2, "'--bogus'"),
        case("unknown command", &["tokne"], 2, "unrecognized subcommand 'tokne'"),
        case(
            "flag without its value",
            &["login", "--tenant"],
            2,
            "a value is required for '--tenant",
        ),
        case(
            "--port 0",
            &login_args(&["--port", "0"]),
            2,
            "invalid value '0' for '--port",
        ),
        case(
            "--port 70000",
            &login_args(&["--port", "70000"]),
            2,
            "invalid value '70000' for '--port",
        ),
        case(
            "--port not a number",
            &login_args(&["--port", "http"]),
            2,
            "invalid value 'http' for '--port",
        ),
        case(
            "--wait 0",
            &login_args(&["--wait", "0"]),
            2,
            "invalid value '0' for '--wait",
        ),
        case(
            "--prompt unknown",
            &login_args(&["--prompt", "always"]),
            2,
            "invalid value 'always'",
        ),
        case(
            "--concurrency 0",
            &["onboard", "--tenants", &list, "--concurrency", "0"],
            2,
            "invalid value '0' for '--concurrency",
        ),
        case(
            "--deadline 0",
            &["onboard", "--tenants", &list, "--deadline", "0"],
            2,
            "invalid value '0' for '--deadline",
        ),
        case(
            "--shard 0/2",
            &["onboard", "--tenants", &list, "--client-id", CLIENT, "--shard", "0/2"],
            2,
            "--shard '0/2'",
        )
        .secret(),
        case(
            "--shard 3/2",
            &["onboard", "--tenants", &list, "--client-id", CLIENT, "--shard", "3/2"],
            2,
            "--shard '3/2'",
        )
        .secret(),
        case(
            "--shard x",
            &["onboard", "--tenants", &list, "--client-id", CLIENT, "--shard", "x"],
            2,
            "--shard 'x'",
        )
        .secret(),
        case(
            "--cloud unknown",
            &["token", "--tenant", TENANT, "--cloud", "mars"],
            2,
            "invalid value 'mars'",
        ),
        case(
            "two secret sources",
            &[
                "token",
                "--tenant",
                TENANT,
                "--client-id",
                CLIENT,
                "--client-secret-file",
                "/nonexistent",
                "--client-secret-stdin",
            ],
            2,
            "cannot be used with",
        ),
        case(
            "consent --port without --listen",
            &["consent", "--client-id", CLIENT, "--port", "8400"],
            2,
            "--listen",
        ),
        case("api without a path", &["api"], 2, "PATH_OR_URL"),
        case(
            "api path without /",
            &["api", "api/alerts", "--tenant", TENANT, "--client-id", CLIENT],
            2,
            "starting with /",
        )
        .secret(),
        case(
            "api plain-http base off loopback",
            &[
                "api",
                "/api/alerts",
                "--base-url",
                "http://api.example.com",
                "--tenant",
                TENANT,
                "--client-id",
                CLIENT,
            ],
            2,
            "plain http only on loopback",
        )
        .secret(),
        case(
            "plain-http authority off loopback",
            &[
                "token",
                "--tenant",
                TENANT,
                "--client-id",
                CLIENT,
                "--authority",
                "http://login.example.com",
            ],
            2,
            "plain http",
        )
        .secret(),
        case(
            "authority not a URL",
            &[
                "token",
                "--tenant",
                TENANT,
                "--client-id",
                CLIENT,
                "--authority",
                "not a url",
            ],
            2,
            "--authority",
        )
        .secret(),
        // ---- tenant IDs ----
        case(
            "tenant empty",
            &["token", "--tenant", "", "--client-id", CLIENT],
            2,
            "--tenant is empty",
        )
        .secret(),
        case(
            "tenant spaces",
            &["token", "--tenant", "   ", "--client-id", CLIENT],
            2,
            "--tenant is empty",
        )
        .secret(),
        case(
            "tenant common",
            &["token", "--tenant", "common", "--client-id", CLIENT],
            2,
            "name the customer's own tenant",
        )
        .secret(),
        case(
            "tenant organizations",
            &["login", "--tenant", "organizations", "--client-id", CLIENT],
            2,
            "name the customer's own tenant",
        ),
        case(
            "tenant common from AZURE_TENANT_ID",
            &["token", "--client-id", CLIENT],
            2,
            "name the customer's own tenant",
        )
        .secret()
        .env("AZURE_TENANT_ID", "Common"),
        case(
            "tenant GUID with a wrong character",
            &[
                "token",
                "--tenant",
                "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1g",
                "--client-id",
                CLIENT,
            ],
            2,
            "neither a tenant ID",
        )
        .secret(),
        case(
            "tenant 300-character domain",
            &["token", "--tenant", &long_domain, "--client-id", CLIENT],
            2,
            "neither a tenant ID",
        )
        .secret()
        .absent(&long_domain),
        case(
            "tenant with control characters",
            &[
                "token",
                "--tenant",
                "contoso\u{1b}[31m\u{7}.onmicrosoft.com",
                "--client-id",
                CLIENT,
            ],
            2,
            "neither a tenant ID",
        )
        .secret()
        .absent("\u{1b}")
        .absent("\u{7}"),
        case(
            "tenant with a space inside",
            &[
                "token",
                "--tenant",
                "contoso onmicrosoft.com",
                "--client-id",
                CLIENT,
            ],
            2,
            "neither a tenant ID",
        )
        .secret(),
        // ---- client IDs ----
        case(
            "client ID not a GUID",
            &["token", "--tenant", TENANT, "--client-id", "SiemConnector"],
            2,
            "is not a GUID",
        )
        .secret(),
        case(
            "client ID empty",
            &["token", "--tenant", TENANT, "--client-id", ""],
            2,
            "--client-id is empty",
        )
        .secret(),
        case(
            "client ID in braces",
            &[
                "login",
                "--tenant",
                TENANT,
                "--client-id",
                "{9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f}",
            ],
            2,
            "is not a GUID",
        ),
        case(
            "client ID missing",
            &["token", "--tenant", TENANT],
            2,
            "no client ID given",
        )
        .secret(),
        // ---- redirect URIs ----
        case(
            "redirect URI malformed",
            &login_args(&["--redirect-uri", "localhost SiemMsspConnector"]),
            2,
            "--redirect-uri 'localhost SiemMsspConnector' is not a valid URL",
        ),
        case(
            "redirect URI ftp",
            &login_args(&["--redirect-uri", "ftp://localhost/cb"]),
            2,
            "must be an http://localhost",
        ),
        case(
            "redirect URI [::1]",
            &login_args(&["--redirect-uri", "http://[::1]/x"]),
            2,
            "[::1]",
        ),
        case(
            "redirect URI with #fragment",
            &login_args(&["--redirect-uri", "http://localhost/cb#frag"]),
            2,
            "#fragment",
        ),
        case(
            "redirect URI port differs from --port",
            &login_args(&["--redirect-uri", "http://localhost:8400/cb", "--port", "8401"]),
            2,
            "port 8400 but --port says 8401",
        ),
        case(
            "--port with a paste-mode redirect URI",
            &login_args(&[
                "--redirect-uri",
                "https://mssp.example.com/cb",
                "--port",
                "8400",
            ]),
            2,
            "--port only applies",
        ),
        // ---- pasted addresses (paste mode; stdin closes after the paste) ----
        paste(
            "pasted garbage",
            "hello world, this is not it\n",
            "neither the address the browser landed on nor an authorization code",
        )
        .needle("standard input closed"),
        paste(
            "pasted address without a code",
            "https://mssp.example.com/SiemMsspConnector?session_state=abc\n",
            "holds no code=",
        ),
        paste(
            "pasted address of another sign-in",
            "https://mssp.example.com/SiemMsspConnector?code=0.AXEA-stolen-code&state=another-run\n",
            "state= is not the one this sign-in sent",
        )
        .absent("0.AXEA-stolen-code"),
        paste(
            "pasted error without our state",
            "https://mssp.example.com/SiemMsspConnector?error=access_denied&error_description=AADSTS65004\n",
            "state= is not the one this sign-in sent",
        ),
        paste("nothing pasted", "\n\n", "standard input closed"),
        // ---- tokens given to inspect ----
        case("inspect one part", &["inspect", "abcdef"], 2, "found 1"),
        case("inspect two parts", &["inspect", "abc.def"], 2, "found 2"),
        case("inspect five parts (JWE)", &["inspect", "a.b.c.d.e"], 2, "found 5"),
        case(
            "inspect bad base64url",
            &["inspect", "!!!.e30.c2ln"],
            2,
            "header is not valid base64url",
        ),
        case(
            "inspect non-JSON payload",
            &[
                "inspect",
                &format!("{jwt_header}.{}.c2ln", b64("not json")),
            ],
            2,
            "payload is not JSON",
        ),
        case(
            "inspect JSON array payload",
            &["inspect", &format!("{jwt_header}.{}.c2ln", b64("[1,2]"))],
            2,
            "payload is not a JSON object",
        ),
        case("inspect empty token", &["inspect", ""], 2, "the token is empty"),
        case("inspect empty stdin", &["inspect", "-"], 2, "the token is empty").stdin(""),
        case(
            "inspect --from missing file",
            &["inspect", "--from", &s(&dir.join("absent.jwt"))],
            7,
            "cannot read it (no such file)",
        ),
        case(
            "inspect --from JSON without access_token",
            &[
                "inspect",
                "--from",
                &w("no-at.json", r#"{"refresh_token":"RT-do-not-show-0123456789"}"#),
            ],
            2,
            "no access_token",
        )
        .absent("RT-do-not-show-0123456789"),
        // ---- token files given to refresh ----
        case(
            "refresh file missing",
            &["refresh", "--from", &s(&dir.join("absent.json"))],
            7,
            "cannot read it (no such file)",
        )
        .secret(),
        case(
            "refresh file empty",
            &["refresh", "--from", &w("empty.json", "")],
            2,
            "not valid JSON",
        )
        .secret(),
        case(
            "refresh file not JSON",
            &["refresh", "--from", &w("garbage.json", "this is not json")],
            2,
            "not valid JSON",
        )
        .secret(),
        case(
            "refresh file without refresh_token",
            &[
                "refresh",
                "--from",
                &w(
                    "no-rt.json",
                    &format!(
                        r#"{{"token_type":"Bearer","access_token":"{good_jwt}","expires_in":1,"expires_on":1,"expires_at":"x","tenant_id":"{TENANT}","client_id":"{CLIENT}","resource":"https://x","endpoint":"v1"}}"#
                    ),
                ),
            ],
            2,
            "holds no refresh_token",
        )
        .secret()
        .absent(&good_jwt),
        case(
            "refresh file with wrong types",
            &[
                "refresh",
                "--from",
                &w(
                    "types.json",
                    &format!(
                        r#"{{"token_type":"Bearer","access_token":5,"refresh_token":"RT-do-not-show-0123456789","expires_in":"soon","expires_on":1,"expires_at":"x","tenant_id":"{TENANT}","client_id":"{CLIENT}","endpoint":"v1"}}"#
                    ),
                ),
            ],
            2,
            "wrong type",
        )
        .secret()
        .absent("RT-do-not-show-0123456789"),
        case(
            "refresh file is a JSON array",
            &["refresh", "--from", &w("array.json", "[1,2,3]")],
            2,
            "not a token file saved by mssp-token",
        )
        .secret(),
        // ---- collect ----
        case(
            "collect without --source",
            &["collect", "--tenants", &list, "--state", &state_dir],
            2,
            "--source",
        ),
        case(
            "collect --since yesterday",
            &collect_args(&list, &state_dir, &["--since", "yesterday"]),
            2,
            "is neither a duration (24h, 7d, 90m) nor an RFC 3339 time",
        )
        .secret(),
        case(
            "collect --since in the future",
            &collect_args(&list, &state_dir, &["--since", "2099-01-01T00:00:00Z"]),
            2,
            "is in the future",
        )
        .secret(),
        case(
            "collect --page-size 0",
            &collect_args(&list, &state_dir, &["--page-size", "0"]),
            2,
            "invalid value '0' for '--page-size",
        ),
        case(
            "collect --source unknown",
            &["collect", "--tenants", &list, "--state", &state_dir, "--source", "sentinel"],
            2,
            "invalid value 'sentinel' for '--source",
        ),
        case(
            "collect --scope",
            &collect_args(&list, &state_dir, &["--scope", "https://graph.microsoft.com/.default"]),
            2,
            "do not apply to collect",
        )
        .secret(),
        case(
            "collect --shard 3/2",
            &collect_args(&list, &state_dir, &["--shard", "3/2"]),
            2,
            "expected K/N with 1 <= K <= N",
        )
        .secret(),
        case(
            "collect --state is a file",
            &collect_args(&list, &list, &[]),
            7,
            "not a folder",
        )
        .secret(),
        case(
            "collect --out is a folder",
            &collect_args(&list, &state_dir, &["--out", &dir_text]),
            7,
            "a directory",
        )
        .secret(),
        // ---- token endpoint answers (fake login host) ----
    ];

    // ---- tenants files given to onboard (each error names the file and line) ----
    let tenants: &[(&str, &str, &str, &str)] = &[
        ("bad TOML", "bad.toml", "[[tenant]\ntenant = \"a.com\"\n", ":1:"),
        (
            "unknown key",
            "unknown.toml",
            "[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\ncolour = \"red\"\n",
            ":3:",
        ),
        (
            "duplicate tenant (list)",
            "dup.txt",
            "contoso.onmicrosoft.com\nfabrikam.onmicrosoft.com\nCONTOSO.onmicrosoft.com\n",
            ":3: tenant CONTOSO.onmicrosoft.com is listed twice (first on line 1)",
        ),
        (
            "duplicate tenant (TOML)",
            "dup.toml",
            "[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\n\n[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\n",
            ":4: tenant contoso.onmicrosoft.com is listed twice (first on line 1)",
        ),
        (
            "two words on a line",
            "words.txt",
            "contoso.onmicrosoft.com\nfabrikam.onmicrosoft.com northwind.onmicrosoft.com\n",
            ":2:",
        ),
        (
            "'common' tenant (list)",
            "common.txt",
            "# customers\ncontoso.onmicrosoft.com\ncommon\n",
            ":3:",
        ),
        (
            "'common' tenant (TOML)",
            "common.toml",
            "[defaults]\nrequire_roles = [\"Alert.Read.All\"]\n\n[[tenant]]\nname = \"Everyone\"\ntenant = \"common\"\n",
            ":4:",
        ),
        (
            "[[tenant]] without tenant",
            "notenant.toml",
            "[[tenant]]\nname = \"Contoso\"\n",
            ":1:",
        ),
        (
            "bad client_id on a tenant",
            "badclient.toml",
            "[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\n\n[[tenant]]\ntenant = \"fabrikam.onmicrosoft.com\"\nclient_id = \"SiemConnector\"\n",
            ":4:",
        ),
        (
            "wrong type in TOML",
            "type.toml",
            "[defaults]\nrequire_roles = \"Alert.Read.All\"\n[[tenant]]\ntenant = \"contoso.onmicrosoft.com\"\n",
            ":2:",
        ),
    ];
    for (name, file, text, at) in tenants {
        let p = w(file, text);
        v.push(
            case(
                &format!("tenants file: {name}"),
                &["onboard", "--tenants", &p, "--client-id", CLIENT],
                2,
                &format!("{p}{at}"),
            )
            .secret(),
        );
    }
    for (name, file, text) in [
        ("empty", "empty.txt", ""),
        (
            "only comments",
            "comments.txt",
            "# customers\n\n   # none yet\n",
        ),
    ] {
        let p = w(file, text);
        v.push(
            case(
                &format!("tenants file: {name}"),
                &["onboard", "--tenants", &p, "--client-id", CLIENT],
                2,
                &format!("{p}: no tenants"),
            )
            .secret(),
        );
    }
    v.push(
        case(
            "tenants file: missing",
            &[
                "onboard",
                "--tenants",
                &s(&dir.join("absent.txt")),
                "--client-id",
                CLIENT,
            ],
            2,
            "cannot read it (no such file)",
        )
        .secret(),
    );

    // ---- token-endpoint answers from a fake login host ----
    let json = "application/json; charset=utf-8";
    let fake = |status: u16, ct: &str, body: &[u8]| static_authority(status, ct, body.to_vec()).0;
    v.push(
        token_against(
            "token endpoint: HTML proxy page (502)",
            &fake(
                502,
                "text/html",
                b"<html><head><title>Proxy error</title></head><body>upstream failed</body></html>",
            ),
            6,
            "Proxy error",
        )
        .needle("HTTP 502"),
    );
    v.push(token_against(
        "token endpoint: empty body 200",
        &fake(200, json, b""),
        6,
        "an empty body",
    ));
    v.push(
        token_against(
            "token endpoint: truncated JSON",
            &fake(
                200,
                json,
                br#"{"token_type":"Bearer","expires_in":3599,"access_token":"eyJhbGciOiJSUzI1NiJ9.eyJ0aWQi"#,
            ),
            6,
            "truncated",
        )
        .absent("eyJhbGciOiJSUzI1NiJ9.eyJ0aWQi"),
    );
    let mut huge = br#"{"token_type":"Bearer","expires_in":3599,"access_token":""#.to_vec();
    huge.extend(std::iter::repeat_n(b'A', 5 * 1024 * 1024));
    huge.extend(br#""}"#);
    v.push(
        token_against(
            "token endpoint: 5 MiB body",
            &fake(200, json, &huge),
            6,
            "4 MiB",
        )
        .absent("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    );
    v.push(token_against(
        "token endpoint: expires_in is an array",
        &fake(
            200,
            json,
            format!(r#"{{"token_type":"Bearer","expires_in":[1],"access_token":"{good_jwt}"}}"#)
                .as_bytes(),
        ),
        6,
        "expires_in",
    ));
    v.push(token_against(
        "token endpoint: access_token is a number",
        &fake(
            200,
            json,
            br#"{"token_type":"Bearer","expires_in":3599,"access_token":5}"#,
        ),
        6,
        "access_token",
    ));
    v.push(token_against(
        "token endpoint: no access_token",
        &fake(200, json, br#"{"token_type":"Bearer","expires_in":3599}"#),
        6,
        "missing field `access_token`",
    ));
    v.push(token_against(
        "token endpoint: a JSON array",
        &fake(200, json, b"[]"),
        6,
        "not a token response",
    ));
    v.push(
        token_against(
            "token endpoint: 200 carrying an error body",
            &fake(
                200,
                json,
                br#"{"error":"unauthorized_client","error_description":"AADSTS700016: Application with identifier '9d3e1c55-7b1a-4c2e-8f00-1a2b3c4d5e6f' was not found in the directory.\r\nTrace ID: t-200\r\nCorrelation ID: c-200\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[700016]}"#,
            ),
            3,
            "AADSTS700016",
        )
        .needle("trace ID t-200"),
    );
    v.push(
        token_against(
            "token endpoint: 401 AADSTS7000215",
            &fake(
                401,
                json,
                br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.\r\nTrace ID: t-7000215\r\nCorrelation ID: c-7000215\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[7000215],"trace_id":"t-7000215","correlation_id":"c-7000215"}"#,
            ),
            3,
            "AADSTS7000215",
        )
        .needle("the client secret is wrong")
        .needle("trace ID t-7000215"),
    );
    v.push(
        token_against(
            "token endpoint: non-JSON 400",
            &fake(400, "text/plain", b"Bad Request"),
            6,
            "HTTP 400",
        )
        .needle("not a token response"),
    );

    // ---- hostile or absurd answers (issue 9 items 2, 7, 10) ----
    let answer = |extra: &str| {
        format!(r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{good_jwt}"{extra}}}"#)
    };
    let with_claims = |claims: &str| {
        format!(
            r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{jwt_header}.{}.c2ln"}}"#,
            b64(claims)
        )
    };
    let hostile: Vec<(&str, String, &str, &str)> = vec![
        (
            "expires_in 10^12",
            answer("").replace("3599", "1000000000000"),
            "expires_in 1000000000000 is not a plausible lifetime",
            "",
        ),
        (
            "expires_in 2^64-1",
            answer("").replace("3599", "18446744073709551615"),
            "expires_in 18446744073709551615 is not a plausible lifetime",
            "",
        ),
        (
            "expires_in 2^64-1 as a v1 string",
            answer("").replace("3599", "\"18446744073709551615\""),
            "expires_in 18446744073709551615 is not a plausible lifetime",
            "",
        ),
        (
            "expires_in negative",
            answer("").replace("3599", "-3599"),
            "expires_in -3599 is not a plausible lifetime",
            "",
        ),
        (
            "expires_in fractional",
            answer("").replace("3599", "3599.25"),
            "expires_in 3599.25 is not a plausible lifetime",
            "",
        ),
        (
            "expires_on 10^12",
            answer(r#","expires_on":"1000000000000""#),
            "expires_on 1000000000000 is not a plausible expiry time",
            "",
        ),
        (
            "exp 10^12 in the token",
            with_claims(&format!(r#"{{"tid":"{TENANT}","exp":1000000000000}}"#)),
            "the access token's exp 1000000000000 is not a plausible expiry time",
            "",
        ),
        (
            "iat 2^64-1 in the token",
            with_claims(&format!(r#"{{"tid":"{TENANT}","iat":18446744073709551615}}"#)),
            "the access token's iat 18446744073709551615 is not a plausible issue time",
            "",
        ),
        (
            "tid not a GUID",
            with_claims(r#"{"tid":"x';touch pwned;'"}"#),
            "the access token's tid is not a tenant ID (a GUID)",
            "touch pwned",
        ),
        (
            "refresh_token with shell code",
            answer(r#","refresh_token":"0.A';touch pwned;'""#),
            "refresh_token is not a refresh token",
            "touch pwned",
        ),
        (
            "refresh_token with an escape sequence",
            answer(r#","refresh_token":"0.A\u001b[31mred""#),
            "refresh_token is not a refresh token",
            "\u{1b}",
        ),
        (
            "access_token with a newline",
            format!(
                r#"{{"token_type":"Bearer","expires_in":3599,"access_token":"{jwt_header}.x\ntouch pwned.sig"}}"#
            ),
            "access_token is not a JWT",
            "touch pwned",
        ),
        (
            "access_token not JWT-shaped",
            r#"{"token_type":"Bearer","expires_in":3599,"access_token":"opaque-token-without-dots"}"#
                .to_string(),
            "access_token is not a JWT",
            "opaque-token-without-dots",
        ),
        (
            "token_type not Bearer",
            answer("").replace("Bearer", "mac"),
            "token_type is not Bearer",
            "",
        ),
        (
            "scope with shell code",
            answer(r#","scope":"https://x/.default;reboot""#),
            "scope is not a URI or scope name",
            "reboot",
        ),
    ];
    for (name, body, needle, hidden) in hostile {
        let mut c = token_against(
            &format!("token endpoint: {name}"),
            &fake(200, json, body.as_bytes()),
            6,
            needle,
        )
        .needle("not a token response");
        if !hidden.is_empty() {
            c = c.absent(hidden);
        }
        v.push(c);
    }
    v.push(
        token_against(
            "token endpoint: 400 without error, with error_codes and trace",
            &fake(
                400,
                json,
                br#"{"error_description":"AADSTS50173: The provided grant has expired due to it being revoked.\r\nTrace ID: t-50173\r\nCorrelation ID: c-50173\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[50173]}"#,
            ),
            3,
            "AADSTS50173",
        )
        .needle("trace ID t-50173")
        .needle("correlation ID c-50173"),
    );
    v.push(token_against(
        "token endpoint: 400 with an empty JSON object",
        &fake(400, json, b"{}"),
        6,
        "neither a token response nor an Entra ID error",
    ));
    v.push(token_against(
        "token endpoint: plain-text 429",
        &fake(429, "text/plain", b"Too Many Requests"),
        6,
        "throttled: HTTP 429 after 4 attempt(s)",
    ));
    v
}

struct Outcome {
    code: Option<i32>,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

/// Runs one row with a watchdog: a row that takes longer than [`ROW_LIMIT`] is killed and
/// reported as a hang.
fn execute(c: &Case, cache: &Path) -> Outcome {
    let mut cmd = clean_cmd(cache);
    cmd.args(&c.args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if c.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    for (k, v) in &c.env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("start mssp-token");
    if let Some(input) = &c.stdin {
        let mut stdin = child.stdin.take().unwrap();
        let input = input.clone();
        std::thread::spawn(move || {
            let _ = stdin.write_all(&input);
        });
    }
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > ROW_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let elapsed = started.elapsed();
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&out_t.join().unwrap()).into_owned(),
        stderr: String::from_utf8_lossy(&err_t.join().unwrap()).into_owned(),
        elapsed,
    }
}

fn check(c: &Case, o: &Outcome) -> Vec<String> {
    let mut problems = Vec::new();
    match o.code {
        None => problems.push(format!("hung: killed after {} s", o.elapsed.as_secs())),
        Some(code) if code != c.code => problems.push(format!("exit {code}, expected {}", c.code)),
        _ => {}
    }
    for n in &c.needles {
        if !o.stderr.contains(n.as_str()) {
            problems.push(format!("stderr does not name the problem: {n:?} missing"));
        }
    }
    for a in &c.absent {
        if o.stderr.contains(a.as_str()) || o.stdout.contains(a.as_str()) {
            let shown: String = a.chars().take(40).collect();
            problems.push(format!("printed what it must not: {shown:?}"));
        }
    }
    if !o.stdout.is_empty() {
        problems.push(format!(
            "stdout is not empty on failure: {:?}",
            o.stdout.chars().take(200).collect::<String>()
        ));
    }
    if o.stderr.contains("panicked") || o.stderr.contains("RUST_BACKTRACE") {
        problems.push("panicked".to_string());
    }
    problems
}

#[test]
fn bad_input_is_refused_with_the_right_exit_code_and_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let table = cases(dir.path());
    assert!(table.len() >= 45, "only {} cases", table.len());
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(c) = table.get(i) else { break };
                let o = execute(c, &cache);
                let problems = check(c, &o);
                if !problems.is_empty() {
                    failures.lock().unwrap().push(format!(
                        "[{}] mssp-token {}\n    {}\n    stderr: {}",
                        c.name,
                        c.args
                            .iter()
                            .map(|a| if a.chars().count() > 60 {
                                format!("{}…", a.chars().take(60).collect::<String>())
                            } else {
                                a.clone()
                            })
                            .collect::<Vec<_>>()
                            .join(" "),
                        problems.join("\n    "),
                        o.stderr.trim().replace('\n', "\n            ")
                    ));
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n\n{}",
        failures.len(),
        table.len(),
        failures.join("\n\n")
    );
}
