//! Shared test support: the simulated Entra ID started in this process
//! (`entra_sandbox::Sandbox`), a real `mssp-token sandbox` process for the tests of that
//! command, the browser stand-in, and helpers to read what they saw.
//!
//! mssp-token itself always runs as a real subprocess ([`bin`]): that is what these tests test.

use entra_sandbox::SandboxOptions;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("mssp-token")
}

/// Server threads of an in-process sandbox unless a test passes `--threads`: small, so that a
/// hundred tests running side by side do not start thousands of threads.
pub const TEST_THREADS: usize = 4;

/// `mssp-token sandbox` flags (see `SandboxArgs` in src/cli.rs) as [`SandboxOptions`], with
/// [`TEST_THREADS`] server threads unless `--threads` says otherwise. An unknown flag or a bad
/// value panics: the test is wrong.
pub fn sandbox_options(args: &[&str]) -> SandboxOptions {
    fn num<T: std::str::FromStr>(flag: &str, value: &str) -> T {
        value
            .parse()
            .unwrap_or_else(|_| panic!("sandbox flag {flag}: not a number: {value:?}"))
    }
    let mut o = SandboxOptions {
        threads: Some(TEST_THREADS),
        ..SandboxOptions::default()
    };
    let mut it = args.iter().copied();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v)),
            _ => (arg, None),
        };
        if flag == "--tls" {
            assert!(inline.is_none(), "sandbox flag --tls takes no value");
            o.tls = true;
            continue;
        }
        let value = inline
            .or_else(|| it.next())
            .unwrap_or_else(|| panic!("sandbox flag {flag} needs a value"));
        match flag {
            "--port" => o.port = Some(num(flag, value)),
            "--config" => o.config = Some(PathBuf::from(value)),
            "--rate-limit" => o.rate_limit = Some(num(flag, value)),
            "--tenants" => o.generate_tenants = Some(num(flag, value)),
            "--write-tenants" => o.tenants_file = Some(PathBuf::from(value)),
            "--faults" => o.faults = Some(value.to_string()),
            "--seed" => o.fault_seed = Some(num(flag, value)),
            "--retry-after" => o.retry_after_secs = Some(num(flag, value)),
            "--stall-secs" => o.stall_secs = Some(num(flag, value)),
            "--latency-ms" => o.latency_ms = Some(num(flag, value)),
            "--threads" => o.threads = Some(num(flag, value)),
            other => panic!("unknown sandbox flag {other} (see SandboxArgs in src/cli.rs)"),
        }
    }
    o
}

/// A simulated Entra ID running in this process (`entra_sandbox::Sandbox`), stopped on drop.
pub struct Sandbox {
    server: Option<entra_sandbox::Sandbox>,
    authority: String,
    /// What `mssp-token sandbox` prints as its first line, taken at start.
    pub info: Value,
}

impl Sandbox {
    pub fn start() -> Sandbox {
        Self::start_with(&[])
    }

    /// Starts a sandbox in process; `args` are `mssp-token sandbox` flags ([`sandbox_options`]).
    pub fn start_with(args: &[&str]) -> Sandbox {
        let server = entra_sandbox::Sandbox::start(sandbox_options(args))
            .unwrap_or_else(|e| panic!("start the sandbox with {args:?}: {e:#}"));
        Sandbox {
            authority: server.authority(),
            info: server.info(),
            server: Some(server),
        }
    }

    pub fn authority(&self) -> String {
        self.authority.clone()
    }

    /// Makes the next matching answers hostile: `spec` is entra-sandbox's tamper spec (its
    /// tamper.rs): {"on": "token"|"api"|"discovery", "count": N, and either "status"/"headers"/
    /// "body" (replace; `{request_body}` echoes the request) or "fields"/"claims" (amend)}.
    pub fn tamper(&self, spec: Value) {
        self.server
            .as_ref()
            .expect("a running sandbox")
            .tamper(&spec)
            .unwrap_or_else(|e| panic!("tamper spec {spec}: {e:#}"));
    }

