//! Secret hygiene, proven with a canary: every command, with --verbose, in success and in
//! failure, gets a secret holding CANARY (from the environment, a file and stdin; a PFX
//! password; a federated token), and the canary must never show up in stdout, stderr, any file
//! mssp-token writes (token files, the onboard report, the token cache), the command line of
//! mssp-token or of the browser it starts, or the environment of the browser or of the system's
//! opener (xdg-open and kin, with no $BROWSER), wherever the secret came from. A server that
//! echoes the request back gets no spelling of it printed (form-, percent-, JSON-, HTML-encoded,
//! base64), and a URL with a password in it is refused without printing the password. Tokens
//! and codes must not show up on stderr either: they belong on stdout and in --save files only.
//!
//! Each test gathers every leak it finds and reports them together.

use crate::support::{self, browser_log, files_under, static_authority, step, Sandbox};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What must never be printed or written.
const CANARY: &str = "CANARY-7f3a9c";
const GOOD_SECRET: &str = "sandbox-CANARY-7f3a9c-secret";
const WRONG_SECRET: &str = "wrong-CANARY-7f3a9c-value";
const PFX_PASSWORD: &str = "pfx-CANARY-7f3a9c-pw";
const WRONG_PFX_PASSWORD: &str = "badpfx-CANARY-7f3a9c-pw";
/// A login host where nothing listens (connection refused).
const UNREACHABLE: &str = "http://127.0.0.1:9";

const CLIENT: &str = "b64a329e-a098-404b-99fd-26066cccda7e";
const CONTOSO: &str = "contoso.onmicrosoft.com";
const CONTOSO_ID: &str = "9ed38d36-d1a6-4200-9985-86bb0271d957";
const FAKE_TENANT: &str = "4a1f7c2e-5b8d-4e3f-9a6b-0c2d4e6f8a1b";

/// The sandbox's configuration: the main app's only secret holds the canary.
fn canary_config(dir: &Path) -> PathBuf {
    let cfg = serde_json::json!({
        "tenants": [
            {
                "id": CONTOSO_ID, "domain": CONTOSO, "name": "Contoso",
                "users": [{"upn": "admin@contoso.onmicrosoft.com", "name": "Contoso Admin",
                           "oid": "01b11418-86c7-466a-b822-c55750d55bf8"}],
                "grants": [{"client_id": CLIENT, "roles": ["Alert.Read.All"]}]
            },
            {
                "id": "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7", "domain": "mssp-provider.onmicrosoft.com",
                "name": "MSSP (provider)",
                "users": [{"upn": "engineer@mssp-provider.onmicrosoft.com", "name": "MSSP Engineer",
                           "oid": "244e3ec2-5b8e-48a3-be9f-2ffa23acb155"}]
            }
        ],
        "apps": [{
            "client_id": CLIENT, "name": "Canary connector",
            "home_tenant": "ae5d9895-7ab8-46f7-9de1-bf4bbc03e9a7", "multi_tenant": true,
            "redirect_uris": ["http://localhost/SiemMsspConnector"],
            "secrets": [{"value": GOOD_SECRET}],
            "roles": ["Alert.Read.All"]
        }]
    });
    let p = dir.join("sandbox.json");
    std::fs::write(&p, cfg.to_string()).unwrap();
    p
}

fn canary_sandbox(inputs: &Path) -> Sandbox {
    let cfg = canary_config(inputs);
    let sb = Sandbox::start_with(&["--config", cfg.to_str().unwrap()]);
    assert_eq!(
        sb.app()["client_secret"],
        GOOD_SECRET,
        "the sandbox uses the canary secret"
    );
    sb
}

/// A Defender API stand-in: every path answers one page of alerts.
fn fake_api() -> String {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    std::thread::spawn(move || {
        for req in server.incoming_requests() {
            let resp = tiny_http::Response::from_string(r#"{"value":[{"id":"da6371"}]}"#)
                .with_header(
                    tiny_http::Header::from_bytes("Content-Type", "application/json").unwrap(),
                );
            let _ = req.respond(resp);
        }
    });
    format!("http://127.0.0.1:{port}")
}

/// A token endpoint that accepts any client and answers a token for FAKE_TENANT, keeping the
/// request bodies (to check that the PFX password is never sent).
fn token_authority() -> (String, Arc<Mutex<Vec<String>>>) {
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
            let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
            let token = format!(
                "{}.{}.{}",
                b64(r#"{"alg":"RS256","typ":"JWT"}"#),
                b64(&format!(
                    r#"{{"tid":"{FAKE_TENANT}","roles":["Alert.Read.All"],"aud":"https://api.securitycenter.microsoft.com"}}"#
                )),
                b64(&format!("signature-{}", rand_suffix()))
            );
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

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// A self-signed RSA certificate as cert.pfx, protected by `password`.
fn make_pfx(dir: &Path, password: &str) -> PathBuf {
    support::self_signed_cert(dir, "mssp-token canary test");
    support::pfx_of(dir, password)
}

/// The browser stand-in, wrapped: it records its pid and argv, sleeps a moment (while the test
/// reads /proc), then behaves like a person signing in (tests/support/fake_browser.py).
fn browser_wrapper(dir: &Path) -> PathBuf {
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_browser.py");
    let script = dir.join("browser.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$BROWSER_ARGV_FILE\"\nprintf '%s\\n' \"$$\" > \"$BROWSER_PID_FILE.tmp\"\nmv \"$BROWSER_PID_FILE.tmp\" \"$BROWSER_PID_FILE\"\nsleep 1\nexec python3 {} \"$@\"\n",
            fake.display()
        ),
    )
    .unwrap();
    script
}

/// How the client secret is given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Source {
    Env,
    File,
    Stdin,
}

const SOURCES: [Source; 3] = [Source::Env, Source::File, Source::Stdin];

/// Gives `cmd` the secret from `source`; returns what to write on stdin.
fn give_secret(cmd: &mut Command, source: Source, secret: &str, inputs: &Path) -> Option<String> {
    match source {
        Source::Env => {
            cmd.env("AZURE_CLIENT_SECRET", secret);
            None
        }
        Source::File => {
            let f = inputs.join(format!("secret-{}.txt", rand_suffix()));
            std::fs::write(&f, format!("{secret}\n")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            cmd.arg("--client-secret-file").arg(f);
            None
        }
        Source::Stdin => {
            cmd.arg("--client-secret-stdin");
            Some(format!("{secret}\n"))
        }
    }
}

/// mssp-token with a clean environment: no identity variables, verbose, cache in `out/cache`.
fn mssp(sub: &str, out: &Path) -> Command {
    let mut c = support::clean_cmd(&out.join("cache"));
    c.arg("-v").arg(sub);
    c
}

/// What one run left behind.
struct Seen {
    label: String,
    code: i32,
    stdout: String,
    stderr: String,
    /// (what, bytes): /proc/PID/cmdline of mssp-token and of every process it started, and the
    /// environment of the browser when the secret did not come from the environment.
    proc_texts: Vec<(String, Vec<u8>)>,
    browser_argv: Option<Vec<String>>,
}

/// Parent pid of `pid`, from /proc/PID/stat.
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn descendants(root: u32) -> Vec<u32> {
    let all: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(|p| Some((p, ppid(p)?)))
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        for (p, pp) in &all {
            if *pp == parent && !found.contains(p) {
                found.push(*p);
            }
        }
        i += 1;
    }
    found.remove(0);
    found
}

/// Runs `cmd`, reading /proc while it runs. With `browser` (the probe folder of the browser
/// wrapper), waits until the browser has started and reads its command line and environment.
fn watch(
    label: String,
    mut cmd: Command,
    stdin: Option<String>,
    browser: Option<(&Path, bool)>,
) -> Seen {
    if let Some((probe, _)) = browser {
        cmd.env("BROWSER_PID_FILE", probe.join("browser.pid"))
            .env("BROWSER_ARGV_FILE", probe.join("browser.argv"))
            .env("FAKE_BROWSER_LOG", probe.join("browser.log"));
    }
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
    let mut child = cmd.spawn().expect("start mssp-token");
    let pid = child.id();
    let mut proc_texts = Vec::new();
    if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
        proc_texts.push(("cmdline of mssp-token".to_string(), c));
    }
    if let Some(input) = stdin {
        let mut w = child.stdin.take().unwrap();
        w.write_all(input.as_bytes()).unwrap();
        drop(w);
    }
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let mut browser_argv = None;
    if let Some((probe, check_env)) = browser {
        let pid_file = probe.join("browser.pid");
        let started = Instant::now();
        while !pid_file.exists() && started.elapsed() < Duration::from_secs(20) {
            if child.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            // The wrapper sleeps a second now: mssp-token is waiting for the redirect.
            if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                proc_texts.push(("cmdline of mssp-token while it waits".to_string(), c));
            }
            let kids = descendants(pid);
            let bpid: u32 = text.trim().parse().unwrap();
            assert!(
                kids.contains(&bpid),
                "the browser ({bpid}) is a child of mssp-token ({pid}): {kids:?}"
            );
            for k in kids {
                if let Ok(c) = std::fs::read(format!("/proc/{k}/cmdline")) {
                    proc_texts.push((format!("cmdline of child process {k}"), c));
                }
                if check_env {
                    if let Ok(e) = std::fs::read(format!("/proc/{k}/environ")) {
                        proc_texts.push((format!("environment of child process {k}"), e));
                    }
                }
            }
            browser_argv = Some(
                std::fs::read_to_string(probe.join("browser.argv"))
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string)
                    .collect(),
            );
        }
    }
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Seen {
        label,
        code: status.and_then(|s| s.code()).unwrap_or(-1),
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        proc_texts,
        browser_argv,
    }
}

