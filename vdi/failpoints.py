"""Named points in long operations where a test can hold the operation, to stop or break it there.

A test of Ctrl-C or of a fault needs the operation to be *in the middle* of its work when the signal or
the fault arrives, whatever the speed of the machine. Each long operation calls :func:`hold` at the
points where an interruption is most damaging (a backup copied but not yet recorded, a restore half
copied, a drill's scratch desktop restored but not booted). Normally it returns at once; when the point
is named in ``$HALLCLOUD_FAILPOINTS`` it prints ``failpoint NAME: holding`` on stderr and waits until
the operation is stopped (:func:`vdi.cancel.sleep` raises :class:`~vdi.cancel.Interrupted`) or the
process ends. Names are ``area.point``; :data:`POINTS` lists them.
"""

from __future__ import annotations

import sys

from vdi import cancel, settings

__all__ = ["POINTS", "hold"]

POINTS = {
    "backup.copied": "the backup's disks are copied; its manifest is not written yet",
    "restore.copying": "a restore has copied its first disk; others and the definition are not done",
    "drill.restored": "a restore drill's scratch desktop is restored and not booted yet",
}


def hold(point: str) -> None:
    """Hold here (until interrupted) when ``point`` is named in ``$HALLCLOUD_FAILPOINTS``."""
    assert point in POINTS, f"unknown failpoint {point!r}"
    if point not in settings.failpoints():
        return
    print(f"failpoint {point}: holding", file=sys.stderr, flush=True)
    while True:
        cancel.sleep(3600, f"failpoint {point}")
