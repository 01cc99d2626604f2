#!/usr/bin/env python3
"""mssp-token collect benchmark (issue 12): every peer in the same run, on the same sandbox tenants.

Usage (through bench/collect.sh, which builds release and checks the peers):
    python3 bench/collect_bench.py [TENANTS] [ALERTS]        (default 500 2000)

Part 1, speed (sandbox with graph_requests_per_minute = 0, i.e. throttling off): the source
graph-alerts of every reachable tenant, first run (--since 60d; the sandbox's alerts lie in the 30
days before its start), written as NDJSON to a file:
  collect c=8 (default)    mssp-token collect --source graph-alerts --out FILE --state DIR
  collect c=C              the same with --concurrency C (C = BENCH_CONCURRENCY, default 32)
  python loop              a community-style per-tenant loop with requests: a client-credentials token
                           per tenant from the sandbox's token endpoint, then GET
                           /v1.0/security/alerts_v2?$filter=lastUpdateDateTime ge ...&$top=1000,
                           following @odata.nextLink, json.dumps of every alert to NDJSON
  python pool c=C          the same function per tenant in a ThreadPoolExecutor of C workers
                           (a requests.Session per worker thread, one output file under a lock)
  limit: wrk c=C           wrk replaying the very page requests the python loop made (its URLs,
                           with tokens fetched beforehand), for BENCH_WRK_SECS seconds: the rate
                           the sandbox can serve on this machine; wrk neither parses nor writes

Part 2, budgets on (BENCH_BUDGET=0 skips it): a second sandbox with graph_requests_per_minute =
150 (Graph's limit and the sandbox's default), BT tenants x BA alerts collected with --page-size P
(BENCH_BUDGET_TENANTS / _ALERTS / _PAGE, default 20 x 2000 / 10: 200 requests per tenant, more than
one minute's budget), by collect (its own budget of 150 a minute per tenant and API) and by the
python pool at the same concurrency and page size (no budget; on a 429 it sleeps Retry-After and
asks again, as the polite community scripts do). 429 counts come from the sandbox's
/sandbox/stats and from the python script's own count.

Every peer but wrk runs as its own child process through bench/rusage.c: wall time, its own peak
RSS and user+sys CPU (wait4). The sandbox's CPU over the same interval is read from /proc.
"reachable" tenants: the sandbox's generated mix (MIX_RULE) gives Graph alerts to tenants with
(49*i) mod 100 < 90 (consented, with or without Incident.Read.All); the others have no consent for
the main app (no token), so every peer is given the reachable ones only and all must write
exactly reachable x ALERTS records (checked: count and the set of alert ids).

Environment: MSSP_TOKEN_BIN (default target/release/mssp-token), BENCH_CONCURRENCY (32),
BENCH_REPEAT (1: runs of the concurrent peers, medians reported), BENCH_WRK_SECS (10),
BENCH_SKIP_LOOP=1 (skip the sequential python loop), BENCH_BUDGET (1), BENCH_BUDGET_TENANTS (20),
BENCH_BUDGET_ALERTS (2000), BENCH_BUDGET_PAGE (10), BENCH_SIZES ("100x500 T x A": the extra
sizes, for RSS at two sizes; the TENANTS x ALERTS of the arguments is always run).
Prints a Markdown report; writes bench/out/collect_results.json and bench/out/collect_report.md.
"""
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
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.abspath(os.environ.get("MSSP_TOKEN_BIN") or os.path.join(ROOT, "target", "release", "mssp-token"))
OUT = os.path.join(ROOT, "bench", "out")
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONC = int(os.environ.get("BENCH_CONCURRENCY", "32"))
REPEAT = max(1, int(os.environ.get("BENCH_REPEAT", "1")))
WRK_SECS = int(os.environ.get("BENCH_WRK_SECS", "10"))
SINCE = "60d"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
WORK = None
RUSAGE = None


# ---------------------------------------------------------------- sandbox

def builtin_config():
    """The sandbox's built-in tenants and apps (BUILTIN in data/config.rs), as a JSON object."""
    src = open(os.path.join(ROOT, "crates", "entra-sandbox", "src", "data", "config.rs")).read()
    m = re.search(r'const BUILTIN: &str = r#"(.*?)"#;', src, re.S)
    return json.loads(m.group(1))