/// Collects leaks instead of stopping at the first.
#[derive(Default)]
struct Leaks(Mutex<Vec<String>>);

impl Leaks {
    fn add(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }

    /// The run's exit code, no panic, and no canary in its output or /proc.
    fn check_run(&self, s: &Seen, code: i32) {
        if s.code != code {
            self.add(format!(
                "[{}] exit {}, expected {code}\n    stderr: {}",
                s.label,
                s.code,
                s.stderr.trim().replace('\n', "\n            ")
            ));
        }
        if s.stderr.contains("panicked") {
            self.add(format!("[{}] panicked: {}", s.label, s.stderr));
        }
        for (what, text) in [("stdout", &s.stdout), ("stderr", &s.stderr)] {
            if let Some(line) = text.lines().find(|l| l.contains(CANARY)) {
                self.add(format!("[{}] the secret is in {what}: {line}", s.label));
            }
        }
        for (what, bytes) in &s.proc_texts {
            if contains(bytes, CANARY.as_bytes()) {
                self.add(format!("[{}] the secret is in the {what}", s.label));
            }
        }
        if let Some(argv) = &s.browser_argv {
            let urls = argv.iter().filter(|a| a.starts_with("http")).count();
            if urls != 1 || argv.last().is_none_or(|a| !a.starts_with("http")) {
                self.add(format!(
                    "[{}] the browser got more than the sign-in URL: {argv:?}",
                    s.label
                ));
            }
        }
    }

    /// No canary in any file under `dir` (what mssp-token wrote).
    fn check_files(&self, label: &str, dir: &Path) {
        for f in files_under(dir) {
            let bytes = std::fs::read(&f).unwrap_or_default();
            if contains(&bytes, CANARY.as_bytes()) {
                self.add(format!(
                    "[{label}] the secret is in the file {}",
                    f.display()
                ));
            }
        }
    }

    /// Tokens (and codes) never on stderr: they are the result, for stdout and --save only.
    fn check_tokens_not_on_stderr(&self, s: &Seen, tokens: &[String]) {
        for t in tokens.iter().filter(|t| t.len() >= 16) {
            let mut probes = vec![t.clone()];
            // A JWT's header is shared by every token; its claims and signature are its own.
            let parts: Vec<&str> = t.split('.').collect();
            if parts.len() == 3 {
                probes.extend(
                    parts[1..]
                        .iter()
                        .filter(|p| p.len() >= 16)
                        .map(|p| p.to_string()),
                );
            }
            if probes.iter().any(|p| s.stderr.contains(p.as_str())) {
                let shown: String = t.chars().take(24).collect();
                self.add(format!(
                    "[{}] a token ({shown}…) is on stderr with --verbose",
                    s.label
                ));
            }
        }
    }

