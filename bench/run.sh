#!/usr/bin/env bash
# Benchmarks, run on demand (not part of the tests):  bash bench/run.sh [N ...]   (default: 100 1000)
# Builds release, installs the peers if missing (MSAL Python, requests, wrk), starts the sandbox and
# compares, in the same run and on the same tenants, mssp-token onboard against the partner-access
# guide's Python snippet (sequential, and in a thread pool of onboard's concurrency), a loop of the
# guide's curl command, MSAL Python (sequential, and in a thread pool), and a load generator, with
# wall time, tokens/s, failures, peak RSS and the client process's own CPU per token.
# Prints a Markdown report and writes bench/out/results.json and bench/out/report.md.
#
# Environment:
#   BASELINE_BIN=/path/to/old/mssp-token   adds "baseline onboard" rows and a current-vs-baseline table
#                                          (build one with: bash bench/baseline.sh <commit>)
#   MSSP_TOKEN_BIN=/path/to/mssp-token     binary under test; skips the release build here
#   SANDBOX_BIN=/path/to/mssp-token        binary that runs the sandbox (default: the binary under test,
#                                          then the baseline if that one cannot start a sandbox)
#   BENCH_LATENCIES="0 2 20"               sandbox latency per token answer, ms
#   BENCH_REPEAT=3                         runs of each concurrent peer (medians are reported)
#   BENCH_POOL_HTTP=session                the Python pool peer: a requests.Session per thread, or "post"
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MSSP_TOKEN_BIN:-}" ]; then
  cargo build --release --locked
fi
python3 -c 'import msal, requests' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check msal requests
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
mkdir -p bench/out
# MSAL must not pick up a CA bundle from the environment: it gets verify=ca.pem explicitly.
env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE python3 bench/bench.py "$@"
