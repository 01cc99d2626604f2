#!/usr/bin/env python3
"""mssp-token benchmarks: the same N sandbox tenants, every peer in the same run.

Peers (each gets a token per tenant of the same tenants file; "ok" means a token that carries the
Alert.Read.All role, for every peer but curl and wrk, which only count HTTP 2xx):
  onboard c=16 / c=64      mssp-token onboard --require-role Alert.Read.All (token + role check)
  onboard c=64 (TLS)       the same against the TLS sandbox, with --ca-file
  baseline onboard ...     the same three with $BASELINE_BIN (an older mssp-token), if set
  guide python             the partner-access guide's Python snippet (urllib, v1 client_credentials), looped
  guide python pool c=C    the guide's request made with requests (a Session per worker thread; bare
                           requests.post with BENCH_POOL_HTTP=post), in a ThreadPoolExecutor of C workers
                           (C = onboard's --concurrency of the row it is compared with)
  guide curl               the guide's curl command, looped in bash
  msal python (TLS)        MSAL ConfidentialClientApplication.acquire_token_for_client per tenant, sequential
  msal python pool c=64 (TLS)  the same per tenant (one app object per tenant authority, one shared
                           requests.Session with a pool of 64 connections) in a ThreadPoolExecutor of 64
  limit: wrk c=C           a load generator POSTing the same token requests at the same concurrency

Every peer except wrk runs as its own child process; its wall time, peak RSS and user+sys CPU come
from os.wait4 on that process (the sandbox runs in another process: its CPU is not counted, but is
reported separately from /proc). "CPU ms/token" is the peer process's user+sys CPU over the tokens
it got. The concurrent peers run BENCH_REPEAT times (default 3), interleaved, and report medians.

Environment: MSSP_TOKEN_BIN (binary under test; default target/release/mssp-token),
BASELINE_BIN (optional older binary for the "not slower than before" rows), SANDBOX_BIN (binary
that runs the sandbox; default MSSP_TOKEN_BIN, falling back to BASELINE_BIN if it cannot start one),
BENCH_LATENCIES (default "0 2 20"), BENCH_REPEAT (default 3), BENCH_POOL_HTTP (session or post).

Run through bench/run.sh, which builds release and installs the peers.
"""
import base64
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("MSSP_TOKEN_BIN") or os.path.join(ROOT, "target", "release", "mssp-token"))
BASELINE = os.environ.get("BASELINE_BIN") or None
if BASELINE:
    BASELINE = os.path.abspath(BASELINE)
OUT = os.path.join(ROOT, "bench", "out")
ROLE = "Alert.Read.All"
CLK_TCK = os.sysconf("SC_CLK_TCK")
POOL_HTTP = os.environ.get("BENCH_POOL_HTTP", "session")
if POOL_HTTP not in ("session", "post"):
    raise SystemExit("BENCH_POOL_HTTP must be session or post")
WORK = None  # temporary directory of this run


# ---------------------------------------------------------------- sandbox

