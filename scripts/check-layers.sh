#!/usr/bin/env bash
# Guard the layers of src/ (see README, Development):
#
#   * diesel (and diesel_async, diesel_migrations) only in src/db/ and src/store/: SQL stays
#     in the repository and the message store; services, handlers and the CLI call them;
#   * actix (actix_web, actix_http, actix_codec, actix_server, …) only in src/http/, src/ws/
#     and src/app.rs: services, the CLI, the error type and the rest of the core know nothing
#     of the web framework (an error's HTTP answer is built in src/http/error.rs).
#
# A line counts when it names the crate as a path (`actix_web::…`, `use diesel::{…}`,
# `extern crate diesel;`) or as an attribute (`#[diesel(…)]`); comment lines are skipped.
# It reads names, not types: a type that reaches a file through another module's re-export is
# not seen, so keep such re-exports out of the allowed folders too.
#
# No exceptions today. To add one, list the file in the rule's ALLOWED pattern below with a
# comment saying why it must use the crate.
#
# Only reads files, never compiles anything. Exit status: 0 when every layer is clean, 1
# otherwise, after naming each offending file:line.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

failures=0

# check NAME CRATE_PATTERN ALLOWED_PATH_PATTERN
#   Report every non-comment line of src/**/*.rs outside ALLOWED_PATH_PATTERN (an extended
#   regex over the path) that names a crate matching CRATE_PATTERN (an extended regex).
check() {
    local name=$1 crate=$2 allowed=$3 hits
    # The crate as a path root (`crate::`, `crate;`, `crate {`) or an attribute (`crate(`),
    # not as a word inside another name or a string.
    local pattern="(^|[^[:alnum:]_])(${crate})[[:space:]]*(::|;|\{|\()"
    hits=$(grep -rnE --include='*.rs' "$pattern" src |
        grep -vE "^(${allowed}):" |
        grep -vE '^[^:]+:[0-9]+:[[:space:]]*//' || true)
    if [[ -z $hits ]]; then
        printf 'check-layers: ok: %s\n' "$name"
        return
    fi
    while IFS= read -r hit; do
        local place=${hit%%:*} rest=${hit#*:}
        local line=${rest%%:*} text=${rest#*:}
        printf 'check-layers: FAIL: %s:%s: %s: %s\n' "$place" "$line" "$name" \
            "$(sed -E 's/^[[:space:]]+//' <<<"$text")" >&2
        failures=$((failures + 1))
    done <<<"$hits"
}

check "diesel only in src/db/ and src/store/" \
    'diesel|diesel_async|diesel_migrations' \
    'src/db/.*|src/store/.*'

check "actix only in src/http/, src/ws/ and src/app.rs" \
    'actix|actix_[a-z_]+' \
    'src/http/.*|src/ws/.*|src/app\.rs'

if ((failures > 0)); then
    printf '\ncheck-layers: %d line(s) cross a layer: move the code to its layer (SQL to db/ or store/,\nHTTP and socket work to http/ or ws/, rules to service/) and call it from there.\n' "$failures" >&2
    exit 1
fi
printf 'check-layers: every layer is clean\n'
