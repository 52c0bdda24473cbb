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