def start_sandbox(binary, n, latency_ms, tls):
    tenants_file = os.path.join(WORK, f"tenants-{n}-{latency_ms}-{int(tls)}.toml")
    args = [binary, "sandbox", "--tenants", str(n), "--write-tenants", tenants_file]
    if latency_ms:
        args += ["--latency-ms", str(latency_ms)]
    if tls:
        args += ["--tls"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    try:
        info = json.loads(line)
    except ValueError:
        stop(proc)
        raise RuntimeError(f"{binary} sandbox did not start (first line: {line[:200]!r})")
    return proc, info, tenants_file


SANDBOX_BIN = None


def sandbox(n, latency_ms, tls):
    """Starts the sandbox from SANDBOX_BIN, or the current binary, or else the baseline."""
    global SANDBOX_BIN
    candidates = [SANDBOX_BIN] if SANDBOX_BIN else \
        [b for b in (os.environ.get("SANDBOX_BIN"), BIN, BASELINE) if b]
    last = None
    for b in candidates:
        try:
            r = start_sandbox(b, n, latency_ms, tls)
            SANDBOX_BIN = b
            return r
        except (RuntimeError, OSError) as e:
            last = e
            print(f"note: {e}; trying the next binary for the sandbox", file=sys.stderr)
    raise SystemExit(f"no binary could start the sandbox: {last}")


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_cpu(pid):
    """user+sys CPU seconds of a running process (all its threads), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tenant_domains(info):
    """Every tenant of the tenants file onboard gets, so that every peer does the same work."""
    with open(info["tenants_list_file"]) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


# ---------------------------------------------------------------- measuring one child process

RUSAGE = None  # the compiled bench/rusage.c launcher, or None (then peak RSS includes the harness's)


def build_launcher():
    global RUSAGE
    exe = os.path.join(WORK, "rusage")
    r = subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "rusage.c")], capture_output=True, text=True)
    if r.returncode == 0:
        RUSAGE = exe
    else:
        print(f"note: cannot build bench/rusage.c ({r.stderr.strip()[:200]}); peak RSS will include the harness's",
              file=sys.stderr)


def measure(args, env=None, stdin_text=None, server=None):
    """Runs one process to completion; returns wall seconds, its own peak RSS (MiB) and user+sys CPU
    seconds (wait4 on that process, through the bench/rusage.c launcher: the process and the children it
    waited for, nothing else), exit code, stdout, stderr, and the sandbox's CPU seconds over the same
    interval (if server is given). Input and output go through files, not pipes, so nothing can block."""
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        ru_file = os.path.join(WORK, "rusage.out")
        if RUSAGE and os.path.exists(ru_file):
            os.unlink(ru_file)
        s0 = proc_cpu(server.pid) if server else None
        t0 = time.perf_counter()
        proc = subprocess.Popen(([RUSAGE, ru_file] if RUSAGE else []) + list(args),
                                env=env, stdin=inp, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        s1 = proc_cpu(server.pid) if server else None
        code = os.waitstatus_to_exitcode(status)
        user, sys_, rss_kib = usage.ru_utime, usage.ru_stime, usage.ru_maxrss
        if RUSAGE:
            with open(ru_file) as f:
                c, u, s_, m = f.read().split()
            code, user, sys_, rss_kib = int(c), float(u), float(s_), int(m)
        out.seek(0)
        err.seek(0)
        return {"wall": wall, "rss_mib": rss_kib / 1024.0, "cpu": user + sys_, "cpu_user": user, "cpu_sys": sys_,
                "code": code, "out": out.read().decode(errors="replace"), "err": err.read().decode(errors="replace"),
                "server_cpu": (s1 - s0) if server else None}


def env_for(info):
    app = info["apps"][0]
    legacy = next((a for a in info["apps"] if a.get("secret_expired")), None)
    env = dict(os.environ)
    env["AZURE_CLIENT_SECRET"] = app["client_secret"]
    if legacy:
        env["SANDBOX_LEGACY_SECRET"] = legacy["client_secret"]
    env["MSSP_TOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="cache-", dir=WORK)  # fresh: no cache hits
    for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE"):
        env.pop(k, None)
    return env


def result_of(m, ok, failed, errors, extra=None):
    r = {k: m[k] for k in ("wall", "rss_mib", "cpu", "cpu_user", "cpu_sys", "server_cpu")}
    r.update({"ok": ok, "failed": failed, "errors": errors})
    r.update(extra or {})
    return r


# ---------------------------------------------------------------- mssp-token onboard

def run_onboard(binary, info, tenants_file, concurrency, server):
    args = [binary, "onboard", "--tenants", tenants_file, "--authority", info["authority"],
            "--require-role", ROLE, "--concurrency", str(concurrency), "--deadline", "120"]
    if info.get("ca_file"):
        args += ["--ca-file", info["ca_file"]]
    m = measure(args, env_for(info), server=server)
    lines = [json.loads(l) for l in m["out"].splitlines() if l.strip()]
    if m["code"] not in (0, 8) or not lines:
        raise SystemExit(f"{binary} onboard failed (exit {m['code']}): {m['err'][-2000:]}")
    ok = sum(1 for l in lines if l["status"] == "ok")
    errors = {}
    for l in lines:
        if l["status"] != "ok":
            key = (f"AADSTS{l['aadsts']}" if l.get("aadsts") else
                   "missing role" if l.get("stage") == "roles" else
                   f"HTTP {l['http_status']}" if l.get("http_status") else "other")
            errors[key] = errors.get(key, 0) + 1
    return result_of(m, ok, len(lines) - ok, errors)


# ---------------------------------------------------------------- Python and curl peers
# Each script reads tenants from stdin and prints one JSON line: ok, failed, errors by kind, and the
# wall/CPU of its token work alone (after interpreter start and imports), for the report's footnote.

PY_PRELUDE = r'''
import base64, json, resource, sys, time
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
def _roles(aadToken):
    payload = aadToken.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))).get("roles", [])
def _aad_error(status, text):
    try:
        j = json.loads(text)
    except Exception:
        return "HTTP %d" % status
    codes = j.get("error_codes") or []
    return "AADSTS%d" % codes[0] if codes else "HTTP %d %s" % (status, j.get("error", ""))
def _report(outcomes, w0, c0):
    errors = {}
    for o in outcomes:
        if o != "ok":
            errors[o] = errors.get(o, 0) + 1
    ok = sum(1 for o in outcomes if o == "ok")
    print(json.dumps({"ok": ok, "failed": len(outcomes) - ok, "errors": errors,
                      "work_wall": time.perf_counter() - w0, "work_cpu": _cpu() - c0}))
'''

GUIDE_PYTHON = PY_PRELUDE + r'''
import urllib.request, urllib.parse, urllib.error
authority, appId, appSecret = sys.argv[1], sys.argv[2], sys.argv[3]
tenants = sys.stdin.read().split()
w0, c0 = time.perf_counter(), _cpu()
outcomes = []
for tenantId in tenants:
    # --- the partner-access guide's snippet, verbatim but for the host ---
    url = "%s/%s/oauth2/token" % (authority, tenantId)
    resourceAppIdUri = 'https://api.securitycenter.microsoft.com'
    body = {'resource' : resourceAppIdUri, 'client_id' : appId, 'client_secret' : appSecret, 'grant_type' : 'client_credentials'}
    data = urllib.parse.urlencode(body).encode("utf-8")
    req = urllib.request.Request(url, data)
    try:
        response = urllib.request.urlopen(req)
    except urllib.error.HTTPError as e:
        outcomes.append(_aad_error(e.code, e.read()))
        continue
    except Exception as e:
        outcomes.append("exception " + type(e).__name__)
        continue
    jsonResponse = json.loads(response.read())
    aadToken = jsonResponse["access_token"]
    # --- the role check, as the guide has people do on a JWT web site ---
    outcomes.append("ok" if "Alert.Read.All" in _roles(aadToken) else "missing role")
_report(outcomes, w0, c0)
'''

# What a competent engineer writes instead: the guide's request (same v1 body, same role check),
# sent with requests, one call per tenant, in a thread pool as wide as onboard's --concurrency.
# BENCH_POOL_HTTP=session (default): one requests.Session per worker thread, so connections are kept
# alive (the faster of the two in our trials: less CPU per token); =post: bare requests.post per call.
GUIDE_PYTHON_POOL = PY_PRELUDE + r'''
import threading, requests
from concurrent.futures import ThreadPoolExecutor
authority, appId, appSecret, concurrency, http = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
tenants = sys.stdin.read().split()
local = threading.local()
def post(url, **kw):
    if http == "post":
        return requests.post(url, **kw)
    if not hasattr(local, "session"):
        local.session = requests.Session()
    return local.session.post(url, **kw)
def get_token(tenantId):
    url = "%s/%s/oauth2/token" % (authority, tenantId)
    resourceAppIdUri = 'https://api.securitycenter.microsoft.com'
    body = {'resource' : resourceAppIdUri, 'client_id' : appId, 'client_secret' : appSecret, 'grant_type' : 'client_credentials'}
    try:
        response = post(url, data=body, timeout=60)
    except Exception as e:
        return "exception " + type(e).__name__
    if response.status_code != 200:
        return _aad_error(response.status_code, response.text)
    aadToken = response.json()["access_token"]
    return "ok" if "Alert.Read.All" in _roles(aadToken) else "missing role"
w0, c0 = time.perf_counter(), _cpu()
with ThreadPoolExecutor(max_workers=concurrency) as pool:
    outcomes = list(pool.map(get_token, tenants))
_report(outcomes, w0, c0)
'''

MSAL_PYTHON = PY_PRELUDE + r'''
import msal
authority, appId, appSecret, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
tenants = sys.stdin.read().split()
w0, c0 = time.perf_counter(), _cpu()
outcomes = []
for tenantId in tenants:
    try:
        app = msal.ConfidentialClientApplication(
            appId, authority="%s/%s" % (authority, tenantId), client_credential=appSecret,
            verify=ca, instance_discovery=False)
        result = app.acquire_token_for_client(scopes=["https://api.securitycenter.microsoft.com/.default"])
    except Exception as e:
        outcomes.append("exception " + type(e).__name__)
        continue
    if "access_token" not in result:
        codes = result.get("error_codes") or []
        outcomes.append("AADSTS%d" % codes[0] if codes else "error " + str(result.get("error")))
    else:
        outcomes.append("ok" if "Alert.Read.All" in _roles(result["access_token"]) else "missing role")
_report(outcomes, w0, c0)
'''

# MSAL as a competent engineer runs it for many tenants: one ConfidentialClientApplication per tenant
# authority (MSAL binds an app to one authority), all sharing one requests.Session (http_client) whose
# connection pool is as wide as the thread pool, in a ThreadPoolExecutor of onboard's --concurrency.
MSAL_PYTHON_POOL = PY_PRELUDE + r'''
import msal, requests
from requests.adapters import HTTPAdapter
from concurrent.futures import ThreadPoolExecutor
authority, appId, appSecret, ca, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
tenants = sys.stdin.read().split()
session = requests.Session()
session.verify = ca
session.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=concurrency))
session.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=concurrency))
def get_token(tenantId):
    try:
        app = msal.ConfidentialClientApplication(
            appId, authority="%s/%s" % (authority, tenantId), client_credential=appSecret,
            http_client=session, instance_discovery=False)
        result = app.acquire_token_for_client(scopes=["https://api.securitycenter.microsoft.com/.default"])
    except Exception as e:
        return "exception " + type(e).__name__
    if "access_token" not in result:
        codes = result.get("error_codes") or []
        return "AADSTS%d" % codes[0] if codes else "error " + str(result.get("error"))
    return "ok" if "Alert.Read.All" in _roles(result["access_token"]) else "missing role"
w0, c0 = time.perf_counter(), _cpu()
with ThreadPoolExecutor(max_workers=concurrency) as pool:
    outcomes = list(pool.map(get_token, tenants))
_report(outcomes, w0, c0)
'''

CURL_LOOP = r'''
ok=0; failed=0
while read -r tenant; do
  if curl -sf -X POST -d "resource=https://api.securitycenter.microsoft.com&client_id=$APP&client_secret=$SECRET&grant_type=client_credentials" \
       $CACERT "$AUTHORITY/$tenant/oauth2/token" -o /dev/null; then ok=$((ok+1)); else failed=$((failed+1)); fi
done
echo "{\"ok\": $ok, \"failed\": $failed, \"errors\": {\"curl -f failed (HTTP >= 400)\": $failed}}"
'''


def run_script(kind, info, domains, server, concurrency=None):
    app = info["apps"][0]
    env = env_for(info)
    py = [sys.executable, "-c"]
    if kind == "python":
        args = py + [GUIDE_PYTHON, info["authority"], app["client_id"], app["client_secret"]]
    elif kind == "python pool":
        args = py + [GUIDE_PYTHON_POOL, info["authority"], app["client_id"], app["client_secret"], str(concurrency),
                     POOL_HTTP]
    elif kind == "msal":
        args = py + [MSAL_PYTHON, info["authority"], app["client_id"], app["client_secret"], info["ca_file"]]
    elif kind == "msal pool":
        args = py + [MSAL_PYTHON_POOL, info["authority"], app["client_id"], app["client_secret"], info["ca_file"],
                     str(concurrency)]
    else:
        env.update({"APP": app["client_id"], "SECRET": app["client_secret"], "AUTHORITY": info["authority"],
                    "CACERT": f"--cacert {info['ca_file']}" if info.get("ca_file") else ""})
        args = ["bash", "-c", CURL_LOOP]
    m = measure(args, env, stdin_text="\n".join(domains) + "\n", server=server)
    if m["code"] != 0:
        raise SystemExit(f"{kind} failed: {m['err'][-2000:]}")
    j = json.loads(m["out"].strip().splitlines()[-1])
    extra = {k: j[k] for k in ("work_wall", "work_cpu") if k in j}
    return result_of(m, j["ok"], j["failed"], j["errors"], extra)


# ---------------------------------------------------------------- load generator

WRK_LUA = r'''
local n = 0
local tenants = {}
for line in io.lines(os.getenv("TENANTS_LIST")) do tenants[#tenants + 1] = line end
request = function()
  n = n + 1
  local t = tenants[(n % #tenants) + 1]
  local body = "grant_type=client_credentials&client_id=" .. os.getenv("APP") ..
    "&client_secret=" .. os.getenv("SECRET_ENC") .. "&scope=https%3A%2F%2Fapi.securitycenter.microsoft.com%2F.default"
  return wrk.format("POST", "/" .. t .. "/oauth2/v2.0/token", {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
'''


def run_wrk(info, domains, concurrency, server, seconds=5):
    app = info["apps"][0]
    lua = os.path.join(WORK, "wrk.lua")
    lst = os.path.join(WORK, "wrk-tenants.txt")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    with open(lst, "w") as f:
        f.write("\n".join(domains) + "\n")
    env = dict(os.environ, TENANTS_LIST=lst, APP=app["client_id"],
               SECRET_ENC=urllib.parse.quote(app["client_secret"], safe=""))
    m = measure(["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds}s", "-s", lua, info["authority"]],
                env, server=server)
    out = m["out"]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    rps = float(rps.group(1)) if rps else 0.0
    requests_done = int(total.group(1)) if total else 0
    good = requests_done - (int(non2xx.group(1)) if non2xx else 0)
    wall = len(domains) / rps if rps else float("nan")
    # Scaled to the time N requests take at this rate, so that the row compares with the others.
    scale = (len(domains) / requests_done) if requests_done else 0.0
    return {"wall": wall, "rps": rps, "requests": requests_done, "ok": None, "failed": None, "errors": {},
            "rss_mib": m["rss_mib"], "cpu": m["cpu"] * scale, "cpu_per_2xx": (m["cpu"] / good) if good else None,
            "server_cpu": m["server_cpu"] * scale if m["server_cpu"] is not None else None,
            "good_fraction": (good / requests_done) if requests_done else None}


# ---------------------------------------------------------------- small things

def startup(binary):
    runs = 200
    t0 = time.perf_counter()
    for _ in range(runs):
        subprocess.run([binary, "--version"], stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) / runs


def one_call(binary, info_tls, domain):
    env = env_for(info_tls)
    app = info_tls["apps"][0]
    m = measure([binary, "token", "--no-cache", "--tenant", domain, "--client-id", app["client_id"], "--authority",
                 info_tls["authority"], "--ca-file", info_tls["ca_file"], "-o", "raw"], env)
    if m["code"] != 0:
        raise SystemExit(f"{binary} token failed: {m['err']}")
    return m


def median_of(runs):
    """Median of every number over the repeated runs; ok/failed/errors from the last run, and an
    ok-count that differs between runs is reported rather than hidden."""
    med = dict(runs[-1])
    for k in ("wall", "rss_mib", "cpu", "cpu_user", "cpu_sys", "server_cpu", "work_wall", "work_cpu"):
        vals = [r[k] for r in runs if r.get(k) is not None]
        if vals:
            med[k] = statistics.median(vals)
    med["runs"] = len(runs)
    med["wall_min"] = min(r["wall"] for r in runs)
    med["wall_max"] = max(r["wall"] for r in runs)
    med["cpu_min"] = min(r["cpu"] for r in runs)
    med["cpu_max"] = max(r["cpu"] for r in runs)
    oks = sorted({r["ok"] for r in runs})
    if len(oks) > 1:
        med["ok_varied"] = oks
    med["all_runs"] = [{k: r.get(k) for k in ("wall", "cpu", "rss_mib", "ok", "failed")} for r in runs]
    return med


def fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}"


def ratio(a, b):
    return None if (a is None or b is None or not b) else a / b


# ---------------------------------------------------------------- main

def main():
    global WORK
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    latencies = [int(x) for x in os.environ.get("BENCH_LATENCIES", "0 2 20").split()]
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    os.makedirs(OUT, exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="mssp-bench-")
    build_launcher()
    started = time.time()
    results = {"machine": {"cores": os.cpu_count(), "loadavg_at_start": os.getloadavg()},
               "binary": BIN, "baseline": BASELINE, "repeat": repeat, "pool_http": POOL_HTTP, "latencies": latencies, "sizes": {}}
    rows = []
    base_rows = []
    counts = {}
    for n in sizes:
        for latency in latencies:
            proc, info, tfile = sandbox(n, latency, False)
            tproc, tinfo, ttfile = sandbox(n, latency, True)
            try:
                domains = tenant_domains(info)
                # The concurrent peers: repeated, interleaved, order reversed every other round.
                concurrent = [
                    ("onboard c=16", lambda: run_onboard(BIN, info, tfile, 16, proc)),
                    ("onboard c=64", lambda: run_onboard(BIN, info, tfile, 64, proc)),
                    ("onboard c=64 (TLS)", lambda: run_onboard(BIN, tinfo, ttfile, 64, tproc)),
                ]
                if BASELINE:
                    concurrent += [
                        ("baseline onboard c=16", lambda: run_onboard(BASELINE, info, tfile, 16, proc)),
                        ("baseline onboard c=64", lambda: run_onboard(BASELINE, info, tfile, 64, proc)),
                        ("baseline onboard c=64 (TLS)", lambda: run_onboard(BASELINE, tinfo, ttfile, 64, tproc)),
                    ]
                concurrent += [
                    ("guide python pool c=16", lambda: run_script("python pool", info, domains, proc, 16)),
                    ("guide python pool c=64", lambda: run_script("python pool", info, domains, proc, 64)),
                    ("msal python pool c=64 (TLS)", lambda: run_script("msal pool", tinfo, domains, tproc, 64)),
                ]
                runs = {name: [] for name, _ in concurrent}
                for i in range(repeat):
                    for name, fn in (concurrent if i % 2 == 0 else reversed(concurrent)):
                        runs[name].append(fn())
                r = {name: median_of(runs[name]) for name, _ in concurrent}
                r["guide python"] = run_script("python", info, domains, proc)
                r["guide curl"] = run_script("curl", info, domains, proc)
                r["msal python (TLS)"] = run_script("msal", tinfo, domains, tproc)
                r["limit: wrk c=16"] = run_wrk(info, domains, 16, proc)
                r["limit: wrk c=64"] = run_wrk(info, domains, 64, proc)
            finally:
                stop(proc)
                stop(tproc)
            results["sizes"][f"{n}@{latency}ms"] = r
            count = len(domains)
            counts[f"{n}@{latency}ms"] = count
            for name, v in r.items():
                c = 64 if "c=64" in name else 16 if "c=16" in name else None
                limit = r[f"limit: wrk c={c}"]["wall"] if c else None
                pool = r[f"guide python pool c={c}"]["wall"] if c else None
                ok = v.get("ok")
                tokens = ok if ok is not None else (count * v["good_fraction"] if v.get("good_fraction") else None)
                rows.append({
                    "tenants": count, "latency": latency, "peer": name, "runs": v.get("runs", 1),
                    "wall": v["wall"], "tokens_s": (tokens / v["wall"]) if tokens else None,
                    "ok": ok, "failed": v.get("failed"),
                    "cpu_ms_token": (1000 * v["cpu"] / tokens) if tokens else None,
                    "server_ms_token": (1000 * v["server_cpu"] / tokens) if tokens and v.get("server_cpu") is not None else None,
                    "rss": v.get("rss_mib"),
                    "vs_py": ratio(r["guide python"]["wall"], v["wall"]),
                    "vs_msal": ratio(r["msal python (TLS)"]["wall"], v["wall"]),
                    "vs_pool": ratio(pool, v["wall"]),
                    "vs_msal_pool": ratio(r["msal python pool c=64 (TLS)"]["wall"], v["wall"]),
                    "vs_limit": ratio(v["wall"], limit),
                })
            if BASELINE:
                for cfg in ("onboard c=16", "onboard c=64", "onboard c=64 (TLS)"):
                    cur, old = r[cfg], r["baseline " + cfg]
                    base_rows.append({
                        "tenants": count, "latency": latency, "config": cfg, "runs": cur["runs"],
                        "cur_wall": cur["wall"], "cur_range": (cur["wall_min"], cur["wall_max"]),
                        "old_wall": old["wall"], "old_range": (old["wall_min"], old["wall_max"]),
                        "wall_ratio": ratio(cur["wall"], old["wall"]),
                        "cur_cpu": 1000 * cur["cpu"] / cur["ok"] if cur["ok"] else None,
                        "old_cpu": 1000 * old["cpu"] / old["ok"] if old["ok"] else None,
                        "cur_rss": cur["rss_mib"], "old_rss": old["rss_mib"],
                        "cur_ok": cur["ok"], "old_ok": old["ok"],
                    })
            print(f"done: {count} tenants, {latency} ms ({time.time() - started:.0f} s so far)", file=sys.stderr)

    tproc, tinfo, _ = sandbox(10, 0, True)
    try:
        domain = "tenant00001.onmicrosoft.com"
        ours = one_call(BIN, tinfo, domain)
        old_one = one_call(BASELINE, tinfo, domain) if BASELINE else None
        msal_one = run_script("msal", tinfo, [domain], None)
    finally:
        stop(tproc)
    results["startup_ms"] = startup(BIN) * 1000
    results["one_call"] = {"mssp-token token (process)": ours["wall"], "msal python (process)": msal_one["wall"]}
    if BASELINE:
        results["baseline_startup_ms"] = startup(BASELINE) * 1000
        results["one_call"]["baseline mssp-token token (process)"] = old_one["wall"]
    results["sandbox_bin"] = SANDBOX_BIN
    results["rss_through_launcher"] = bool(RUSAGE)
    results["seconds"] = time.time() - started
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["rows"] = rows
    results["baseline_rows"] = base_rows
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)

    lines = []
    p = lines.append
    p(f"binary: {BIN}" + (f"; baseline: {BASELINE}" if BASELINE else "") + f"; sandbox: {SANDBOX_BIN}; "
      f"concurrent peers: median of {repeat} runs; python pool HTTP: {POOL_HTTP}; load average at start "
      f"{results['machine']['loadavg_at_start'][0]:.2f}, at end {results['machine']['loadavg_at_end'][0]:.2f}")
    p("")
    p("| tenants | latency | peer | runs | wall s | tokens/s | ok | failed | CPU ms/token | sandbox CPU ms/token "
      "| peak RSS MiB | speed-up vs guide python | vs MSAL | vs python pool (same c) | vs MSAL pool c=64 "
      "| time / limit (same c) |")
    p("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for w in rows:
        p(f"| {w['tenants']} | {w['latency']} ms | {w['peer']} | {w['runs']} | {fmt(w['wall'], 3)} | "
          f"{fmt(w['tokens_s'], 0)} | {'' if w['ok'] is None else w['ok']} | {'' if w['failed'] is None else w['failed']} | "
          f"{fmt(w['cpu_ms_token'], 3)} | {fmt(w['server_ms_token'], 3)} | {fmt(w['rss'])} | "
          f"{fmt(w['vs_py'])} | {fmt(w['vs_msal'])} | {fmt(w['vs_pool'])} | {fmt(w['vs_msal_pool'])} | "
          f"{fmt(w['vs_limit'])} |")
    if base_rows:
        p("")
        p("Current vs baseline (same sandbox, same tenants, interleaved runs; ratio < 1 means the current binary is faster "
          "or cheaper):")
        p("")
        p("| tenants | latency | config | runs | wall s now (min-max) | wall s baseline (min-max) | wall now / baseline "
          "| CPU ms/token now | baseline | CPU now / baseline | peak RSS MiB now | baseline | ok now / baseline |")
        p("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for b in base_rows:
            p(f"| {b['tenants']} | {b['latency']} ms | {b['config']} | {b['runs']} | {fmt(b['cur_wall'], 3)} "
              f"({fmt(b['cur_range'][0], 3)}-{fmt(b['cur_range'][1], 3)}) | {fmt(b['old_wall'], 3)} "
              f"({fmt(b['old_range'][0], 3)}-{fmt(b['old_range'][1], 3)}) | {fmt(b['wall_ratio'])} | "
              f"{fmt(b['cur_cpu'], 3)} | {fmt(b['old_cpu'], 3)} | {fmt(ratio(b['cur_cpu'], b['old_cpu']))} | "
              f"{fmt(b['cur_rss'])} | {fmt(b['old_rss'])} | {b['cur_ok']} / {b['old_ok']} |")
    p("")
    p("Python peers, token work alone (after interpreter start and imports; whole-process figures are above):")
    p("")
    p("| tenants | latency | peer | work wall s | work CPU ms/token | start+import wall s | start+import CPU s |")
    p("|---:|---:|---|---:|---:|---:|---:|")
    for key, r in results["sizes"].items():
        lat = key.split("@")[1]
        for name, v in r.items():
            if "work_wall" in v and v.get("ok"):
                p(f"| {counts[key]} | {lat.replace('ms', ' ms')} | {name} | {fmt(v['work_wall'], 3)} | "
                  f"{fmt(1000 * v['work_cpu'] / v['ok'], 3)} | {fmt(v['wall'] - v['work_wall'])} | "
                  f"{fmt(v['cpu'] - v['work_cpu'])} |")
    p("")
    p(f"start-up (mssp-token --version, mean of 200): {results['startup_ms']:.2f} ms" +
      (f"; baseline {results['baseline_startup_ms']:.2f} ms" if BASELINE else ""))
    p(f"one token over TLS, whole process: mssp-token {ours['wall'] * 1000:.0f} ms ({ours['cpu'] * 1000:.0f} ms CPU)" +
      (f", baseline {old_one['wall'] * 1000:.0f} ms ({old_one['cpu'] * 1000:.0f} ms CPU)" if BASELINE else "") +
      f", MSAL Python {msal_one['wall'] * 1000:.0f} ms ({msal_one['cpu'] * 1000:.0f} ms CPU)")
    p(f"whole bench: {results['seconds']:.0f} s")
    report = "\n".join(lines)
    with open(os.path.join(OUT, "report.md"), "w") as f:
        f.write(report + "\n")
    print(report)
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main()
