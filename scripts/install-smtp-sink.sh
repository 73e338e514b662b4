#!/usr/bin/env bash
# Install the SMTP server the email tests talk to (aiosmtpd, from PyPI) once, into a virtual
# environment in a cache outside the checkout, and print the path of its Python.
#
# The tests run tests/support/smtp_sink.py with that Python: a real SMTP server on a free port
# (plain, STARTTLS or implicit TLS on a generated certificate, optionally with AUTH) that
# writes each mail it accepts into a Maildir the test reads. Set SMTP_SINK_PYTHON to use a
# Python that already has aiosmtpd.
set -euo pipefail

VERSION="${AIOSMTPD_VERSION:-1.4.6}"
if [ -n "${SMTP_SINK_PYTHON:-}" ]; then
    "$SMTP_SINK_PYTHON" -c 'import aiosmtpd' >/dev/null
    echo "$SMTP_SINK_PYTHON"
    exit 0
fi
CACHE="${JIM_TOOLS_CACHE:-$HOME/.cache/jim-test-tools}"
ROOT="$CACHE/aiosmtpd-$VERSION"
PY="$ROOT/bin/python"
if [ -x "$PY" ] && "$PY" -c 'import aiosmtpd' >/dev/null 2>&1; then
    echo "$PY"
    exit 0
fi

mkdir -p "$CACHE"
# One installation at a time, even when two test runs start together.
exec 9>"$CACHE/aiosmtpd.lock"
flock 9
if ! { [ -x "$PY" ] && "$PY" -c 'import aiosmtpd' >/dev/null 2>&1; }; then
    echo "installing aiosmtpd $VERSION into $ROOT (once)" >&2
    rm -rf "$ROOT.partial"
    python3 -m venv "$ROOT.partial" >&2
    "$ROOT.partial/bin/python" -m pip install --quiet --disable-pip-version-check \
        "aiosmtpd==$VERSION" >&2
    rm -rf "$ROOT"
    mv "$ROOT.partial" "$ROOT"
fi
"$PY" -c 'import aiosmtpd' >/dev/null
echo "$PY"
