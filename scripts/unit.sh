#!/usr/bin/env bash
# make unit: the fast tests, no root, no daemons, no guests (pytest -m "not integration"), about a minute.
# Runs with .venv when this user can (make setup made it); otherwise with .venv-unit, made here for this
# user from Debian's python3 (the first time takes a few minutes; it needs the build dependencies that
# make setup installs, e.g. libvirt-dev for libvirt-python). Arguments are handed to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
if ! "$PY" -c "import hall" >/dev/null 2>&1; then
    PY=.venv-unit/bin/python
    stamp=.venv-unit/.hallcloud-deps
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ ! -x "$PY" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        echo "[unit] making .venv-unit for $(id -un) with $(python3 --version)"
        python3 -m venv .venv-unit
        .venv-unit/bin/pip install -q --upgrade pip
        .venv-unit/bin/pip install -q -e '.[dev]'
        echo "$want" > "$stamp"
    fi
fi
exec "$PY" -m pytest -m "not integration" -q -p no:cacheprovider "$@"
