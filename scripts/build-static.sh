#!/usr/bin/env bash
# Build a fully static `jim` release binary for Linux and verify it really is
# static.
#
# Usage: scripts/build-static.sh [TARGET] [extra cargo build args...]
#   TARGET defaults to x86_64-unknown-linux-gnu (static glibc, static-pie).
#   *-linux-musl targets work too (they are static by default).
#
# The explicit --target matters: with it, RUSTFLAGS only apply to the target
# artefacts and not to build scripts / proc-macros (which cannot be static).
#
# Prints the path and size of the binary on success; exits non-zero when the
# build fails or the result is dynamically linked.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

TARGET="${1:-x86_64-unknown-linux-gnu}"
shift || true

case "$TARGET" in
*-linux-*) ;;
*)
    echo "build-static: only Linux targets can be built fully static (got $TARGET)" >&2
    exit 2
    ;;
esac

export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }-C target-feature=+crt-static"

echo "+ RUSTFLAGS='$RUSTFLAGS' cargo build --release --target $TARGET --bin jim $*" >&2
cargo build --release --target "$TARGET" --bin jim "$@"

BIN="${CARGO_TARGET_DIR:-target}/$TARGET/release/jim"
if [[ ! -f $BIN ]]; then
    echo "build-static: expected binary not found at $BIN" >&2
    exit 1
fi

ok=1

file_out=$(file -b "$BIN")
echo "file: $file_out" >&2
if [[ $file_out != *"static-pie linked"* && $file_out != *"statically linked"* ]]; then
    echo "build-static: ERROR: 'file' does not report a static binary" >&2
    ok=0
fi

# ldd can only inspect binaries for the host architecture.
target_arch=${TARGET%%-*}
if [[ $target_arch == "$(uname -m)" ]] && command -v ldd >/dev/null 2>&1; then
    ldd_out=$(ldd "$BIN" 2>&1 || true)
    echo "ldd: $ldd_out" >&2
    if [[ $ldd_out != *"not a dynamic executable"* && $ldd_out != *"statically linked"* ]]; then
        echo "build-static: ERROR: 'ldd' reports dynamic dependencies" >&2
        ok=0
    fi
else
    echo "ldd: skipped (target arch $target_arch, host arch $(uname -m))" >&2
fi

if [[ $ok -ne 1 ]]; then
    exit 1
fi

size_bytes=$(stat -c %s "$BIN" 2>/dev/null || wc -c <"$BIN")
size_human=$(du -h "$BIN" | cut -f1)
echo "static binary: $BIN ($size_human, $size_bytes bytes)"
