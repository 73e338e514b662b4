#!/usr/bin/env bash
# Install what the web client's browser tests need, once, and print the directory that holds
# playwright-core's node_modules (for NODE_PATH):
#
#   * Debian's Chromium (`apt-get install chromium`) when /usr/bin/chromium is absent (or
#     CHROMIUM_BIN names another one), and fonts for Chinese and emoji when there are none;
#   * playwright-core from npm (it never downloads a browser) into a cache outside the
#     checkout, ${JIM_TOOLS_CACHE:-~/.cache/jim-test-tools}/playwright-$VERSION, reused by
#     every later run.
#
# Progress goes to stderr; stdout is only the node_modules path.
set -euo pipefail

VERSION="${PLAYWRIGHT_VERSION:-1.65.2}"
CHROMIUM="${CHROMIUM_BIN:-/usr/bin/chromium}"

# apt-get as root, or through sudo when there is one.
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
    SUDO="sudo"
fi
can_apt() {
    command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }
}

if [ ! -x "$CHROMIUM" ]; then
    if ! can_apt; then
        echo "install-browser: $CHROMIUM is missing; install Chromium (Debian: apt-get install chromium) or set CHROMIUM_BIN" >&2
        exit 1
    fi
    echo "install-browser: installing Debian's chromium (about 360 MB, once)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
fi

# Fonts for Chinese and emoji, so that screenshots show text rather than empty boxes.
if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=zh 2>/dev/null | head -1)" ] && can_apt; then
    echo "install-browser: installing fonts for Chinese and emoji" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk fonts-noto-color-emoji >&2 || true
fi

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    if can_apt; then
        echo "install-browser: installing node and npm" >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >&2
    else
        echo "install-browser: node and npm are needed for the browser tests" >&2
        exit 1
    fi
fi

CACHE="${JIM_TOOLS_CACHE:-$HOME/.cache/jim-test-tools}"
ROOT="$CACHE/playwright-$VERSION"
MODULES="$ROOT/node_modules"
if [ ! -f "$MODULES/playwright-core/package.json" ]; then
    mkdir -p "$CACHE"
    exec 9>"$CACHE/playwright.lock"
    flock 9
    if [ ! -f "$MODULES/playwright-core/package.json" ]; then
        echo "install-browser: installing playwright-core $VERSION into $ROOT" >&2
        rm -rf "$ROOT.partial"
        mkdir -p "$ROOT.partial"
        (cd "$ROOT.partial" && echo '{"private":true}' >package.json &&
            npm install --no-audit --no-fund --silent "playwright-core@$VERSION" >&2)
        rm -rf "$ROOT"
        mv "$ROOT.partial" "$ROOT"
    fi
fi
echo "$MODULES"
