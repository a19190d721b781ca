"""Restore drills: restore a backup into a scratch desktop without network, boot it, remove it."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import libvirt

from vdi import failpoints
from vdi.backup.restore import RestoreResult, restore_backup
from vdi.backup.store import get_backup
from vdi.backup.streams import Progress, quiet
from vdi.desktops import read_record, refresh_pools
from vdi.domain import get_domain, lookup_domain, start_domain, undefine_domain
from vdi.exceptions import VdiError
from vdi.models import DesktopRecord
from vdi.paths import state_dir
from vdi.serial_console import SerialConsole
from vdi.storage import delete_volume, get_pool

__all__ = ["DISK_MARKER", "DrillResult", "verify_backup"]


@dataclass
class DrillResult:
    backup: str
    ok: bool
    checked_at: str
    seconds: float
    scratch_desktop: str
    marker: str | None = None
    error: str | None = None


DISK_MARKER = re.compile(r"DISK-MARKER (\S+)")


def verify_backup(
    conn: libvirt.virConnect,
    pool_name: str,
    bid: str,
    *,
    expect: str | None = None,
    timeout: float = 300.0,
    progress: Progress = quiet,
    record: bool = True,
) -> DrillResult:
    """Restore drill: restore ``bid`` into a scratch desktop without network, boot it, wait for the guest
    to come up (``expect``, default ``GUEST-READY <arch>``), remove the scratch desktop, record the result
    in ``<state dir>/drills.jsonl``. Returns the result; a failed drill has ``ok=False`` and ``error``."""
    started = time.monotonic()
    scratch = f"hc-drill-{secrets.token_hex(3)}"
    result = DrillResult(bid, False, datetime.now(UTC).isoformat(timespec="seconds"), 0.0, scratch)
    restored: RestoreResult | None = None
    try:
        manifest = get_backup(conn, pool_name, bid)
        restored = restore_backup(conn, pool_name, bid, target=scratch, isolate=True, progress=progress)
        pattern = expect or f"GUEST-READY {manifest.arch}"
        failpoints.hold("drill.restored")
        progress(f"booting scratch desktop {scratch}", None, None)
        start_domain(conn, scratch, paused=True)
        with SerialConsole(conn, scratch) as console:
            get_domain(conn, scratch).resume()
            console.wait_for(pattern, timeout)
            found = DISK_MARKER.search(console.transcript)
            result.marker = found.group(1) if found else None
        result.ok = True
    except VdiError as exc:
        result.error = str(exc)
    finally:
        if restored is not None or lookup_domain(conn, scratch) is not None:
            _remove_desktop(conn, scratch)
        result.seconds = round(time.monotonic() - started, 2)
        if record:
            with (state_dir() / "drills.jsonl").open("a") as log:
                log.write(json.dumps(asdict(result), sort_keys=True) + "\n")
    return result


def _remove_desktop(conn: libvirt.virConnect, name: str) -> None:
    dom = lookup_domain(conn, name)
    if dom is None:
        return
    record = read_record(dom) or DesktopRecord()
    undefine_domain(conn, name)
    for origin in record.disks:
        with contextlib.suppress(VdiError):
            delete_volume(get_pool(conn, origin.pool), origin.volume)
    refresh_pools(conn)
