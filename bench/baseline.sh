#!/usr/bin/env bash
# Builds an older mssp-token for the bench's baseline rows, without touching this checkout or its
# target/:  bash bench/baseline.sh [COMMIT] [TARGET_DIR]   (defaults: c2ff054, /tmp/mssp-baseline-target)
# c2ff054 is the last commit before the workspace restructuring. Prints the binary's path; then:
#   BASELINE_BIN=/tmp/mssp-baseline-target/release/mssp-token bash bench/run.sh 100 1000
set -euo pipefail
cd "$(dirname "$0")/.."
rev="${1:-c2ff054}"
target="${2:-/tmp/mssp-baseline-target}"
tree="$(mktemp -d /tmp/mssp-baseline-tree.XXXXXX)"
rmdir "$tree"
git worktree add --detach "$tree" "$rev" >&2
trap 'git worktree remove --force "$tree" >&2' EXIT
(cd "$tree" && CARGO_TARGET_DIR="$target" cargo build --release --locked >&2)
echo "$target/release/mssp-token"