def start_sandbox(tenants, alerts, per_minute):
    cfg = builtin_config()
    cfg["graph_alerts_per_tenant"] = alerts
    cfg["graph_requests_per_minute"] = per_minute
    path = os.path.join(WORK, f"sandbox-{tenants}-{alerts}-{per_minute}.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    tfile = os.path.join(WORK, f"tenants-{tenants}-{alerts}-{per_minute}.toml")
    proc = subprocess.Popen([BIN, "sandbox", "--tenants", str(tenants), "--write-tenants", tfile, "--config", path],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    try:
        info = json.loads(line)
    except ValueError:
        stop(proc)
        raise SystemExit(f"the sandbox did not start (first line: {line[:300]!r})")
    return proc, info


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def proc_cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def stats(info):
    with urllib.request.urlopen(info["stats_url"]) as r:
        return json.loads(r.read())


def reachable(n):
    """Generated tenants whose main app has Alert.Read.All (hence SecurityAlert.Read.All on Graph)."""
    return [f"tenant{i:05}.onmicrosoft.com" for i in range(1, n + 1) if (49 * i) % 100 < 90]


# ---------------------------------------------------------------- measuring one child process

def build_launcher():
    global RUSAGE
    exe = os.path.join(WORK, "rusage")
    r = subprocess.run(["cc", "-O2", "-o", exe, os.path.join(ROOT, "bench", "rusage.c")], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"cannot build bench/rusage.c: {r.stderr[:300]}")
    RUSAGE = exe


def measure(args, env=None, stdin_text=None, server=None):
    with tempfile.TemporaryFile() as inp, tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        if stdin_text is not None:
            inp.write(stdin_text.encode())
            inp.seek(0)
        ru_file = os.path.join(WORK, "rusage.out")
        if os.path.exists(ru_file):
            os.unlink(ru_file)
        s0 = proc_cpu(server.pid) if server else None
        t0 = time.perf_counter()
        proc = subprocess.Popen([RUSAGE, ru_file] + list(args), env=env, stdin=inp, stdout=out, stderr=err)
        os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        s1 = proc_cpu(server.pid) if server else None
        with open(ru_file) as f:
            c, u, s_, m = f.read().split()
        out.seek(0)
        err.seek(0)
        return {"wall": wall, "rss_mib": int(m) / 1024.0, "cpu": float(u) + float(s_), "cpu_user": float(u),
                "cpu_sys": float(s_), "code": int(c), "out": out.read().decode(errors="replace"),
                "err": err.read().decode(errors="replace"), "server_cpu": (s1 - s0) if server else None}


def env_for(info):
    env = dict(os.environ)
    env["AZURE_CLIENT_SECRET"] = info["apps"][0]["client_secret"]
    env["MSSP_TOKEN_CACHE_DIR"] = tempfile.mkdtemp(prefix="cache-", dir=WORK)  # fresh: no cached tokens
    for k in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_AUTHORITY_HOST", "SSL_CERT_FILE"):
        env.pop(k, None)
    return env


def check_output(path, ids_expected):
    """Lines and distinct alert ids in an NDJSON file (collect's lines may wrap the record)."""
    lines, ids = 0, set()
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            lines += 1
            j = json.loads(line)
            rec = j["record"] if isinstance(j.get("record"), dict) else j  # collect wraps the record
            ids.add((rec.get("id"), rec.get("lastUpdateDateTime")))
    return lines, ids


# ---------------------------------------------------------------- peers

def run_collect(info, tlist, concurrency, server, page_size=None, tag=""):
    out = os.path.join(WORK, f"collect{tag}.ndjson")
    state = os.path.join(WORK, f"state{tag}")
    report = os.path.join(WORK, f"report{tag}.ndjson")
    for p in (out, report):
        if os.path.exists(p):
            os.unlink(p)
    shutil.rmtree(state, ignore_errors=True)
    args = [BIN, "collect", "--tenants", tlist, "--source", "graph-alerts", "--since", SINCE, "--out", out,
            "--state", state, "--report", report, "--client-id", info["apps"][0]["client_id"],
            "--authority", info["authority"], "--base-url", info["api_base"], "--deadline", "3600"]
    if concurrency is not None:
        args += ["--concurrency", str(concurrency)]
    if page_size:
        args += ["--page-size", str(page_size)]
    m = measure(args, env_for(info), server=server)
    if m["code"] != 0:
        print(f"warning: collect exited {m['code']}: {m['err'][-1500:]}", file=sys.stderr)
    statuses = {}
    if os.path.exists(report):
        for l in open(report):
            if l.strip():
                s = json.loads(l).get("status")
                statuses[s] = statuses.get(s, 0) + 1
    m["statuses"] = statuses
    m["outfile"] = out
    m["summary"] = [l for l in m["err"].splitlines() if l.startswith("collect:") or l.startswith("  graph-alerts:")
                    or "error" in l.lower()][:4]
    return m


PY_GRAPH = r'''
import json, resource, sys, threading, time
import requests
from concurrent.futures import ThreadPoolExecutor
authority, base, appId, appSecret, since, top, conc, outPath, urlLog = sys.argv[1:10]
top, conc = int(top), int(conc)
tenants = sys.stdin.read().split()
def _cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
w0, c0 = time.perf_counter(), _cpu()
local = threading.local()
lock = threading.Lock()
out = open(outPath, "w")
log = open(urlLog, "w") if urlLog != "-" else None
counts = {"records": 0, "pages": 0, "throttled": 0, "failed": 0}

def session():
    if not hasattr(local, "s"):
        local.s = requests.Session()
    return local.s

def collect(tenantId):
    # --- the usual script: a token per tenant, then the alerts, page after page ---
    s = session()
    r = s.post("%s/%s/oauth2/v2.0/token" % (authority, tenantId), data={
        "grant_type": "client_credentials", "client_id": appId, "client_secret": appSecret,
        "scope": "https://graph.microsoft.com/.default"}, timeout=60)
    if r.status_code != 200:
        with lock:
            counts["failed"] += 1
        return
    token = r.json()["access_token"]
    headers = {"Authorization": "Bearer " + token}
    url = "%s/v1.0/security/alerts_v2?$filter=lastUpdateDateTime ge %s&$top=%d" % (base, since, top)
    throttled = pages = n = 0
    while url:
        resp = s.get(url, headers=headers, timeout=120)
        if resp.status_code == 429:
            throttled += 1
            time.sleep(int(resp.headers.get("Retry-After", "1")))
            continue
        if resp.status_code != 200:
            with lock:
                counts["failed"] += 1
            return
        if log is not None:
            with lock:
                log.write("%s\t%s\n" % (resp.request.path_url, token))
        data = resp.json()
        lines = "".join(json.dumps(a) + "\n" for a in data["value"])
        with lock:
            out.write(lines)
        n += len(data["value"])
        pages += 1
        url = data.get("@odata.nextLink")
    with lock:
        counts["records"] += n
        counts["pages"] += pages
        counts["throttled"] += throttled

if conc <= 1:
    for t in tenants:
        collect(t)
else:
    with ThreadPoolExecutor(max_workers=conc) as pool:
        list(pool.map(collect, tenants))
out.close()
if log is not None:
    log.close()
counts.update({"work_wall": time.perf_counter() - w0, "work_cpu": _cpu() - c0})
print(json.dumps(counts))
'''


def since_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60 * 86400))


