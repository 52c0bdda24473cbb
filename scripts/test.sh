#!/usr/bin/env bash
# The whole test suite on a fresh machine: makes its own virtual environment, installs
# hermes-dash with its test tools, then runs ruff, mypy, the layer contract and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${HERMES_DASH_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet -e '.[dev]'
# The browser test of `serve` drives Debian's Chromium (never a downloaded one).
if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get install -y -qq chromium >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; } \
            || echo "== chromium: apt-get install failed; the browser tests will not run"
    else
        echo "== chromium: not installed and not root with apt-get; the browser tests will not run"
    fi
fi
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"
# The fleet's end-to-end test runs a real Prometheus (Debian's package): install it where
# this can (root with apt-get), without starting its service; say so where it cannot.
if [ ! -x /usr/bin/prometheus ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing Debian's prometheus for the fleet end-to-end test (service not started)"
        no_start=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
            no_start=1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq --no-install-recommends prometheus >/dev/null 2>&1 \
            || { apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null; } \
            || echo "== could not install prometheus: the Prometheus end-to-end tests will not run"
        if [ -n "$no_start" ]; then rm -f /usr/sbin/policy-rc.d; fi
    else
        echo "== prometheus is not installed and cannot be here (needs root and apt-get): the Prometheus end-to-end tests will not run"
    fi
fi
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== import contracts"
lint-imports
echo "== pytest"
# Tests run in parallel, one worker per core (most of a test's time is spent waiting on a
# server, a process or a screen); pass -n 0 to run them in one process.
pytest -n auto --dist worksteal "$@"
