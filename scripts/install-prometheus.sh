#!/usr/bin/env bash
# Install Debian's Prometheus (the `prometheus` package: `prometheus` and `promtool`) when it is
# absent, for the metrics test (a real Prometheus scraping a running jim) and for
# `promtool check rules contrib/prometheus/alerts.yml`. Prints the directory holding both.
#
# Progress goes to stderr; stdout is only the directory.
set -euo pipefail

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then
    SUDO="sudo"
fi

if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null; then
    if ! command -v apt-get >/dev/null || { [ "$(id -u)" != 0 ] && [ -z "$SUDO" ]; }; then
        echo "install-prometheus: prometheus/promtool missing; install them (Debian: apt-get install prometheus)" >&2
        exit 1
    fi
    echo "install-prometheus: installing Debian's prometheus (once)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2 || {
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
    }
fi
dirname "$(command -v prometheus)"
