#!/usr/bin/env python3
"""mssp-token benchmarks: the same N sandbox tenants, every peer in the same run.

Peers (each gets a token per tenant; "+roles" also checks the roles claim):
  onboard c=16 / c=64   mssp-token onboard --require-role Alert.Read.All (token + role check)
  guide python          the partner-access guide's Python snippet (urllib, v1 client_credentials), looped
  guide curl            the guide's curl command, looped in bash
  msal python           MSAL ConfidentialClientApplication.acquire_token_for_client per tenant, over HTTPS
  limit (wrk)           a load generator POSTing the same token requests at the same concurrency

Run through bench/run.sh, which builds release and installs the peers.
"""
import base64
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release", "mssp-token")
OUT = os.path.join(ROOT, "bench", "out")
ROLE = "Alert.Read.All"


def start_sandbox(n, latency_ms, tls, workdir):
    tenants_file = os.path.join(workdir, f"tenants-{n}-{latency_ms}-{int(tls)}.toml")
    args = [BIN, "sandbox", "--tenants", str(n), "--write-tenants", tenants_file]
    if latency_ms:
        args += ["--latency-ms", str(latency_ms)]
    if tls:
        args += ["--tls"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    info = json.loads(proc.stdout.readline())
    return proc, info, tenants_file


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def tenant_domains(info):
    """Every tenant of the tenants file onboard gets, so that every peer does the same work."""
    with open(info["tenants_list_file"]) as f:
        return [l.strip() for l in f if l.strip() and not l.startswith("#")]


def peak_rss_of(args, env=None):
    """Runs one process; returns (wall seconds, its own peak RSS in MiB, exit code, stdout, stderr).
    Output goes to files, not pipes, so a large report can never block the process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return wall, usage.ru_maxrss / 1024.0, proc.returncode, out.read(), err.read()


def env_for(info):
    app = info["apps"][0]
    legacy = next((a for a in info["apps"] if a.get("secret_expired")), None)
    env = dict(os.environ)
    env["AZURE_CLIENT_SECRET"] = app["client_secret"]
    if legacy:
        env["SANDBOX_LEGACY_SECRET"] = legacy["client_secret"]
    env["MSSP_TOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="mssp-bench-cache-")
    for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE"):
        env.pop(k, None)
    return env


def run_onboard(info, tenants_file, concurrency):
    args = [BIN, "onboard", "--tenants", tenants_file, "--authority", info["authority"],
            "--require-role", ROLE, "--concurrency", str(concurrency), "--deadline", "120"]
    if info.get("ca_file"):
        args += ["--ca-file", info["ca_file"]]
    wall, rss, code, out, err = peak_rss_of(args, env_for(info))
    lines = [json.loads(l) for l in out.decode().splitlines() if l.strip()]
    ok = sum(1 for l in lines if l["status"] == "ok")
    if code not in (0, 8) or not lines:
        raise SystemExit(f"onboard failed (exit {code}): {err.decode()[-2000:]}")
    return {"wall": wall, "rss_mib": rss, "results": len(lines), "ok": ok}


GUIDE_PYTHON = r'''
import json, sys, urllib.request, urllib.parse, base64
authority, appId, appSecret = sys.argv[1], sys.argv[2], sys.argv[3]
ok = 0
for tenantId in sys.stdin.read().split():
    # --- the partner-access guide's snippet, verbatim but for the host ---
    url = "%s/%s/oauth2/token" % (authority, tenantId)
    resourceAppIdUri = 'https://api.securitycenter.microsoft.com'
    body = {'resource' : resourceAppIdUri, 'client_id' : appId, 'client_secret' : appSecret, 'grant_type' : 'client_credentials'}
    data = urllib.parse.urlencode(body).encode("utf-8")
    req = urllib.request.Request(url, data)
    try:
        response = urllib.request.urlopen(req)
    except urllib.error.HTTPError as e:
        continue
    jsonResponse = json.loads(response.read())
    aadToken = jsonResponse["access_token"]
    # --- the role check, as the guide has people do on a JWT web site ---
    payload = aadToken.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if "Alert.Read.All" in claims.get("roles", []):
        ok += 1
print(ok)
'''

MSAL_PYTHON = r'''
import sys, msal
authority, appId, appSecret, ca = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
ok = 0
for tenantId in sys.stdin.read().split():
    app = msal.ConfidentialClientApplication(
        appId, authority="%s/%s" % (authority, tenantId), client_credential=appSecret,
        verify=ca, instance_discovery=False)
    try:
        result = app.acquire_token_for_client(scopes=["https://api.securitycenter.microsoft.com/.default"])
    except Exception as e:
        continue
    if "access_token" in result:
        ok += 1
print(ok)
'''

CURL_LOOP = r'''
ok=0
while read -r tenant; do
  if curl -sf -X POST -d "resource=https://api.securitycenter.microsoft.com&client_id=$APP&client_secret=$SECRET&grant_type=client_credentials" \
       $CACERT "$AUTHORITY/$tenant/oauth2/token" -o /dev/null; then ok=$((ok+1)); fi
done
echo $ok
'''


def run_script(kind, info, domains):
    app = info["apps"][0]
    stdin_data = "\n".join(domains).encode()
    env = env_for(info)
    if kind == "python":
        args = [sys.executable, "-c", GUIDE_PYTHON, info["authority"], app["client_id"], app["client_secret"]]
    elif kind == "msal":
        args = [sys.executable, "-c", MSAL_PYTHON, info["authority"], app["client_id"], app["client_secret"], info["ca_file"]]
    else:
        env.update({"APP": app["client_id"], "SECRET": app["client_secret"], "AUTHORITY": info["authority"],
                    "CACERT": f"--cacert {info['ca_file']}" if info.get("ca_file") else ""})
        args = ["bash", "-c", CURL_LOOP]
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(stdin_data)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed: {err.decode()[-2000:]}")
    return {"wall": wall, "ok": int(out.decode().strip() or 0)}


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


def run_wrk(info, domains, concurrency, seconds=5):
    app = info["apps"][0]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua, \
         tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as lst:
        lua.write(WRK_LUA)
        lst.write("\n".join(domains) + "\n")
    env = dict(os.environ, TENANTS_LIST=lst.name, APP=app["client_id"],
               SECRET_ENC=urllib.parse.quote(app["client_secret"], safe=""))
    out = subprocess.run(["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{seconds}s", "-s", lua.name,
                          info["authority"]], env=env, capture_output=True, text=True).stdout
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return {"rps": float(m.group(1)) if m else 0.0}


def startup():
    runs = 200
    t0 = time.perf_counter()
    for _ in range(runs):
        subprocess.run([BIN, "--version"], stdout=subprocess.DEVNULL)
    return (time.perf_counter() - t0) / runs


def one_call(info_tls, domain):
    env = env_for(info_tls)
    app = info_tls["apps"][0]
    ours, _, code, _, err = peak_rss_of([BIN, "token", "--no-cache", "--tenant", domain, "--client-id", app["client_id"], "--authority",
                                          info_tls["authority"], "--ca-file", info_tls["ca_file"], "-o", "raw"], env)
    if code != 0:
        raise SystemExit(f"token failed: {err.decode()}")
    msal = run_script("msal", info_tls, [domain])["wall"]
    return ours, msal


def fmt(x):
    return f"{x:.2f}"


def main():
    sizes = [int(a) for a in sys.argv[1:]] or [100, 1000]
    latencies = [int(x) for x in os.environ.get("BENCH_LATENCIES", "0 2 20").split()]
    os.makedirs(OUT, exist_ok=True)
    work = tempfile.mkdtemp(prefix="mssp-bench-")
    results = {"sizes": {}, "machine": {"cores": os.cpu_count()}}
    rows = []
    for n in sizes:
        for latency in latencies:
            proc, info, tfile = start_sandbox(n, latency, False, work)
            tproc, tinfo, ttfile = start_sandbox(n, latency, True, work)
            try:
                domains = tenant_domains(info)
                r = {}
                r["onboard c=16"] = run_onboard(info, tfile, 16)
                r["onboard c=64"] = run_onboard(info, tfile, 64)
                r["onboard c=64 (TLS)"] = run_onboard(tinfo, ttfile, 64)
                r["guide python"] = run_script("python", info, domains)
                r["guide curl"] = run_script("curl", info, domains)
                r["msal python (TLS)"] = run_script("msal", tinfo, domains)
                w = run_wrk(info, domains, 16)
                r["limit: wrk c=16"] = {"wall": len(domains) / w["rps"] if w["rps"] else float("nan"), "rps": w["rps"]}
                w64 = run_wrk(info, domains, 64)
                r["limit: wrk c=64"] = {"wall": len(domains) / w64["rps"] if w64["rps"] else float("nan"), "rps": w64["rps"]}
            finally:
                stop(proc)
                stop(tproc)
            results["sizes"][f"{n}@{latency}ms"] = r
            count = len(domains)
            for name, v in r.items():
                limit = r["limit: wrk c=64"]["wall"] if "c=64" in name else r["limit: wrk c=16"]["wall"]
                rows.append((count, latency, name, v["wall"], count / v["wall"], v.get("rss_mib"),
                             r["guide python"]["wall"] / v["wall"], r["guide curl"]["wall"] / v["wall"],
                             r["msal python (TLS)"]["wall"] / v["wall"], v["wall"] / limit,
                             v.get("ok", v.get("results"))))
    tproc, tinfo, _ = start_sandbox(10, 0, True, work)
    try:
        ours, msal = one_call(tinfo, "tenant00001.onmicrosoft.com")
    finally:
        stop(tproc)
    results["startup_ms"] = startup() * 1000
    results["one_call"] = {"mssp-token token (process)": ours, "msal python (process)": msal}
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=2)

    print("| tenants | latency | peer | wall s | tenants/s | peak RSS MiB | speed-up vs guide python | vs guide curl | vs MSAL | time / limit (same c) | ok |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for n, lat, name, wall, tps, rss, vs_py, vs_curl, vs_msal, vs_limit, ok in rows:
        print(f"| {n} | {lat} ms | {name} | {fmt(wall)} | {tps:.0f} | {'' if rss is None else fmt(rss)} | "
              f"{fmt(vs_py)} | {fmt(vs_curl)} | {fmt(vs_msal)} | {fmt(vs_limit)} | {'' if ok is None else ok} |")
    print()
    print(f"start-up (mssp-token --version, mean of 200): {results['startup_ms']:.2f} ms")
    print(f"one token over TLS, whole process: mssp-token {ours * 1000:.0f} ms, MSAL Python {msal * 1000:.0f} ms")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
