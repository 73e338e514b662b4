#!/usr/bin/env bash
# Install Garage (an S3-compatible object store operators run in production) for the media
# tests, once, into a cache outside the checkout, and print the binary's path.
#
# Building it from crates.io takes about 16 minutes on two cores, so the binary is kept in
# ${JIM_TOOLS_CACHE:-~/.cache/jim-test-tools}/garage-$VERSION and reused by every later run;
# a fresh machine builds it on first use. Set GARAGE_BIN to use a binary you already have.
set -euo pipefail

VERSION="${GARAGE_VERSION:-2.5.0}"
if [ -n "${GARAGE_BIN:-}" ]; then
    "$GARAGE_BIN" --version >/dev/null
    echo "$GARAGE_BIN"
    exit 0
fi
CACHE="${JIM_TOOLS_CACHE:-$HOME/.cache/jim-test-tools}"
ROOT="$CACHE/garage-$VERSION"
BIN="$ROOT/bin/garage"
if [ -x "$BIN" ] && "$BIN" --version >/dev/null 2>&1; then
    echo "$BIN"
    exit 0
fi

mkdir -p "$CACHE"
# One build at a time, even when two test runs start together.
exec 9>"$CACHE/garage.lock"
flock 9
if [ ! -x "$BIN" ]; then
    echo "installing garage $VERSION into $ROOT (about 16 minutes on two cores, once)" >&2
    BUILD_DIR="$(mktemp -d "${TMPDIR:-/tmp}/garage-build.XXXXXX")"
    trap 'rm -rf "$BUILD_DIR"' EXIT
    CARGO_TARGET_DIR="$BUILD_DIR" nice -n 10 cargo install garage --version "$VERSION" \
        --locked --root "$ROOT.partial" >&2
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
fi
"$BIN" --version >/dev/null
echo "$BIN"