def run_python(info, domains, concurrency, server, top=1000, tag="", url_log=None):
    out = os.path.join(WORK, f"python{tag}.ndjson")
    app = info["apps"][0]
    args = [sys.executable, "-c", PY_GRAPH, info["authority"], info["api_base"], app["client_id"],
            app["client_secret"], since_iso(), str(top), str(concurrency), out, url_log or "-"]
    m = measure(args, env_for(info), stdin_text="\n".join(domains) + "\n", server=server)
    if m["code"] != 0:
        raise SystemExit(f"python peer failed: {m['err'][-2000:]}")
    m.update(json.loads(m["out"].strip().splitlines()[-1]))
    m["outfile"] = out
    return m


WRK_LUA = r'''
local reqs = {}
for line in io.lines(os.getenv("URL_LOG")) do
  local path, token = line:match("([^\t]+)\t(.+)")
  reqs[#reqs + 1] = wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
local n = 0
request = function()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
'''


def run_wrk(info, url_log, concurrency, server):
    lua = os.path.join(WORK, "collect_wrk.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA)
    env = dict(os.environ, URL_LOG=url_log)
    m = measure(["wrk", "-t", "2", "-c", str(concurrency), "-d", f"{WRK_SECS}s", "--timeout", "30s", "-s", lua,
                 info["api_base"]], env, server=server)
    out = m["out"]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    m["rps"] = float(rps.group(1)) if rps else 0.0
    m["requests"] = int(total.group(1)) if total else 0
    m["non2xx"] = int(non2xx.group(1)) if non2xx else 0
    return m


# ---------------------------------------------------------------- parts

def median_of(runs):
    med = dict(runs[-1])
    for k in ("wall", "rss_mib", "cpu", "server_cpu", "work_wall", "work_cpu"):
        vals = [r[k] for r in runs if r.get(k) is not None]
        if vals:
            med[k] = statistics.median(vals)
    med["runs"] = len(runs)
    med["walls"] = [r["wall"] for r in runs]
    return med


def speed(n, alerts):
    proc, info = start_sandbox(n, alerts, 0)
    rows = []
    try:
        assert info["graph_requests_per_minute"] == 0, info["graph_requests_per_minute"]
        domains = reachable(n)
        expected = len(domains) * alerts
        tlist = os.path.join(WORK, f"reachable-{n}.txt")
        with open(tlist, "w") as f:
            f.write("\n".join(domains) + "\n")
        url_log = os.path.join(WORK, f"urls-{n}.tsv")
        ref_ids = None
        peers = [
            ("collect c=8 (default)", lambda i: run_collect(info, tlist, None, proc, tag=f"-{n}-8")),
            (f"collect c={CONC}", lambda i: run_collect(info, tlist, CONC, proc, tag=f"-{n}-{CONC}")),
            (f"python pool c={CONC}", lambda i: run_python(info, domains, CONC, proc, tag=f"-{n}-pool")),
        ]
        runs = {name: [] for name, _ in peers}
        checked = {}
        for i in range(REPEAT):
            for name, fn in (peers if i % 2 == 0 else list(reversed(peers))):
                s0 = stats(info)
                m = fn(i)
                m["api_requests"] = stat_diff(s0, stats(info)).get("requests.api")
                if name not in checked:
                    lines, ids = check_output(m["outfile"], None)
                    checked[name] = (lines, len(ids), ids)
                os.unlink(m["outfile"])
                runs[name].append(m)
                print(f"  {n}x{alerts} {name}: {m['wall']:.2f} s", file=sys.stderr)
        results = {name: median_of(r) for name, r in runs.items()}
        if os.environ.get("BENCH_SKIP_LOOP") != "1":
            s0 = stats(info)
            m = run_python(info, domains, 1, proc, tag=f"-{n}-loop", url_log=url_log)
            m["api_requests"] = stat_diff(s0, stats(info)).get("requests.api")
            lines, ids = check_output(m["outfile"], None)
            checked["python loop"] = (lines, len(ids), ids)
            os.unlink(m["outfile"])
            results["python loop"] = m
            print(f"  {n}x{alerts} python loop: {m['wall']:.2f} s", file=sys.stderr)
        else:
            run_python(info, domains[:50], 1, proc, tag=f"-{n}-urls", url_log=url_log)
        w = run_wrk(info, url_log, CONC, proc)
        pages_per_record = sum(1 for _ in open(url_log))
        records_logged = None
        st = stats(info)
        # the same set of (id, lastUpdateDateTime) for every peer
        ref = None
        for name, (lines, distinct, ids) in checked.items():
            if ref is None:
                ref = ids
            results[name]["lines"] = lines
            results[name]["distinct"] = distinct
            results[name]["same_ids"] = ids == ref
        for name, r in results.items():
            recs = r["lines"]
            rows.append({
                "size": f"{n}x{alerts}", "tenants": len(domains), "peer": name, "runs": r.get("runs", 1),
                "wall": r["wall"], "records": recs, "expected": expected, "distinct": r["distinct"],
                "same_ids": r["same_ids"], "rec_s": recs / r["wall"], "rss": r["rss_mib"],
                "cpu_ms_1k": 1000 * r["cpu"] / (recs / 1000) if recs else None,
                "server_ms_1k": 1000 * r["server_cpu"] / (recs / 1000) if recs else None,
                "work_wall": r.get("work_wall"), "work_cpu": r.get("work_cpu"),
                "statuses": r.get("statuses"), "summary": r.get("summary"), "code": r["code"],
                "cpu_user": r.get("cpu_user"), "cpu_sys": r.get("cpu_sys"), "api_requests": r.get("api_requests"),
            })
        # wrk: the page requests of the python loop; records per page from the same pages
        rec_per_page = expected / max(1, results.get("python loop", {}).get("pages", 0) or
                                      (len(domains) * -(-alerts // 1000)))
        rows.append({
            "size": f"{n}x{alerts}", "tenants": len(domains), "peer": f"limit: wrk c={CONC} ({WRK_SECS} s)",
            "runs": 1, "wall": expected / (w["rps"] * rec_per_page) if w["rps"] else None,
            "records": None, "expected": expected, "distinct": None, "same_ids": None,
            "rec_s": w["rps"] * rec_per_page, "rss": w["rss_mib"],
            "cpu_ms_1k": 1000 * w["cpu"] / (w["requests"] * rec_per_page / 1000) if w["requests"] else None,
            "server_ms_1k": 1000 * w["server_cpu"] / (w["requests"] * rec_per_page / 1000) if w["requests"] else None,
            "rps": w["rps"], "requests": w["requests"], "non2xx": w["non2xx"], "code": w["code"],
        })
        return rows, {"stats": st, "pages_logged": pages_per_record, "records_per_page": rec_per_page}
    finally:
        stop(proc)


def budgets(bt, ba, page):
    proc, info = start_sandbox(bt, ba, 150)
    out = {}
    try:
        assert info["graph_requests_per_minute"] == 150
        domains = reachable(bt)
        tlist = os.path.join(WORK, f"reachable-budget-{bt}.txt")
        with open(tlist, "w") as f:
            f.write("\n".join(domains) + "\n")
        s0 = stats(info)
        m = run_collect(info, tlist, CONC, proc, page_size=page, tag="-budget")
        s1 = stats(info)
        lines, ids = check_output(m["outfile"], None)
        out["collect"] = {"wall": m["wall"], "records": lines, "distinct": len(ids), "rss": m["rss_mib"],
                          "cpu": m["cpu"], "server_cpu": m["server_cpu"], "code": m["code"],
                          "statuses": m["statuses"], "summary": m["summary"], "stats_before": s0, "stats_after": s1}
        print(f"  budget collect: {m['wall']:.1f} s", file=sys.stderr)
        # the sandbox's windows are one minute: let collect's window pass before the next peer
        time.sleep(61)
        s2 = stats(info)
        p = run_python(info, domains, CONC, proc, top=page, tag="-budget")
        s3 = stats(info)
        plines, pids = check_output(p["outfile"], None)
        out["python"] = {"wall": p["wall"], "records": plines, "distinct": len(pids), "rss": p["rss_mib"],
                         "cpu": p["cpu"], "server_cpu": p["server_cpu"], "throttled": p["throttled"],
                         "pages": p["pages"], "stats_before": s2, "stats_after": s3}
        out["same_ids"] = ids == pids
        out["tenants"] = len(domains)
        out["expected"] = len(domains) * ba
        out["requests_per_tenant"] = -(-ba // page)
        print(f"  budget python pool: {p['wall']:.1f} s, {p['throttled']} x 429", file=sys.stderr)
    finally:
        stop(proc)
    return out


# ---------------------------------------------------------------- report

def fmt(x, d=2):
    return "" if x is None else f"{x:.{d}f}"


def stat_diff(a, b):
    """Counters that changed between two /sandbox/stats answers (flattened)."""
    def flat(v, p=""):
        o = {}
        if isinstance(v, dict):
            for k, x in v.items():
                o.update(flat(x, f"{p}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            o[p[:-1]] = v
        return o
    fa, fb = flat(a), flat(b)
    return {k: fb[k] - fa.get(k, 0) for k in fb if k != "uptime_secs" and fb[k] != fa.get(k, 0)}


def main():
    global WORK
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    alerts = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    extra = os.environ.get("BENCH_SIZES", "100x500")
    sizes = [tuple(int(x) for x in s.split("x")) for s in extra.split() if s] + [(n, alerts)]
    sizes = list(dict.fromkeys(sizes))
    os.makedirs(OUT, exist_ok=True)
    WORK = tempfile.mkdtemp(prefix="mssp-collect-bench-")
    build_launcher()
    started = time.time()
    results = {"machine": {"cores": os.cpu_count(), "loadavg_at_start": os.getloadavg()}, "binary": BIN,
               "concurrency": CONC, "repeat": REPEAT, "rows": [], "sizes": {}}
    try:
        for (t, a) in sizes:
            rows, extra_info = speed(t, a)
            results["rows"] += rows
            results["sizes"][f"{t}x{a}"] = extra_info
        if os.environ.get("BENCH_BUDGET", "1") != "0":
            bt = int(os.environ.get("BENCH_BUDGET_TENANTS", "20"))
            ba = int(os.environ.get("BENCH_BUDGET_ALERTS", "2000"))
            bp = int(os.environ.get("BENCH_BUDGET_PAGE", "10"))
            results["budget"] = budgets(bt, ba, bp)
            results["budget"].update({"tenants_generated": bt, "alerts": ba, "page": bp})
    finally:
        shutil.rmtree(WORK, ignore_errors=True)
    results["seconds"] = time.time() - started
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    with open(os.path.join(OUT, "collect_results.json"), "w") as f:
        json.dump(results, f, indent=2, default=str)

    lines = []
    p = lines.append
    p(f"binary: {BIN}; {os.cpu_count()} cores; concurrent peers: median of {REPEAT} run(s); load average at start "
      f"{results['machine']['loadavg_at_start'][0]:.2f}, at end {results['machine']['loadavg_at_end'][0]:.2f}")
    p("")
    p("| tenants x alerts | reachable tenants | peer | wall s | records/s | records (expected) | same ids as collect "
      "| peak RSS MiB | client CPU ms / 1000 records | sandbox CPU ms / 1000 records | time / limit |")
    p("|---|---:|---|---:|---:|---:|---|---:|---:|---:|---:|")
    for r in results["rows"]:
        lim = next((x for x in results["rows"] if x["size"] == r["size"] and x["peer"].startswith("limit")), None)
        rec = "" if r["records"] is None else f"{r['records']} ({r['expected']})"
        p(f"| {r['size']} | {r['tenants']} | {r['peer']} | {fmt(r['wall'])} | {fmt(r['rec_s'], 0)} | {rec} | "
          f"{'' if r['same_ids'] is None else ('yes' if r['same_ids'] else 'NO')} | {fmt(r['rss'], 1)} | "
          f"{fmt(r['cpu_ms_1k'], 1)} | {fmt(r['server_ms_1k'], 1)} | "
          f"{fmt(r['wall'] / lim['wall']) if lim and lim['wall'] and r['wall'] else ''} |")
    p("")
    for r in results["rows"]:
        if r["peer"].startswith("limit"):
            p(f"{r['size']}: wrk {r['requests']} page requests in {WRK_SECS} s = {r['rps']:.1f} pages/s "
              f"({r['non2xx']} non-2xx), {results['sizes'][r['size']]['records_per_page']:.0f} records per page")
        if r.get("work_wall"):
            p(f"{r['size']} {r['peer']}: python work alone (after start-up and imports) {r['work_wall']:.2f} s wall, "
              f"{1000 * r['work_cpu'] / (r['records'] / 1000):.1f} CPU ms / 1000 records")
        if r.get("api_requests"):
            p(f"{r['size']} {r['peer']}: {r['api_requests']} Graph page requests (sandbox stats), "
              f"{r['records'] / r['api_requests']:.0f} records per request")
        if r.get("statuses") is not None:
            p(f"{r['size']} {r['peer']}: exit {r['code']}, tenant results {r['statuses']}, user/sys CPU "
              f"{fmt(r['cpu_user'])}/{fmt(r['cpu_sys'])} s; {' / '.join(r['summary'] or [])[-300:]}")
    b = results.get("budget")
    if b:
        c, y = b["collect"], b["python"]
        dc = stat_diff(c["stats_before"], c["stats_after"])
        dp = stat_diff(y["stats_before"], y["stats_after"])
        p("")
        p(f"Budgets on: sandbox graph_requests_per_minute=150; {b['tenants']} reachable tenants (of "
          f"{b['tenants_generated']}) x {b['alerts']} alerts, page size {b['page']} "
          f"({b['requests_per_tenant']} pages per tenant), concurrency {CONC}")
        p("")
        p("| peer | wall s | records (expected) | same ids | 429 answered (client count) | sandbox stats delta | peak RSS MiB "
          "| client CPU s |")
        p("|---|---:|---:|---|---:|---|---:|---:|")
        p(f"| collect --page-size {b['page']} c={CONC} | {fmt(c['wall'], 1)} | {c['records']} ({b['expected']}) | "
          f"{'yes' if b['same_ids'] else 'NO'} | n/a | {json.dumps(dc)} | {fmt(c['rss'], 1)} | {fmt(c['cpu'])} |")
        p(f"| python pool c={CONC}, $top={b['page']}, sleeps Retry-After on 429 | {fmt(y['wall'], 1)} | "
          f"{y['records']} ({b['expected']}) | | {y['throttled']} | {json.dumps(dp)} | {fmt(y['rss'], 1)} | "
          f"{fmt(y['cpu'])} |")
        p("")
        p(f"collect: exit {c['code']}, tenant results {c['statuses']}; {' / '.join(c['summary'])[-300:]}")
    p(f"whole bench: {results['seconds']:.0f} s")
    report = "\n".join(lines)
    with open(os.path.join(OUT, "collect_report.md"), "w") as f:
        f.write(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
