#!/usr/bin/env bash
# The web client's figures for BENCHMARKS.md (first load, a 10,000-message conversation):
# prints figures, asserts none. Never run by the test suite.
#
#   bash scripts/bench-web.sh
#   MESSAGES=2000 LOADS=3 bash scripts/bench-web.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
NODE_PATH="$(bash scripts/install-browser.sh)"
export NODE_PATH
cargo build --release --locked --bin jim >&2
JIM_BIN="$PWD/target/release/jim" node scripts/bench-web.mjs
