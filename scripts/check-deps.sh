#!/usr/bin/env bash
# Guard the dependency graph so that `jim` stays a single, self-contained,
# statically linkable binary:
#
#   * no system TLS / C client libraries: openssl-sys, native-tls,
#     mysqlclient-sys, aws-lc-sys must not appear among the normal
#     (non-dev, non-build) dependencies, on any target platform;
#   * SQLite must be compiled in: libsqlite3-sys, when present, must have its
#     `bundled` feature enabled.
#
# Only resolves the graph (`cargo tree`), it never compiles anything.
# Extra arguments are passed to every `cargo tree` call, e.g.
#   scripts/check-deps.sh --locked
#
# Exit status: 0 when the graph is clean, 1 otherwise.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

FORBIDDEN=(openssl-sys native-tls mysqlclient-sys aws-lc-sys)
EXTRA_ARGS=("$@")

# Check all platforms, not only the host: release builds for macOS/Windows
# must not pull in native TLS either.
TREE_ARGS=(--target all)

failures=0
fail() {
    printf 'check-deps: FAIL: %s\n' "$*" >&2
    failures=$((failures + 1))
}

# resolve_specs CRATE
#   Prints the package specs (one per line) that `cargo tree -i` accepts for
#   CRATE: nothing when CRATE is absent from the graph, "CRATE" when it is
#   present once, "CRATE@x.y.z" for each version when several are present.
#   Returns 2 (after printing cargo's error) when cargo tree fails otherwise.
resolve_specs() {
    local crate=$1 out err rc=0
    err=$(mktemp)
    out=$(cargo tree -q -e normal "${TREE_ARGS[@]}" "${EXTRA_ARGS[@]}" -i "$crate" 2>"$err") || rc=$?
    if [[ $rc -eq 0 ]]; then
        rm -f "$err"
        [[ -n $out ]] && printf '%s\n' "$crate"
        return 0
    fi
    if grep -q 'did not match any packages' "$err"; then
        rm -f "$err"
        return 0
    fi
    if grep -q 'is ambiguous' "$err"; then
        # "help: re-run this command with one of the following specifications"
        # followed by "  crate@version" lines.
        grep -E "^[[:space:]]+${crate}@" "$err" | sed -E 's/^[[:space:]]+//; s/[[:space:]\r]+$//'
        rm -f "$err"
        return 0
    fi
    printf 'check-deps: "cargo tree -i %s" failed unexpectedly:\n' "$crate" >&2
    cat "$err" >&2
    rm -f "$err"
    return 2
}

for crate in "${FORBIDDEN[@]}"; do
    specs=$(resolve_specs "$crate") || { fail "could not inspect the dependency graph for $crate"; continue; }
    if [[ -z $specs ]]; then
        printf 'check-deps: ok: %s absent\n' "$crate"
        continue
    fi
    while IFS= read -r spec; do
        [[ -n $spec ]] || continue
        fail "forbidden crate $spec is in the dependency graph; it is pulled in by:"
        cargo tree -e normal "${TREE_ARGS[@]}" "${EXTRA_ARGS[@]}" -i "$spec" >&2 || true
    done <<<"$specs"
done

specs=$(resolve_specs libsqlite3-sys) || { fail "could not inspect the dependency graph for libsqlite3-sys"; specs=""; }
if [[ -z $specs ]]; then
    printf 'check-deps: ok: libsqlite3-sys absent\n'
else
    while IFS= read -r spec; do
        [[ -n $spec ]] || continue
        if cargo tree -e features "${TREE_ARGS[@]}" "${EXTRA_ARGS[@]}" -i "$spec" 2>/dev/null |
            grep -q 'libsqlite3-sys feature "bundled"'; then
            printf 'check-deps: ok: %s has feature "bundled"\n' "$spec"
        else
            fail "$spec is in the dependency graph WITHOUT its \"bundled\" feature (it would link the system libsqlite3)"
        fi
    done <<<"$specs"
fi

if ((failures > 0)); then
    printf '\ncheck-deps: %d problem(s) found: the binary would depend on system C libraries.\n' "$failures" >&2
    exit 1
fi
printf 'check-deps: dependency graph is clean\n'
