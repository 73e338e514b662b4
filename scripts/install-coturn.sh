#!/usr/bin/env bash
# Install coturn (the TURN server operators most often run beside jim) for the call tests,
# once, and print the path of its `turnserver` binary.
#
#   * Debian's package (`apt-get install coturn`) when `turnserver` is not on the PATH (or
#     TURNSERVER_BIN names another one). Installing it starts no daemon here: the tests start
#     their own turnserver on 127.0.0.1 with a random port and stop it by its pid.
#
# Progress goes to stderr; stdout is only the binary's path.
set -euo pipefail

if [ -n "${TURNSERVER_BIN:-}" ]; then
    [ -x "$TURNSERVER_BIN" ] || { echo "install-coturn: TURNSERVER_BIN=$TURNSERVER_BIN is not executable" >&2; exit 1; }
    echo "$TURNSERVER_BIN"
    exit 0
fi

# apt-get as root, or through sudo when there is one.
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
    SUDO="sudo"
fi
can_apt() {
    command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }
}

BIN="$(command -v turnserver || true)"
if [ -z "$BIN" ]; then
    if ! can_apt; then
        echo "install-coturn: turnserver is missing; install coturn (Debian: apt-get install coturn) or set TURNSERVER_BIN" >&2
        exit 1
    fi
    # One installer at a time when several test processes start together.
    exec 9>/tmp/jim-install-coturn.lock
    flock 9
    if ! command -v turnserver >/dev/null; then
        echo "install-coturn: installing Debian's coturn (once)" >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2 || true
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq coturn >&2
    fi
    BIN="$(command -v turnserver)"
fi
echo "$BIN"
