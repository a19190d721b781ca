#!/usr/bin/env bash
# make test (after make setup): ruff, mypy and the whole pytest suite, unit and integration.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check .
echo "== mypy"
mypy vdi images infra device_manager hall.py
echo "== pytest"
mkdir -p artifacts
pytest "$@"