    /// The first tenant whose `consented` matches.
    pub fn tenant(&self, consented: bool) -> &Value {
        self.info["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["consented"].as_bool() == Some(consented))
            .expect("a tenant with that consent state")
    }

    /// Another consented tenant than `tenant(true)`.
    pub fn other_tenant(&self) -> &Value {
        self.info["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t["consented"].as_bool() == Some(true))
            .nth(1)
            .expect("a second consented tenant")
    }

    /// The main app (multi-tenant, secret valid).
    pub fn app(&self) -> &Value {
        self.info["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| {
                a["secret_expired"].as_bool() == Some(false)
                    && a["multi_tenant"].as_bool() == Some(true)
            })
            .expect("a multi-tenant app with a valid secret")
    }

    pub fn expired_app(&self) -> &Value {
        self.info["apps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["secret_expired"].as_bool() == Some(true))
            .expect("an app with an expired secret")
    }

    /// `mssp-token login` against this sandbox with the main app and tenant, the browser
    /// stand-in logging to `log`. `args` are added; --tenant, --client-id and --wait default
    /// to the main tenant, the main app and 20 s unless `args` name them.
    pub fn login(&self, log: &Path, args: &[&str]) -> Command {
        let app = self.app();
        let tenant = self.tenant(true);
        let mut cmd = Command::new(bin());
        cmd.arg("login").arg("--authority").arg(self.authority());
        let defaults = [
            ("--tenant", tenant["domain"].as_str().unwrap().to_string()),
            (
                "--client-id",
                app["client_id"].as_str().unwrap().to_string(),
            ),
            ("--wait", "20".to_string()),
        ];
        for (flag, value) in defaults {
            if !args.contains(&flag) {
                cmd.arg(flag).arg(value);
            }
        }
        cmd.args(args)
            .env(
                "AZURE_CLIENT_SECRET",
                app["client_secret"].as_str().unwrap(),
            )
            .env("BROWSER", fake_browser())
            .env("FAKE_BROWSER_LOG", log)
            .env_remove("AZURE_TENANT_ID")
            .env_remove("AZURE_CLIENT_ID")
            .env_remove("AZURE_AUTHORITY_HOST")
            .env_remove("SSL_CERT_FILE")
            .env_remove("FAKE_BROWSER_ACTION")
            .env_remove("FAKE_BROWSER_ACCOUNT")
            .stdin(Stdio::null());
        cmd
    }
}

pub fn fake_browser() -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/fake_browser.py");
    format!("python3 {}", p.display())
}

/// The JSON lines the browser stand-in wrote. If it started, waits (up to 15 s) for it to
/// finish: mssp-token can exit before the browser has logged the page it landed on.
pub fn browser_log(path: &Path) -> Vec<Value> {
    let read = || -> Vec<Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let lines = read();
        let done = lines.iter().any(|e| e["step"] == "done");
        if lines.is_empty() || done || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn step<'a>(log: &'a [Value], name: &str) -> Option<&'a Value> {
    log.iter().find(|e| e["step"] == name)
}

/// Decodes a JWT's claims (test-side, independent of the tool's decoder).
pub fn claims(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).expect("three-part JWT");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url payload");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

pub struct Output {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs a command to completion; a panic in mssp-token fails the test.
pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().expect("run mssp-token");
    let o = Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stderr.contains("panicked"),
        "mssp-token panicked:\n{}",
        o.stderr
    );
    o
}

/// `mssp-token <cmd>` with a clean environment, the main app's identity against this
/// sandbox, and a private token cache in `cache`.
pub fn app_cmd(sb: &Sandbox, cmd: &str, cache: &Path) -> Command {
    let app = sb.app();
    let mut c = Command::new(bin());
    c.arg(cmd)
        .arg("--authority")
        .arg(sb.authority())
        .arg("--client-id")
        .arg(app["client_id"].as_str().unwrap())
        .env(
            "AZURE_CLIENT_SECRET",
            app["client_secret"].as_str().unwrap(),
        )
        .env("MSSP_TOKEN_CACHE_DIR", cache)
        .env_remove("AZURE_TENANT_ID")
        .env_remove("AZURE_CLIENT_ID")
        .env_remove("AZURE_AUTHORITY_HOST")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PATH")
        .env_remove("AZURE_CLIENT_CERTIFICATE_PASSWORD")
        .env_remove("AZURE_FEDERATED_TOKEN_FILE")
        .env_remove("SSL_CERT_FILE")
        .stdin(Stdio::null());
    c
}

impl Sandbox {
    /// A tenant by its name in the sandbox's list (e.g. "Fabrikam").
    pub fn tenant_named(&self, name: &str) -> &Value {
        self.info["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no tenant named {name}"))
    }

    /// Stops the sandbox now and waits until its port is closed (to prove a command made no
    /// network call).
    pub fn stop(&mut self) {
        drop(self.server.take());
    }
}

// ---- Hardening support (tests/hardening_*.rs) ----

/// A port that was free on 127.0.0.1 and ::1 a moment ago.
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let port = l.local_addr().unwrap().port();
        drop(l);
        if std::net::TcpListener::bind(("::1", port)).is_ok()
            || std::net::TcpListener::bind("[::1]:0").is_err()
        {
            return port;
        }
    }
}