    fn assert_none(&self, what: &str) {
        let leaks = self.0.lock().unwrap();
        assert!(
            leaks.is_empty(),
            "{what}: {} problem(s):\n\n{}",
            leaks.len(),
            leaks.join("\n\n")
        );
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// access_token, refresh_token and id_token of a JSON text (stdout of -o json or a saved file).
fn tokens_in(json_text: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(json_text.trim()) else {
        return Vec::new();
    };
    ["access_token", "refresh_token", "id_token"]
        .iter()
        .filter_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
        .collect()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// The authorization code the browser carried to the listener.
fn code_from_browser_log(probe: &Path) -> Option<String> {
    let log = browser_log(&probe.join("browser.log"));
    let url = step(&log, "landed")?["url"].as_str()?.to_string();
    url::Url::parse(&url)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
}

fn login_cmd(sb_authority: &str, tenant: &str, out: &Path, probe: &Path) -> Command {
    let mut c = mssp("login", out);
    c.args([
        "--authority",
        sb_authority,
        "--tenant",
        tenant,
        "--client-id",
        CLIENT,
    ])
    .args(["--wait", "20", "-o", "json", "--save"])
    .arg(out.join("login.json"))
    .arg("--browser-command")
    .arg(format!("sh {}", browser_wrapper(probe).display()));
    c
}

/// Every command succeeds with the canary secret from one source.
fn success_with(source: Source, sb: &Sandbox, api: &str, root: &Path, leaks: &Leaks) {
    let tag = format!("{source:?}");
    let inputs = root.join(format!("inputs-{tag}"));
    let out = root.join(format!("out-{tag}"));
    let probe = root.join(format!("probe-{tag}"));
    for d in [&inputs, &out, &probe] {
        std::fs::create_dir_all(d).unwrap();
    }
    let authority = sb.authority();

    // login: browser, listener, code exchange, --save.
    let mut c = login_cmd(&authority, CONTOSO, &out, &probe);
    let stdin = give_secret(&mut c, source, GOOD_SECRET, &inputs);
    let s = watch(
        format!("login, secret from {tag}"),
        c,
        stdin,
        // The browser's environment never holds the secret, wherever it came from.
        Some((&probe, true)),
    );
    leaks.check_run(&s, 0);
    if s.browser_argv.is_none() {
        leaks.add(format!("[{}] the browser never started", s.label));
    }
    let mut tokens = tokens_in(&s.stdout);
    tokens.extend(tokens_in(&read(&out.join("login.json"))));
    tokens.extend(code_from_browser_log(&probe));
    leaks.check_tokens_not_on_stderr(&s, &tokens);

    // refresh: the saved login, rotated.
    let saved = out.join("refresh.json");
    let _ = std::fs::copy(out.join("login.json"), &saved);
    let mut c = mssp("refresh", &out);
    c.arg("--from")
        .arg(&saved)
        .args(["--authority", &authority, "-o", "json"]);
    let stdin = give_secret(&mut c, source, GOOD_SECRET, &inputs);
    let s = watch(format!("refresh, secret from {tag}"), c, stdin, None);
    leaks.check_run(&s, 0);
    let mut t = tokens.clone();
    t.extend(tokens_in(&s.stdout));
    t.extend(tokens_in(&read(&saved)));
    leaks.check_tokens_not_on_stderr(&s, &t);

    // token: --save and the cache.
    let mut c = mssp("token", &out);
    c.args([
        "--authority",
        &authority,
        "--tenant",
        CONTOSO,
        "--client-id",
        CLIENT,
    ])
    .args(["-o", "json", "--save"])
    .arg(out.join("token.json"));
    let stdin = give_secret(&mut c, source, GOOD_SECRET, &inputs);
    let s = watch(format!("token, secret from {tag}"), c, stdin, None);
    leaks.check_run(&s, 0);
    let mut app_tokens = tokens_in(&s.stdout);
    app_tokens.extend(tokens_in(&read(&out.join("token.json"))));
    leaks.check_tokens_not_on_stderr(&s, &app_tokens);

    // api: a token by client credentials (a fresh one: --no-cache), then the API.
    let mut c = mssp("api", &out);
    c.args(["/api/alerts", "--base-url", api, "--no-cache"])
        .args([
            "--authority",
            &authority,
            "--tenant",
            CONTOSO,
            "--client-id",
            CLIENT,
        ]);
    let stdin = give_secret(&mut c, source, GOOD_SECRET, &inputs);
    let s = watch(format!("api, secret from {tag}"), c, stdin, None);
    leaks.check_run(&s, 0);
    leaks.check_tokens_not_on_stderr(&s, &app_tokens);

    // onboard: token, roles, probe, --report.
    let tenants = inputs.join("tenants.txt");
    std::fs::write(&tenants, format!("{CONTOSO}\n")).unwrap();
    let mut c = mssp("onboard", &out);
    c.arg("--tenants")
        .arg(&tenants)
        .args(["--authority", &authority, "--client-id", CLIENT])
        .args(["--require-role", "Alert.Read.All", "--probe", "/api/alerts"])
        .args(["--base-url", api, "--report"])
        .arg(out.join("report.ndjson"));
    let stdin = give_secret(&mut c, source, GOOD_SECRET, &inputs);
    let s = watch(format!("onboard, secret from {tag}"), c, stdin, None);
    leaks.check_run(&s, 0);
    leaks.check_tokens_not_on_stderr(&s, &app_tokens);
    let report = read(&out.join("report.ndjson"));
    if !report.contains("\"status\":\"ok\"") {
        leaks.add(format!("[onboard, secret from {tag}] report: {report}"));
    }
    for t in &app_tokens {
        if report.contains(t.as_str()) {
            leaks.add(format!(
                "[onboard, secret from {tag}] a token is in the report"
            ));
        }
    }

    // collect: Graph alerts into --out, cursors in --state, a --report.
    let mut c = mssp("collect", &out);
    c.arg("--tenants")
        .arg(&tenants)
        .args(["--authority", &authority, "--client-id", CLIENT, "-v"])
        .args(["--source", "graph-alerts", "--since", "60d"])
        .args(["--base-url", &sb.authority(), "--out"])
        .arg(out.join("alerts.ndjson"))
        .arg("--state")
        .arg(out.join("state"))
        .arg("--report")
        .arg(out.join("collect-report.ndjson"));
    let stdin = give_secret(&mut c, source, GOOD_SECRET, &inputs);
    let s = watch(format!("collect, secret from {tag}"), c, stdin, None);
    leaks.check_run(&s, 0);
    leaks.check_tokens_not_on_stderr(&s, &app_tokens);
    let collected = read(&out.join("alerts.ndjson"));
    if collected.lines().count() == 0 {
        leaks.add(format!(
            "[collect, secret from {tag}] nothing collected: {}",
            s.stderr
        ));
    }

    if source == Source::Env {
        // consent and inspect take no secret, but a canary in the environment must not leak.
        let mut c = mssp("consent", &out);
        c.args([
            "--authority",
            &authority,
            "--tenant",
            CONTOSO,
            "--client-id",
            CLIENT,
        ])
        .env("AZURE_CLIENT_SECRET", GOOD_SECRET);
        let s = watch("consent, secret in the environment".into(), c, None, None);
        leaks.check_run(&s, 0);
        let mut c = mssp("inspect", &out);
        c.arg("--from")
            .arg(out.join("token.json"))
            .args(["--require-role", "Alert.Read.All"])
            .env("AZURE_CLIENT_SECRET", GOOD_SECRET);
        let s = watch("inspect, secret in the environment".into(), c, None, None);
        leaks.check_run(&s, 0);
    }
    leaks.check_files(&format!("files written, secret from {tag}"), &out);
    leaks.check_files(&format!("browser's record, secret from {tag}"), &probe);
}

#[test]
fn a_client_secret_never_leaks_when_every_command_succeeds() {
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let api = fake_api();
    let leaks = Leaks::default();
    std::thread::scope(|scope| {
        for source in SOURCES {
            let (sb, api, root, leaks) = (&sb, &api, root.path(), &leaks);
            scope.spawn(move || success_with(source, sb, api, root, leaks));
        }
    });
    leaks.assert_none("secret hygiene in success");
}

/// How a failure run fails.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Failing {
    /// A wrong secret: Entra refuses it (AADSTS7000215), exit 3 (onboard: 8).
    WrongSecret,
    /// The right secret, a login host that cannot be reached: exit 6 (onboard: 8).
    Unreachable,
}

/// One command failing, with the canary in the secret from `source`.
#[allow(clippy::too_many_arguments)]
fn failure_run(
    cmd: &str,
    source: Source,
    failing: Failing,
    sb: &Sandbox,
    api: &str,
    saved_login: &Path,
    root: &Path,
    leaks: &Leaks,
) {
    let (authority, secret, code) = match failing {
        Failing::WrongSecret => (sb.authority(), WRONG_SECRET, 3),
        Failing::Unreachable => (UNREACHABLE.to_string(), GOOD_SECRET, 6),
    };
    let slug = format!("{cmd}-{source:?}-{failing:?}");
    let inputs = root.join(format!("inputs-{slug}"));
    let out = root.join(format!("out-{slug}"));
    let probe = root.join(format!("probe-{slug}"));
    for d in [&inputs, &out, &probe] {
        std::fs::create_dir_all(d).unwrap();
    }
    let label = format!("{cmd}, {failing:?}, secret from {source:?}");
    let mut tokens: Vec<String> = tokens_in(&read(saved_login));
    let mut c;
    let mut browser = None;
    let mut expected = code;
    match cmd {
        "login" => {
            c = login_cmd(&authority, CONTOSO, &out, &probe);
            // With the wrong secret the browser signs in and the code exchange fails.
            if failing == Failing::WrongSecret {
                browser = Some((probe.as_path(), true));
            }
        }
        "refresh" => {
            // The file says where its token came from, and refresh goes back there: the
            // unreachable host is the one the file records.
            let copy = out.join("refresh.json");
            let mut saved: Value = serde_json::from_str(&read(saved_login)).unwrap();
            if saved.get("authority").is_some() {
                saved["authority"] = Value::String(authority.clone());
            }
            std::fs::write(&copy, saved.to_string()).unwrap();
            c = mssp("refresh", &out);
            c.arg("--from").arg(&copy).args(["--authority", &authority]);
        }
        "token" => {
            c = mssp("token", &out);
            c.args([
                "--authority",
                &authority,
                "--tenant",
                CONTOSO,
                "--client-id",
                CLIENT,
            ])
            .arg("--save")
            .arg(out.join("token.json"));
        }
        "api" => {
            c = mssp("api", &out);
            c.args(["/api/alerts", "--base-url", api]).args([
                "--authority",
                &authority,
                "--tenant",
                CONTOSO,
                "--client-id",
                CLIENT,
            ]);
        }
        "onboard" => {
            let tenants = inputs.join("tenants.txt");
            std::fs::write(&tenants, format!("{CONTOSO}\n")).unwrap();
            c = mssp("onboard", &out);
            c.arg("--tenants")
                .arg(&tenants)
                .args(["--authority", &authority, "--client-id", CLIENT])
                .args(["--probe", "/api/alerts", "--base-url", api, "--report"])
                .arg(out.join("report.ndjson"));
            expected = 8;
        }
        "collect" => {
            let tenants = inputs.join("tenants.txt");
            std::fs::write(&tenants, format!("{CONTOSO}\n")).unwrap();
            c = mssp("collect", &out);
            c.arg("--tenants")
                .arg(&tenants)
                .args(["--authority", &authority, "--client-id", CLIENT, "-v"])
                .args(["--source", "graph-alerts", "--base-url", &sb.authority()])
                .arg("--state")
                .arg(out.join("state"))
                .arg("--report")
                .arg(out.join("report.ndjson"));
            expected = 8;
        }
        other => unreachable!("{other}"),
    }
    let refresh_before = read(&out.join("refresh.json"));
    let stdin = give_secret(&mut c, source, secret, &inputs);
    let s = watch(label.clone(), c, stdin, browser);
    leaks.check_run(&s, expected);
    if failing == Failing::WrongSecret
        && !s.stderr.contains("AADSTS7000215")
        && cmd != "onboard"
        && cmd != "collect"
    {
        leaks.add(format!("[{label}] AADSTS7000215 not named: {}", s.stderr));
    }
    if !s.stdout.is_empty() && cmd != "onboard" {
        leaks.add(format!(
            "[{label}] stdout is not empty on failure: {}",
            s.stdout
        ));
    }
    tokens.extend(code_from_browser_log(&probe));
    leaks.check_tokens_not_on_stderr(&s, &tokens);
    match cmd {
        "refresh" if read(&out.join("refresh.json")) != refresh_before => {
            leaks.add(format!("[{label}] the token file changed on failure"));
        }
        "onboard" | "collect"
            if !read(&out.join("report.ndjson")).contains("\"status\":\"failed\"") =>
        {
            leaks.add(format!("[{label}] no failed line in the report"));
        }
        _ => {}
    }
    leaks.check_files(&format!("{label}: files written"), &out);
    leaks.check_files(&format!("{label}: browser's record"), &probe);
}

#[test]
fn a_client_secret_never_leaks_when_every_command_fails() {
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let api = fake_api();
    // A saved sign-in to refresh (made with the right secret, outside the checked folders).
    let setup = root.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    let saved = setup.join("login.json");
    let mut c = mssp("login", &setup);
    c.args([
        "--authority",
        &sb.authority(),
        "--tenant",
        CONTOSO,
        "--client-id",
        CLIENT,
    ])
    .args(["--wait", "20", "-o", "raw", "--save"])
    .arg(&saved)
    .env("AZURE_CLIENT_SECRET", GOOD_SECRET)
    .env("BROWSER", support::fake_browser())
    .env("FAKE_BROWSER_LOG", setup.join("browser.log"));
    let s = support::run(&mut c);
    assert_eq!(s.code, 0, "setup login: {}", s.stderr);

    // Every run at once: most of the time goes into retrying the unreachable host.
    let leaks = Leaks::default();
    std::thread::scope(|scope| {
        for cmd in ["login", "refresh", "token", "api", "onboard", "collect"] {
            for source in SOURCES {
                for failing in [Failing::WrongSecret, Failing::Unreachable] {
                    let (sb, api, saved, root, leaks) = (&sb, &api, &saved, root.path(), &leaks);
                    scope.spawn(move || {
                        failure_run(cmd, source, failing, sb, api, saved, root, leaks)
                    });
                }
            }
        }
    });
    leaks.assert_none("secret hygiene in failure");
}

#[test]
fn a_pfx_password_never_leaks() {
    let root = tempfile::tempdir().unwrap();
    let inputs = root.path().join("inputs");
    let out = root.path().join("out");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    let pfx = make_pfx(&inputs, PFX_PASSWORD);
    let (authority, seen) = token_authority();
    let leaks = Leaks::default();
    let cert_cmd = |sub: &str, authority: &str, password: &str| {
        let mut c = mssp(sub, &out);
        c.args(["--authority", authority, "--client-id", CLIENT])
            .arg("--certificate")
            .arg(&pfx)
            .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", password);
        c
    };

    // Success: token (--save, cache) and onboard (--report).
    let mut c = cert_cmd("token", &authority, PFX_PASSWORD);
    c.args(["--tenant", FAKE_TENANT, "-o", "json", "--save"])
        .arg(out.join("token.json"));
    let s = watch("token with a PFX".into(), c, None, None);
    leaks.check_run(&s, 0);
    let tokens = tokens_in(&s.stdout);
    leaks.check_tokens_not_on_stderr(&s, &tokens);
    let tenants = inputs.join("tenants.txt");
    std::fs::write(&tenants, format!("{FAKE_TENANT}\n")).unwrap();
    let mut c = cert_cmd("onboard", &authority, PFX_PASSWORD);
    c.arg("--tenants")
        .arg(&tenants)
        .arg("--report")
        .arg(out.join("report.ndjson"));
    let s = watch("onboard with a PFX".into(), c, None, None);
    leaks.check_run(&s, 0);

    // Failure: a wrong password (exit 2), and the right one against an unreachable host.
    let mut c = cert_cmd("token", &authority, WRONG_PFX_PASSWORD);
    c.args(["--tenant", FAKE_TENANT, "--no-cache"]);
    let s = watch("token with a wrong PFX password".into(), c, None, None);
    leaks.check_run(&s, 2);
    let mut c = cert_cmd("token", UNREACHABLE, PFX_PASSWORD);
    c.args(["--tenant", FAKE_TENANT, "--no-cache"]);
    let s = watch("token with a PFX, unreachable host".into(), c, None, None);
    leaks.check_run(&s, 6);
    let mut c = cert_cmd("onboard", UNREACHABLE, PFX_PASSWORD);
    c.arg("--tenants")
        .arg(&tenants)
        .arg("--report")
        .arg(out.join("failed.ndjson"));
    let s = watch("onboard with a PFX, unreachable host".into(), c, None, None);
    leaks.check_run(&s, 8);

    leaks.check_files("files written with a PFX", &out);
    for body in seen.lock().unwrap().iter() {
        if body.contains(CANARY) {
            leaks.add("the PFX password was sent to the token endpoint".into());
        }
        if body.contains("client_secret") {
            leaks.add("a client secret was sent with a certificate".into());
        }
    }
    leaks.assert_none("PFX password hygiene");
}

#[test]
fn a_federated_token_never_leaks() {
    let root = tempfile::tempdir().unwrap();
    let inputs = root.path().join("inputs");
    let out = root.path().join("out");
    std::fs::create_dir_all(&inputs).unwrap();
    std::fs::create_dir_all(&out).unwrap();
    // A fake external JWT whose three parts each hold the canary.
    let fed = inputs.join("federated.jwt");
    std::fs::write(&fed, format!("hdr{CANARY}x.claims{CANARY}y.sig{CANARY}z\n")).unwrap();
    let (authority, seen) = token_authority();
    let (refusing, _) = static_authority(
        400,
        "application/json; charset=utf-8",
        br#"{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found for presented assertion subject 'repo:x'.\r\nTrace ID: t-fic\r\nCorrelation ID: c-fic\r\nTimestamp: 2026-11-22 10:00:00Z","error_codes":[700213]}"#.to_vec(),
    );
    let leaks = Leaks::default();
    let fed_cmd = |sub: &str, authority: &str| {
        let mut c = mssp(sub, &out);
        c.args(["--authority", authority, "--client-id", CLIENT])
            .env("AZURE_FEDERATED_TOKEN_FILE", &fed);
        c
    };

    let mut c = fed_cmd("token", &authority);
    c.args(["--tenant", FAKE_TENANT, "-o", "json", "--save"])
        .arg(out.join("token.json"));
    let s = watch("token with a federated token".into(), c, None, None);
    leaks.check_run(&s, 0);
    leaks.check_tokens_not_on_stderr(&s, &tokens_in(&s.stdout));
    let sent = seen.lock().unwrap().clone();
    if !sent.iter().any(|b| b.contains(CANARY)) {
        leaks.add("the federated token was not sent as the client assertion".into());
    }

    let tenants = inputs.join("tenants.txt");
    std::fs::write(&tenants, format!("{FAKE_TENANT}\n")).unwrap();
    let mut c = fed_cmd("onboard", &authority);
    c.arg("--tenants")
        .arg(&tenants)
        .arg("--report")
        .arg(out.join("report.ndjson"));
    let s = watch("onboard with a federated token".into(), c, None, None);
    leaks.check_run(&s, 0);

    let mut c = fed_cmd("token", &refusing);
    c.args(["--tenant", FAKE_TENANT, "--no-cache"]);
    let s = watch("token with a refused federated token".into(), c, None, None);
    leaks.check_run(&s, 3);
    let mut c = fed_cmd("onboard", &refusing);
    c.arg("--tenants")
        .arg(&tenants)
        .arg("--report")
        .arg(out.join("refused.ndjson"));
    let s = watch(
        "onboard with a refused federated token".into(),
        c,
        None,
        None,
    );
    leaks.check_run(&s, 8);
    let mut c = fed_cmd("token", UNREACHABLE);
    c.args(["--tenant", FAKE_TENANT, "--no-cache"]);
    let s = watch(
        "token with a federated token, unreachable host".into(),
        c,
        None,
        None,
    );
    leaks.check_run(&s, 6);
    // The flag instead of the variable.
    let mut c = mssp("token", &out);
    c.args([
        "--authority",
        &refusing,
        "--client-id",
        CLIENT,
        "--tenant",
        FAKE_TENANT,
    ])
    .args(["--no-cache", "--federated-token-file"])
    .arg(&fed);
    let s = watch(
        "token with --federated-token-file, refused".into(),
        c,
        None,
        None,
    );
    leaks.check_run(&s, 3);

    leaks.check_files("files written with a federated token", &out);
    leaks.assert_none("federated token hygiene");
}

#[test]
fn the_client_secret_flag_warns_and_is_still_scrubbed() {
    // --client-secret puts the secret in argv (the seed's way): accepted with a warning, and
    // the value itself is never echoed, even when Entra refuses it.
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let out = root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let mut c = mssp("token", &out);
    c.args([
        "--authority",
        &sb.authority(),
        "--tenant",
        CONTOSO,
        "--client-id",
        CLIENT,
    ])
    .args(["--no-cache", "--client-secret", WRONG_SECRET]);
    let s = watch("token --client-secret (wrong)".into(), c, None, None);
    assert_eq!(s.code, 3, "{}", s.stderr);
    assert!(
        s.stderr.contains("process list"),
        "a warning about argv: {}",
        s.stderr
    );
    assert!(!s.stderr.contains(CANARY), "{}", s.stderr);
    assert!(s.stdout.is_empty());
}

// ---- The system opener (no $BROWSER), encoded echoes, passwords in URLs ----

/// Every openers' name the tool or a browser library might try, as one stand-in that records
/// its environment and argv in $OPENER_DUMP, then behaves like a person at a browser.
fn fake_openers(bin: &Path) {
    let fake = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_browser.py");
    let script = format!(
        "#!/bin/sh\nname=$(basename \"$0\")\nenv > \"$OPENER_DUMP/$name.$$.env\"\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done > \"$OPENER_DUMP/$name.$$.argv\"\nexec python3 {} \"$@\"\n",
        fake.display()
    );
    for name in [
        "xdg-open",
        "x-www-browser",
        "www-browser",
        "sensible-browser",
        "gio",
        "gvfs-open",
        "gnome-open",
        "kde-open",
        "kde-open5",
        "exo-open",
        "wslview",
    ] {
        let p = bin.join(name);
        std::fs::write(&p, &script).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }
    // No desktop's settings to consult.
    let p = bin.join("xdg-settings");
    std::fs::write(&p, "#!/bin/sh\nexit 1\n").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

#[test]
fn the_system_browser_opener_gets_no_secret() {
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let (bin, dump, out) = (
        root.path().join("bin"),
        root.path().join("dump"),
        root.path().join("out"),
    );
    for d in [&bin, &dump, &out] {
        std::fs::create_dir_all(d).unwrap();
    }
    fake_openers(&bin);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = mssp("login", &out);
    c.args([
        "--authority",
        &sb.authority(),
        "--tenant",
        CONTOSO,
        "--client-id",
        CLIENT,
    ])
    .args(["--wait", "20", "-o", "json"])
    // No $BROWSER, no --browser-command: the system default, on a display.
    .env_remove("BROWSER")
    .env_remove("XDG_CURRENT_DESKTOP")
    .env_remove("DESKTOP_SESSION")
    .env_remove("KDE_FULL_SESSION")
    .env("DISPLAY", ":99")
    .env("PATH", path)
    .env("OPENER_DUMP", &dump)
    .env("FAKE_BROWSER_LOG", dump.join("browser.log"))
    // Every credential variable there is, and the secret under a name that does not say so.
    .env("AZURE_CLIENT_SECRET", GOOD_SECRET)
    .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", PFX_PASSWORD)
    .env("AZURE_FEDERATED_TOKEN", format!("fed-{CANARY}-token"))
    .env("MSSP_TOKEN_PASSPHRASE", format!("pass-{CANARY}-phrase"))
    .env("DEPLOY_SETTING_7", GOOD_SECRET);
    let s = watch("login with the system opener".into(), c, None, None);
    let leaks = Leaks::default();
    leaks.check_run(&s, 0);
    let dumps: Vec<PathBuf> = files_under(&dump)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "env"))
        .collect();
    if dumps.is_empty() {
        leaks.add(format!("no system opener was started:\n{}", s.stderr));
    }
    for env_file in &dumps {
        let env = read(env_file);
        let name = env_file.file_name().unwrap().to_string_lossy().into_owned();
        if env.contains(CANARY) {
            let lines: Vec<&str> = env.lines().filter(|l| l.contains(CANARY)).collect();
            leaks.add(format!(
                "[{name}] the opener's environment holds secrets: {lines:?}"
            ));
        }
        for kept in ["PATH=", "DISPLAY=:99", "FAKE_BROWSER_LOG="] {
            if !env.lines().any(|l| l.starts_with(kept)) {
                leaks.add(format!("[{name}] the opener lost {kept}"));
            }
        }
        let argv = read(&env_file.with_extension("argv"));
        if argv.contains(CANARY) || !argv.lines().last().is_some_and(|a| a.starts_with("http")) {
            leaks.add(format!("[{name}] the opener got more than the URL: {argv}"));
        }
    }
    let log = browser_log(&dump.join("browser.log"));
    if step(&log, "landed").is_none_or(|l| l["status"] != 200) {
        leaks.add(format!("the sign-in did not land: {log:?}"));
    }
    leaks.check_files("opener's record", &dump);
    leaks.assert_none("the system opener");
}

/// A secret with every character that encoders change.
const WEIRD_SECRET: &str = "w~CANARY-7f3a9c+/ &%\"q=1;\\x";

/// The spellings of `secret` a server's echo could carry.
fn spellings(secret: &str) -> Vec<(&'static str, String)> {
    use base64::Engine;
    let form: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
    let pct = |upper: bool| -> String {
        secret
            .bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => {
                    (b as char).to_string()
                }
                _ if upper => format!("%{b:02X}"),
                _ => format!("%{b:02x}"),
            })
            .collect()
    };
    let json = serde_json::to_string(secret).unwrap();
    let json_form = serde_json::to_string(&form).unwrap();
    vec![
        ("as is", secret.to_string()),
        ("form-encoded", form.clone()),
        ("percent-encoded", pct(true)),
        ("percent-encoded, lower-case", pct(false)),
        ("JSON-escaped", json[1..json.len() - 1].to_string()),
        (
            "form-encoded in JSON",
            json_form[1..json_form.len() - 1].to_string(),
        ),
        (
            "base64",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(secret),
        ),
        (
            "base64url",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
        ),
    ]
}

