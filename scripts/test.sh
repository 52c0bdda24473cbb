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
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy
echo "== import contracts"
lint-imports
echo "== pytest"
pytest "$@"
