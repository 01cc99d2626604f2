#!/usr/bin/env bash
# collect benchmark (issue 12), run on demand (not part of the tests):
#   bash bench/collect.sh [TENANTS] [ALERTS]      (default: 500 2000; plus 100x500 for RSS at a second size)
# Builds release (unless MSSP_TOKEN_BIN is set), installs the peers if missing (requests, wrk), starts
# the sandbox with TENANTS generated tenants and graph_alerts_per_tenant = ALERTS, throttling off, and
# compares in the same run mssp-token collect --source graph-alerts (default concurrency and
# BENCH_CONCURRENCY, default 32) with a community-style Python loop (requests), the same in a thread
# pool, and wrk replaying the same page requests; then a "budgets on" run (Graph's 150 requests per
# minute per tenant). Prints a Markdown report, writes bench/out/collect_results.json and
# bench/out/collect_report.md. Environment: see the docstring of bench/collect_bench.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MSSP_TOKEN_BIN:-}" ]; then
  cargo build --release --locked -p mssp-token
fi
python3 -c 'import requests' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check requests
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
mkdir -p bench/out
env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE python3 bench/collect_bench.py "$@"
