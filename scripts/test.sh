#!/usr/bin/env bash
# Run the whole test suite, the scale-out profile included: MariaDB and Redis are started
# when they are down (scripts/start-services.sh), Garage (S3) is installed when absent
# (scripts/install-garage.sh), so is the SMTP server of the email tests
# (scripts/install-smtp-sink.sh), and the scale-out tests FAIL instead of skipping when those
# services cannot be reached (JIM_TEST_REQUIRE_SCALEOUT=1).
#
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh bus::` to run only the bus tests.
# Without arguments it first runs scripts/fuzz-api.sh for 60 s (JIM_SKIP_FUZZ=1 skips it) and
# ends with the web client's browser tests, scripts/test-web.sh (JIM_SKIP_WEB=1 skips them).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${JIM_SKIP_START_SERVICES:-0}" != "1" ]; then
    bash scripts/start-services.sh
fi

export JIM_TEST_REQUIRE_SCALEOUT=1
export JIM_TEST_MYSQL_URL="${JIM_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
export JIM_TEST_REDIS_URL="${JIM_TEST_REDIS_URL:-redis://127.0.0.1:6379}"

# Each scale-out test creates its own jim_test_* database; remove what earlier runs left.
drop_test_databases() {
    local client
    client="$(command -v mariadb || command -v mysql || true)"
    [ -n "$client" ] || return 0
    local hostport="${JIM_TEST_MYSQL_URL#mysql://}"
    hostport="${hostport#*@}"
    local host="${hostport%%:*}" port="${hostport##*:}"
    [ "$port" != "$hostport" ] || port=3306
    "$client" -h "$host" -P "$port" -uroot -N -e \
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'jim\\_test\\_%'" 2>/dev/null |
        while read -r db; do
            "$client" -h "$host" -P "$port" -uroot -e "DROP DATABASE \`$db\`" || true
        done
}
drop_test_databases
trap drop_test_databases EXIT

# The S3 media tests run against a real Garage: built once into a cache outside the checkout
# (about 16 minutes on two cores the first time), then reused.
if [ -z "${GARAGE_BIN:-}" ]; then
    GARAGE_BIN="$(bash scripts/install-garage.sh)"
    export GARAGE_BIN
fi

# The email tests talk to a real SMTP server (aiosmtpd from PyPI), installed once into a
# cache outside the checkout.
if [ -z "${SMTP_SINK_PYTHON:-}" ]; then
    SMTP_SINK_PYTHON="$(bash scripts/install-smtp-sink.sh)"
    export SMTP_SINK_PYTHON
fi
# The metrics tests scrape a running server with a real Prometheus (Debian's package,
# installed when absent; it also brings promtool for the alert rules).
bash scripts/install-prometheus.sh >/dev/null
# The reverse-proxy test puts a real nginx (Debian's) in front of a running server.
bash scripts/install-nginx.sh >/dev/null

# The API against its own OpenAPI document: a short schemathesis run on a fresh server (the
# whole suite only, not a filtered run; FUZZ_SECONDS=300 before a release). It runs first so
# that cargo test's summary stays the last thing printed.
if [ $# -eq 0 ] && [ "${JIM_SKIP_FUZZ:-0}" != "1" ]; then
    # A fixed seed keeps the test command repeatable; runs before a release use new seeds.
    FUZZ_SECONDS="${FUZZ_SECONDS:-60}" FUZZ_SEED="${FUZZ_SEED:-7950}" bash scripts/fuzz-api.sh
fi

cargo test --locked "$@"

# The web client in a real browser (Debian's Chromium and playwright-core, installed by
# scripts/install-browser.sh when absent), against the target/debug/jim just built: the whole
# suite only, like the fuzz run (JIM_SKIP_WEB=1 skips it).
if [ $# -eq 0 ] && [ "${JIM_SKIP_WEB:-0}" != "1" ]; then
    bash scripts/test-web.sh
fi