impl Leaks {
    /// No spelling of `secret`, and no request field's value, in `text`.
    fn check_echo(&self, label: &str, what: &str, text: &str, secret: &str) {
        for (how, spelled) in spellings(secret) {
            if text.contains(&spelled) {
                self.add(format!("[{label}] the secret, {how}, is in {what}: {text}"));
            }
        }
        if text.contains(CANARY) {
            self.add(format!("[{label}] the canary is in {what}: {text}"));
        }
        // Whatever the echo carried: the code, the PKCE verifier, a refresh token, an assertion.
        for field in [
            "client_secret=",
            "code=",
            "code_verifier=",
            "refresh_token=",
            "client_assertion=",
        ] {
            for (at, _) in text.match_indices(field) {
                let value = &text[at + field.len()..];
                let end = value.find(['&', '"', ' ', '\n']).unwrap_or(value.len());
                if end > 0 && !value.starts_with("(redacted)") {
                    self.add(format!(
                        "[{label}] {field}{} in {what}",
                        &value[..end.min(40)]
                    ));
                }
            }
        }
    }
}

/// Token endpoints that echo the request body back: in Entra's error_description, in the error
/// name, in an HTML page's title, in a redirect's Location.
fn echo_specs() -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![
        (
            "JSON error_description",
            json!({"status": 401, "body": "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret provided. You sent: {request_body}\\r\\nTrace ID: t\",\"error_codes\":[7000215]}"}),
        ),
        (
            "JSON error",
            json!({"status": 400, "body": "{\"error\":\"{request_body}\",\"error_codes\":[9002313]}"}),
        ),
        (
            "HTML title",
            json!({"status": 400, "headers": {"Content-Type": "text/html"}, "body": "<html><head><title>Bad request: {request_body}</title></head><body>no</body></html>"}),
        ),
        (
            "redirect Location",
            json!({"status": 302, "headers": {"Location": "https://login.example.com/landing?{request_body}"}, "body": ""}),
        ),
    ]
}

