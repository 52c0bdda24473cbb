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
export PATH="$(cd "$VENV" && pwd)/bin:$PATH"
# Two end-to-end tests need programs from Debian: the browser test of `serve` drives its
# Chromium (never a downloaded one), the fleet test runs a real Prometheus. Install them
# where this can (root with apt-get; no service started); say so where it cannot, and
# pytest then names the tests that did not run.
need_debian() {  # need_debian BINARY PACKAGE WHAT [APT-GET OPTION...]
    local bin="$1" package="$2" what="$3"
    shift 3
    [ -x "$bin" ] && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing Debian's $package for $what"
        local no_start=""
        if [ ! -e /usr/sbin/policy-rc.d ]; then
            printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
            no_start=1
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" "$package" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null 2>&1 \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" "$package" >/dev/null 2>&1; } \
            || echo "== could not install $package: $what will not run"
        if [ -n "$no_start" ]; then rm -f /usr/sbin/policy-rc.d; fi
    else
        echo "== $package is not installed and cannot be here (needs root and apt-get): $what will not run"
    fi
}
need_debian /usr/bin/chromium chromium "the browser tests of serve"
need_debian /usr/bin/prometheus prometheus "the Prometheus end-to-end tests" --no-install-recommends
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== import contracts"
lint-imports
echo "== pytest"
# Python keeps its bytecode caches here even where the machine turns them off
# (PYTHONDONTWRITEBYTECODE): the tests start hundreds of `python -m hermes_dash`
# processes, and each would compile the package again (about 0.1 s of CPU each).
unset PYTHONDONTWRITEBYTECODE
python -m compileall -q hermes_dash tests >/dev/null
# Tests run in parallel, two workers per core: about half of a test's time is spent
# waiting on a server, a process or a deadline, and a second worker fills it. Pass -n 0
# to run them in one process.
pytest -n "$(( $(nproc) * 2 ))" --dist worksteal "$@"
