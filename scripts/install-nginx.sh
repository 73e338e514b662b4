#!/usr/bin/env bash
# Install Debian's nginx (the `nginx-light` package would do too; we take `nginx`) when it is
# absent, for the reverse-proxy test: a real nginx in front of a running jim carrying a
# WebSocket, an upload and the client's address. Prints the directory holding the binary.
#
# Progress goes to stderr; stdout is only the directory.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
    SUDO="sudo"
fi

NGINX="$(command -v nginx || true)"
[ -z "$NGINX" ] && [ -x /usr/sbin/nginx ] && NGINX=/usr/sbin/nginx
if [ -z "$NGINX" ]; then
    if ! command -v apt-get >/dev/null || { [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; }; then
        echo "install-nginx: nginx missing; install it (Debian: apt-get install nginx)" >&2
        exit 1
    fi
    echo "install-nginx: installing Debian's nginx (once)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2 || {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx >&2
    }
    NGINX=/usr/sbin/nginx
fi
dirname "$NGINX"