#[test]
fn a_server_echoing_the_request_never_gets_a_spelling_of_the_secret_printed() {
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let authority = sb.authority();
    let leaks = Leaks::default();
    // A saved sign-in to refresh (made with the sandbox's secret, before any tampering).
    let setup = root.path().join("setup");
    std::fs::create_dir_all(&setup).unwrap();
    let saved = setup.join("login.json");
    let mut c = mssp("login", &setup);
    c.args(["--authority", &authority, "--tenant", CONTOSO])
        .args(["--client-id", CLIENT, "--wait", "20", "-o", "raw", "--save"])
        .arg(&saved)
        .env("AZURE_CLIENT_SECRET", GOOD_SECRET)
        .env("BROWSER", support::fake_browser())
        .env("FAKE_BROWSER_LOG", setup.join("browser.log"));
    let s = support::run(&mut c);
    assert_eq!(s.code, 0, "setup login: {}", s.stderr);

    for (i, (shape, spec)) in echo_specs().into_iter().enumerate() {
        for cmd in ["token", "onboard", "login", "refresh"] {
            let label = format!("{cmd}, echo in the {shape}");
            let out = root.path().join(format!("out-{i}-{cmd}"));
            std::fs::create_dir_all(&out).unwrap();
            let mut c = mssp(cmd, &out);
            c.args(["--authority", &authority]);
            let mut expected = vec![3, 6];
            match cmd {
                "token" => {
                    c.args(["--tenant", CONTOSO, "--client-id", CLIENT, "--no-cache"]);
                }
                "onboard" => {
                    let tenants = out.join("tenants.txt");
                    std::fs::write(&tenants, format!("{CONTOSO}\n")).unwrap();
                    c.args(["--client-id", CLIENT, "--tenants"])
                        .arg(&tenants)
                        .arg("--report")
                        .arg(out.join("report.ndjson"));
                    expected = vec![8];
                }
                "login" => {
                    c.args(["--tenant", CONTOSO, "--client-id", CLIENT, "--wait", "20"])
                        .env("BROWSER", support::fake_browser())
                        .env("FAKE_BROWSER_LOG", out.join("browser.log"));
                }
                "refresh" => {
                    let copy = out.join("refresh.json");
                    std::fs::copy(&saved, &copy).unwrap();
                    c.arg("--from").arg(&copy);
                }
                _ => unreachable!(),
            }
            c.env("AZURE_CLIENT_SECRET", WEIRD_SECRET);
            // Every try of this run meets the echo (a redirect may be followed or retried).
            sb.tamper({
                let mut spec = spec.clone();
                spec["count"] = 20.into();
                spec
            });
            let s = watch(label.clone(), c, None, None);
            sb.tamper(serde_json::json!({"clear": true}));
            if !expected.contains(&s.code) {
                leaks.add(format!(
                    "[{label}] exit {}, expected one of {expected:?}: {}",
                    s.code, s.stderr
                ));
            }
            leaks.check_echo(&label, "stderr", &s.stderr, WEIRD_SECRET);
            leaks.check_echo(&label, "stdout", &s.stdout, WEIRD_SECRET);
            for f in files_under(&out) {
                if f.extension().is_some_and(|e| e == "txt" || e == "log") {
                    continue;
                }
                let what = format!("the file {}", f.display());
                leaks.check_echo(&label, &what, &read(&f), WEIRD_SECRET);
            }
        }
    }
    leaks.assert_none("echoed requests");
}

