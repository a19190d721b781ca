#!/usr/bin/env bash
# make setup, device manager step: the tests start their own PostgreSQL server by hand (initdb into a
# temporary directory, pg_ctl on a loopback port, as the postgres user), so nothing runs here; this step
# only checks that the Debian server binaries and the postgres account they need are present.
set -euo pipefail
pg_ctl=$(ls /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_ctl" ]; then
    echo "PostgreSQL server binaries missing: apt-get install postgresql (scripts/setup.sh installs it)" >&2
    exit 1
fi
if ! id postgres >/dev/null 2>&1; then
    echo "the 'postgres' account is missing (the Debian postgresql package creates it); initdb refuses root" >&2
    exit 1
fi
echo "[setup] PostgreSQL for tests: $("$pg_ctl" --version) (started per test session, not here)"