/// A fake login host that gives every request the same answer (status, content type, body),
/// and counts the requests it served.
pub fn static_authority(
    status: u16,
    content_type: &str,
    body: Vec<u8>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let content_type = content_type.to_string();
    std::thread::spawn(move || {
        for mut req in server.incoming_requests() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut sink = Vec::new();
            let _ = req.as_reader().read_to_end(&mut sink);
            let resp = tiny_http::Response::from_data(body.clone())
                .with_status_code(status)
                .with_header(
                    tiny_http::Header::from_bytes("Content-Type", content_type.as_bytes()).unwrap(),
                );
            let _ = req.respond(resp);
        }
    });
    (format!("http://127.0.0.1:{port}"), hits)
}

/// `mssp-token` with every identity variable of the environment removed (they would change
/// what a test means), a private cache folder, and stdin closed.
pub fn clean_cmd(cache: &Path) -> Command {
    let mut c = Command::new(bin());
    for var in [
        "AZURE_TENANT_ID",
        "AZURE_CLIENT_ID",
        "AZURE_CLIENT_SECRET",
        "AZURE_AUTHORITY_HOST",
        "AZURE_CLIENT_CERTIFICATE_PATH",
        "AZURE_CLIENT_CERTIFICATE_PASSWORD",
        "AZURE_FEDERATED_TOKEN_FILE",
        "SSL_CERT_FILE",
        "FAKE_BROWSER_ACTION",
        "FAKE_BROWSER_ACCOUNT",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(var);
    }
    c.env("MSSP_TOKEN_CACHE_DIR", cache)
        .env("BROWSER", "true")
        .stdin(Stdio::null());
    c
}

/// Every regular file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

/// Whether the tests run as root (where file modes do not stop writes).
pub fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A self-signed RSA certificate made with openssl in `dir`: key.pem, crt.pem, and cert.pem
/// (certificate + key, the PEM form `--certificate` takes).
pub fn self_signed_cert(dir: &Path, cn: &str) -> PathBuf {
    let ok = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .arg("-subj")
        .arg(format!("/CN={cn}"))
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("crt.pem"))
        .stderr(Stdio::null())
        .status()
        .expect("openssl is installed (.ci/setup installs it)");
    assert!(ok.success());
    let mut both = std::fs::read(dir.join("crt.pem")).unwrap();
    both.extend(std::fs::read(dir.join("key.pem")).unwrap());
    let pem = dir.join("cert.pem");
    std::fs::write(&pem, both).unwrap();
    pem
}

/// cert.pfx from the key.pem and crt.pem of [`self_signed_cert`], protected by `password`
/// (passed to openssl through a file, so that it is not in openssl's argv either).
pub fn pfx_of(dir: &Path, password: &str) -> PathBuf {
    let pfx = dir.join("cert.pfx");
    let pw_file = dir.join("pfx-password");
    std::fs::write(&pw_file, password).unwrap();
    let ok = Command::new("openssl")
        .args(["pkcs12", "-export"])
        .arg("-passout")
        .arg(format!("file:{}", pw_file.display()))
        .arg("-inkey")
        .arg(dir.join("key.pem"))
        .arg("-in")
        .arg(dir.join("crt.pem"))
        .arg("-out")
        .arg(&pfx)
        .status()
        .unwrap();
    assert!(ok.success());
    pfx
}

// ---- The `mssp-token sandbox` command as a process (tests/it/sandbox_command.rs) ----

/// A real `mssp-token sandbox` process, for the tests of that command only (every other test
/// uses the in-process [`Sandbox`]). Killed on drop.
pub struct SandboxProcess {
    child: Child,
    /// Its first stdout line.
    pub info: Value,
    /// Everything it wrote on stderr so far.
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
    /// The thread collecting stderr (joined once the process has exited).
    stderr_reader: Option<std::thread::JoinHandle<()>>,
}

impl SandboxProcess {
    /// `mssp-token sandbox ARGS`; returns once the first line (the info object) is read.
    pub fn start_with(args: &[&str]) -> SandboxProcess {
        let mut child = Command::new(bin())
            .arg("sandbox")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start mssp-token sandbox");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let collected = stderr.clone();
        let stderr_reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                collected
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).expect("sandbox first line");
        let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sandbox first line is not JSON ({e}): {line:?}\nstderr:\n{}",
                stderr.lock().unwrap()
            )
        });
        // Keep draining whatever else it prints.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = reader.read_to_end(&mut sink);
        });
        SandboxProcess {
            child,
            info,
            stderr,
            stderr_reader: Some(stderr_reader),
        }
    }

    pub fn authority(&self) -> String {
        self.info["authority"].as_str().unwrap().to_string()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What it wrote on stderr so far (all of it once [`Self::wait_exit`] has seen it exit).
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits up to `limit` for the process to exit; `None` if it is still running.
    pub fn wait_exit(&mut self, limit: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                if let Some(reader) = self.stderr_reader.take() {
                    let _ = reader.join();
                }
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