#[test]
fn a_url_with_a_password_is_refused_without_printing_it() {
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let out = root.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let port = url::Url::parse(&sb.authority()).unwrap().port().unwrap();
    let password = format!("pw-{CANARY}-x");
    let with_pw = |scheme_host: &str| {
        let (scheme, rest) = scheme_host.split_once("://").unwrap();
        format!("{scheme}://mssp:{password}@{rest}")
    };
    let local = with_pw(&format!("http://127.0.0.1:{port}"));
    let saved = out.join("saved.json");
    std::fs::write(
        &saved,
        serde_json::json!({"token_type": "Bearer", "access_token": "x.y.z",
            "refresh_token": format!("rt-{}", "r".repeat(40)), "tenant_id": CONTOSO_ID,
            "client_id": CLIENT, "expires_in": 3599, "expires_on": 1_900_000_000u64,
            "expires_at": "2030-03-17T17:46:40Z",
            "resource": "https://api.securitycenter.microsoft.com", "endpoint": "v1"})
        .to_string(),
    )
    .unwrap();
    let tenants = out.join("tenants.toml");
    std::fs::write(
        &tenants,
        format!(
            "[[tenant]]\ntenant = \"{CONTOSO}\"\nprobe = \"{}/api/alerts\"\n",
            with_pw("https://api.securitycenter.microsoft.com")
        ),
    )
    .unwrap();
    let identity = ["--tenant", CONTOSO, "--client-id", CLIENT];
    let mut runs: Vec<(String, Command)> = Vec::new();
    let mut add = |label: &str, args: Vec<String>, env: Option<(&str, String)>| {
        let mut c = support::clean_cmd(&out.join("cache"));
        c.args(&args).env("AZURE_CLIENT_SECRET", GOOD_SECRET);
        if let Some((k, v)) = env {
            c.env(k, v);
        }
        runs.push((label.to_string(), c));
    };
    let v = |parts: &[&str]| parts.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    let with = |base: &[&str], extra: &[&str]| {
        let mut a = v(base);
        a.extend(v(extra));
        a
    };
    add(
        "token --authority",
        with(&["token", "--authority", &local], &identity),
        None,
    );
    add(
        "token, AZURE_AUTHORITY_HOST",
        with(&["token"], &identity),
        Some(("AZURE_AUTHORITY_HOST", local.clone())),
    );
    add(
        "login --authority",
        with(&["login", "--no-browser", "--authority", &local], &identity),
        None,
    );
    add(
        "consent --authority",
        with(
            &[
                "consent",
                "--authority",
                &with_pw("https://login.microsoftonline.com"),
            ],
            &identity,
        ),
        None,
    );
    add(
        "refresh --authority",
        vec![
            "refresh".into(),
            "--from".into(),
            saved.display().to_string(),
            "--authority".into(),
            local.clone(),
        ],
        None,
    );
    add(
        "api --base-url",
        with(
            &[
                "api",
                "/api/alerts",
                "--authority",
                &sb.authority(),
                "--base-url",
                &local,
            ],
            &identity,
        ),
        None,
    );
    add(
        "api with a full URL",
        with(
            &[
                "api",
                &format!("{local}/api/alerts"),
                "--authority",
                &sb.authority(),
            ],
            &identity,
        ),
        None,
    );
    add(
        "onboard --base-url",
        vec![
            "onboard".into(),
            "--tenants".into(),
            tenants.display().to_string(),
            "--client-id".into(),
            CLIENT.into(),
            "--authority".into(),
            sb.authority(),
            "--base-url".into(),
            local.clone(),
        ],
        None,
    );
    add(
        "login --redirect-uri",
        with(
            &[
                "login",
                "--no-browser",
                "--authority",
                &sb.authority(),
                "--redirect-uri",
                &with_pw("http://localhost/SiemMsspConnector"),
            ],
            &identity,
        ),
        None,
    );
    add(
        "consent --listen --redirect-uri",
        with(
            &[
                "consent",
                "--listen",
                "--no-browser",
                "--authority",
                &sb.authority(),
                "--redirect-uri",
                &with_pw("http://localhost/SiemMsspConnector"),
            ],
            &identity,
        ),
        None,
    );
    add(
        "--authority that is not even a URL",
        with(
            &["token", "--authority", &format!("{local}:notaport")],
            &identity,
        ),
        None,
    );
    let leaks = Leaks::default();
    for (label, c) in runs {
        // (The password is in mssp-token's own command line: the user put it there.)
        let s = watch(label.clone(), c, None, None);
        if s.code != 2 {
            leaks.add(format!(
                "[{label}] exit {}, expected 2: {}",
                s.code, s.stderr
            ));
        }
        for (what, text) in [("stderr", &s.stderr), ("stdout", &s.stdout)] {
            if text.contains(CANARY) {
                leaks.add(format!("[{label}] the password is in {what}: {text}"));
            }
        }
        if !s.stdout.is_empty() {
            leaks.add(format!("[{label}] stdout: {}", s.stdout));
        }
        if label != "--authority that is not even a URL"
            && !s
                .stderr
                .contains("must not contain a user name or password")
        {
            leaks.add(format!(
                "[{label}] the refusal does not say why: {}",
                s.stderr
            ));
        }
    }
    // A probe URL in a tenants file: that tenant fails (exit 8), its report line says why, and
    // nothing shows the password.
    let mut c = support::clean_cmd(&out.join("cache"));
    c.args(["onboard", "--tenants"])
        .arg(&tenants)
        .args([
            "--client-id",
            CLIENT,
            "--authority",
            &sb.authority(),
            "--report",
        ])
        .arg(out.join("report.ndjson"))
        .env("AZURE_CLIENT_SECRET", GOOD_SECRET);
    let s = watch("onboard, probe URL with a password".into(), c, None, None);
    let report = read(&out.join("report.ndjson"));
    if !(s.code == 2 || s.code == 8) {
        leaks.add(format!("[{}] exit {}: {}", s.label, s.code, s.stderr));
    }
    if !(s
        .stderr
        .contains("must not contain a user name or password")
        || report.contains("must not contain a user name or password"))
    {
        leaks.add(format!("[{}] not refused: {}\n{report}", s.label, s.stderr));
    }
    for (what, text) in [
        ("stderr", &s.stderr),
        ("stdout", &s.stdout),
        ("report", &report),
    ] {
        if text.contains(CANARY) {
            leaks.add(format!("[{}] the password is in {what}", s.label));
        }
    }
    leaks.assert_none("passwords in URLs");
}

