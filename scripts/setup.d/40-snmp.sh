#!/usr/bin/env bash
# SNMP test agents: snmpsim 1.2 imports pysmi without declaring it, and must drop root, so it runs
# under Debian's /usr/bin/python3 (python3-gdbm for its dbm index) with the venv's site-packages.
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! .venv/bin/python -c "import pysmi" 2>/dev/null; then
    echo "[setup] installing pysmi into .venv (needed by snmpsim)"
    .venv/bin/pip install -q 'pysmi>=1.5,<3'
fi
for cmd in snmpd snmpget snmpbulkwalk snmptrap snmpinform; do
    command -v "$cmd" >/dev/null || { echo "missing $cmd: apt-get install snmpd snmp" >&2; exit 1; }
done
/usr/bin/python3 -c "import dbm.gnu" 2>/dev/null || { echo "missing python3-gdbm" >&2; exit 1; }
