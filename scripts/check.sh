#!/usr/bin/env bash
# make test (after make setup): ruff (lint and format), mypy and the whole pytest suite, unit and
# integration. Arguments are handed to pytest (make check ARGS="tests/vdi -k backup").
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
echo "== ruff"
ruff check .
ruff format --check .
echo "== mypy"
mypy vdi images infra device_manager hall.py
echo "== pytest"
mkdir -p artifacts
pytest "$@"