// ---- Profiles and their stores (issue 10) ----

/// The encrypted store's passphrase holds the canary too.
const PASSPHRASE: &str = "pass-CANARY-7f3a9c-phrase";
const WRONG_PASSPHRASE: &str = "wrongpass-CANARY-7f3a9c-phrase";

/// Where the profiles go, and how the store's key is given.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Store {
    File,
    Keyring,
    PassphraseEnv,
    PassphraseFile,
}

/// `mssp-token -v SUB` on the profiles of `store` in `out/data`, the client secret from the
/// environment; `passphrase` is the encrypted store's (given as `store` says).
fn profile_cmd(
    sub: &str,
    store: Store,
    passphrase: &str,
    out: &Path,
    inputs: &Path,
    ks: Option<&crate::keyring_session::KeyringSession>,
) -> Command {
    let mut c = mssp(sub, out);
    for var in [
        "MSSP_TOKEN_STORE",
        "MSSP_TOKEN_PASSPHRASE",
        "MSSP_TOKEN_IDENTITY",
        "DBUS_SESSION_BUS_ADDRESS",
    ] {
        c.env_remove(var);
    }
    c.env("MSSP_TOKEN_DATA_DIR", out.join("data"));
    match store {
        Store::File => {}
        Store::Keyring => {
            c.args(["--store", "keyring"]);
            ks.expect("a keyring session").env(&mut c);
        }
        Store::PassphraseEnv => {
            c.args(["--store", "encrypted"])
                .env("MSSP_TOKEN_PASSPHRASE", passphrase);
        }
        Store::PassphraseFile => {
            let f = inputs.join(format!("passphrase-{}.txt", rand_suffix()));
            std::fs::write(&f, format!("{passphrase}\n")).unwrap();
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
            }
            c.args(["--store", "encrypted", "--passphrase-file"]).arg(f);
        }
    }
    c
}

