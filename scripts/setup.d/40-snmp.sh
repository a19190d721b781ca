#!/usr/bin/env bash
# SNMP test agents: snmpsim must drop root, so it runs under Debian's /usr/bin/python3 (python3-gdbm
# for its dbm index) with the venv's site-packages. pysmi (which snmpsim imports without declaring
# it) is in the dev extras; this only checks that the agents' tools are present.
set -euo pipefail
cd "$(dirname "$0")/../.."
for cmd in snmpd snmpget snmpbulkwalk snmptrap snmpinform; do
    command -v "$cmd" >/dev/null || { echo "missing $cmd: apt-get install snmpd snmp" >&2; exit 1; }
done
/usr/bin/python3 -c "import dbm.gnu" 2>/dev/null || { echo "missing python3-gdbm" >&2; exit 1; }
