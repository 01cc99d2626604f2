#!/usr/bin/env bash
# Benchmarks, run on demand (not part of the tests):  bash bench/run.sh [N ...]   (default: 100 1000)
# Builds release, installs the peers if missing (MSAL Python, wrk), starts the sandbox and
# compares, in the same run and on the same tenants, mssp-token onboard against the partner-access
# guide's Python snippet, a loop of the guide's curl command, MSAL Python, and a load generator.
# Prints a Markdown report and writes bench/out/results.json.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
python3 -c 'import msal' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check msal
if ! command -v wrk >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq wrk >/dev/null
fi
mkdir -p bench/out
# MSAL must not pick up a CA bundle from the environment: it gets verify=ca.pem explicitly.
env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE python3 bench/bench.py "$@"
