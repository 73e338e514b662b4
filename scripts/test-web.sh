#!/usr/bin/env bash
# The web client's browser tests (tests/web/*.mjs): each starts a real `jim serve` (the debug
# binary, target/debug/jim, which `cargo test` builds) and drives Debian's Chromium through
# playwright-core (both installed by scripts/install-browser.sh when absent). Screenshots go
# to target/web-screenshots/. Exit status: 0 when every test file passed.
#
#   bash scripts/test-web.sh              # all of them
#   bash scripts/test-web.sh chat layout  # tests/web/chat.mjs and tests/web/layout.mjs
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_PATH="$(bash scripts/install-browser.sh)"
export NODE_PATH
if [ ! -x target/debug/jim ]; then
    cargo build --locked --all-targets
fi

files=()
if [ $# -gt 0 ]; then
    for name in "$@"; do files+=("tests/web/$name.mjs"); done
else
    for f in tests/web/*.mjs; do
        [ "$(basename "$f")" = lib.mjs ] || files+=("$f")
    done
fi

failed=()
for f in "${files[@]}"; do
    echo "== web: $f"
    if ! node --test-reporter=spec --test "$f"; then
        failed+=("$f")
    fi
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "web tests FAILED: ${failed[*]}" >&2
    exit 1
fi
echo "web tests: ${#files[@]} passed"
