#!/usr/bin/env bash
# Fuzz the HTTP API with schemathesis against the OpenAPI document it serves: a fresh
# `jim serve` (embedded profile, empty temp data dir, captcha off, bcrypt cost 4) on a free
# port, one registered user whose token authenticates every request, all phases and checks.
# Exits non-zero on any failure the run reports.
#
#   scripts/fuzz-api.sh                      # short run (test command): FUZZ_SECONDS=60
#   FUZZ_SECONDS=300 scripts/fuzz-api.sh     # before a release
#   JIM=target/release/jim scripts/fuzz-api.sh -n 50   # given binary; extra args go to
#                                                      # `schemathesis run`
#
# schemathesis is installed into a virtualenv outside the checkout (FUZZ_VENV, default
# ~/.cache/jim-fuzz-venv) the first time; SCHEMATHESIS_VERSION pins it. The report (JUnit
# and the failing cases as pytest code) goes to target/fuzz-api/.
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_VENV="${FUZZ_VENV:-$HOME/.cache/jim-fuzz-venv}"
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"
OUT="$PWD/target/fuzz-api"

if [ -z "${JIM:-}" ]; then
    cargo build --locked --bin jim
    JIM="target/debug/jim"
fi
[ -x "$JIM" ] || { echo "no jim binary at $JIM" >&2; exit 2; }

if [ ! -x "$FUZZ_VENV/bin/schemathesis" ]; then
    echo "installing schemathesis $SCHEMATHESIS_VERSION into $FUZZ_VENV" >&2
    python3 -m venv "$FUZZ_VENV"
    "$FUZZ_VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi

# A free port: bind port 0, read what the kernel gave, let it go.
PORT="${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
URL="http://127.0.0.1:$PORT"
DATA="$(mktemp -d)"
mkdir -p "$OUT"
rm -rf "$OUT/report"
SERVER_PID=""

cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$DATA"
}
trap cleanup EXIT

# Rate limits stay at their defaults except the per-IP ones the fuzzer would hit at once
# (every request comes from 127.0.0.1); 429 is documented where it can happen.
# Mail is on, so that the email routes do their work instead of answering 503; it goes to a
# closed local port, and the outbox keeps retrying it in the background.
"$JIM" -O "data_dir=$DATA" -O "http.listen=127.0.0.1:$PORT" \
    -O auth.captcha_on_register=false -O auth.bcrypt_cost=4 -O log.level=warn \
    -O "mail.smtp_url=smtp://127.0.0.1:9?tls=none" -O "mail.from=Fuzz <fuzz@jim.test>" \
    serve >"$OUT/server.log" 2>&1 </dev/null &
SERVER_PID=$!
for _ in $(seq 1 500); do
    curl -sf "$URL/readyz" >/dev/null 2>&1 && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$OUT/server.log" >&2; exit 2; }
    sleep 0.02
done
curl -sf "$URL/readyz" >/dev/null || { echo "server not ready" >&2; cat "$OUT/server.log" >&2; exit 2; }

post() { curl -sf -H 'Content-Type: application/json' -d "$2" "$URL$1"; }
post /api/v1/auth/register \
    '{"username":"fuzzer","password":"fuzzer123456","confirm_password":"fuzzer123456"}' >/dev/null
TOKEN="$(post /api/v1/auth/login '{"username":"fuzzer","password":"fuzzer123456"}' |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["data"]["token"])')"

# Logging out would end the one session every request uses (and the rest of the run would
# test nothing but 401s); logout has its own integration tests.
# schemathesis keeps a cache in its working directory: run it in $OUT, not in the checkout.
# One worker: with two, hypothesis parses lambda sources (ast.parse) on two threads at once,
# which CPython 3.11.7 (this machine's) can crash with "SystemError: AST constructor recursion
# depth mismatch", failing a run for nothing the server did.
CONFIG="$PWD/scripts/fuzz-api.toml"
cd "$OUT"
set +e
"$FUZZ_VENV/bin/schemathesis" --config-file "$CONFIG" run "$URL/api/openapi.json" \
    --header "Authorization: Bearer $TOKEN" \
    --exclude-path /api/v1/auth/logout --exclude-path /api/v1/auth/sessions/revoke \
    --phases examples,coverage,fuzzing,stateful \
    --checks all \
    --max-time "$FUZZ_SECONDS" \
    --workers 1 \
    --seed "${FUZZ_SEED:-$RANDOM}" \
    --report junit,pytest --report-dir report \
    "$@"
status=$?
set -e
if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "the server died during the run; log in $OUT/server.log" >&2
    status=1
fi
exit "$status"