/// login, token, refresh, refresh --all, status and logout on profiles of `store`, succeeding
/// and failing (a wrong client secret, a wrong passphrase), with the canary in the client
/// secret and in the passphrase.
fn profiles_with(store: Store, sb: &Sandbox, root: &Path, leaks: &Leaks) {
    let tag = format!("{store:?}");
    let inputs = root.join(format!("inputs-{tag}"));
    let out = root.join(format!("out-{tag}"));
    let probe = root.join(format!("probe-{tag}"));
    for d in [&inputs, &out, &probe] {
        std::fs::create_dir_all(d).unwrap();
    }
    let ks = (store == Store::Keyring).then(crate::keyring_session::KeyringSession::start);
    let ks = ks.as_ref();
    let authority = sb.authority();
    let cmd = |sub: &str, passphrase: &str, secret: &str| {
        let mut c = profile_cmd(sub, store, passphrase, &out, &inputs, ks);
        c.env("AZURE_CLIENT_SECRET", secret);
        c
    };
    let encrypted = matches!(store, Store::PassphraseEnv | Store::PassphraseFile);

    // login --profile: the browser's environment and command line are checked too.
    let mut c = cmd("login", PASSPHRASE, GOOD_SECRET);
    c.args([
        "--authority",
        &authority,
        "--tenant",
        CONTOSO,
        "--client-id",
        CLIENT,
    ])
    .args(["--wait", "20", "--profile", "contoso", "-o", "json"])
    .arg("--browser-command")
    .arg(format!("sh {}", browser_wrapper(&probe).display()));
    let s = watch(
        format!("login --profile, {tag}"),
        c,
        None,
        Some((&probe, true)),
    );
    leaks.check_run(&s, 0);
    if s.browser_argv.is_none() {
        leaks.add(format!("[{}] the browser never started", s.label));
    }
    let mut tokens = tokens_in(&s.stdout);
    tokens.extend(code_from_browser_log(&probe));
    leaks.check_tokens_not_on_stderr(&s, &tokens);

    let runs: [(&str, &[&str], &str, &str, i32); 7] = [
        (
            "token --profile",
            &["--profile", "contoso", "-o", "json"],
            PASSPHRASE,
            GOOD_SECRET,
            0,
        ),
        (
            "refresh --profile",
            &["--profile", "contoso", "-o", "json"],
            PASSPHRASE,
            GOOD_SECRET,
            0,
        ),
        ("refresh --all", &["--all"], PASSPHRASE, GOOD_SECRET, 0),
        // A wrong client secret: Entra refuses it; refresh --all records the error in the
        // profile (which status then shows).
        (
            "refresh --profile, wrong secret",
            &["--profile", "contoso"],
            PASSPHRASE,
            WRONG_SECRET,
            3,
        ),
        (
            "refresh --all, wrong secret",
            &["--all"],
            PASSPHRASE,
            WRONG_SECRET,
            8,
        ),
        ("status", &["-o", "json"], PASSPHRASE, GOOD_SECRET, 0),
        ("status, text", &[], PASSPHRASE, GOOD_SECRET, 0),
    ];
    for (label, args, passphrase, secret, code) in runs {
        let sub = label.split([' ', ',']).next().unwrap();
        let mut c = cmd(sub, passphrase, secret);
        c.args(args);
        let s = watch(format!("{label}, {tag}"), c, None, None);
        leaks.check_run(&s, code);
        tokens.extend(tokens_in(&s.stdout));
        for line in s.stdout.lines() {
            tokens.extend(tokens_in(line));
        }
        leaks.check_tokens_not_on_stderr(&s, &tokens);
    }
    if encrypted {
        // A wrong passphrase (holding the canary too): exit 7, before any sign-in.
        for (label, args) in [
            (
                "token --profile, wrong passphrase",
                &["--profile", "contoso"][..],
            ),
            ("refresh --all, wrong passphrase", &["--all"]),
            ("logout, wrong passphrase", &["--profile", "contoso"]),
        ] {
            let sub = label.split([' ', ',']).next().unwrap();
            let mut c = cmd(sub, WRONG_PASSPHRASE, GOOD_SECRET);
            c.args(args);
            let s = watch(format!("{label}, {tag}"), c, None, None);
            leaks.check_run(&s, 7);
            if !s.stderr.contains("wrong passphrase") {
                leaks.add(format!("[{}] does not say why: {}", s.label, s.stderr));
            }
        }
    }
    if let Some(ks) = ks {
        // What the keyring holds is the profile, never the client secret.
        match ks.lookup("contoso") {
            Some(entry) if entry.contains(CANARY) => {
                leaks.add(format!("[{tag}] the keyring entry holds the secret"))
            }
            Some(_) => {}
            None => leaks.add(format!("[{tag}] no keyring entry for the profile")),
        }
    }
    let mut c = cmd("logout", PASSPHRASE, GOOD_SECRET);
    c.args(["--profile", "contoso"]);
    let s = watch(format!("logout, {tag}"), c, None, None);
    leaks.check_run(&s, 0);
    leaks.check_files(&format!("files written, {tag}"), &out);
    leaks.check_files(&format!("browser's record, {tag}"), &probe);
}

#[test]
fn neither_the_client_secret_nor_the_passphrase_leaks_through_profiles() {
    let root = tempfile::tempdir().unwrap();
    let sb = canary_sandbox(root.path());
    let leaks = Leaks::default();
    std::thread::scope(|scope| {
        for store in [
            Store::File,
            Store::Keyring,
            Store::PassphraseEnv,
            Store::PassphraseFile,
        ] {
            let (sb, root, leaks) = (&sb, root.path(), &leaks);
            scope.spawn(move || profiles_with(store, sb, root, leaks));
        }
    });
    leaks.assert_none("secret hygiene with profiles");
}
