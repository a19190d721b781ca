"""Retention of scheduled backups: delete those a :class:`~vdi.policy.Retention` does not keep."""

from __future__ import annotations

from datetime import tzinfo

import libvirt

from vdi.backup.store import delete_backup, list_backups
from vdi.policy import Retention, RetentionPlan, plan_retention

__all__ = ["prune_backups"]


def prune_backups(
    conn: libvirt.virConnect,
    pool_name: str,
    desktop: str,
    retention: Retention,
    *,
    tz: tzinfo | None = None,
    dry_run: bool = False,
) -> RetentionPlan:
    """Delete the desktop's scheduled backups that ``retention`` does not keep (manual ones stay)."""
    entries = [e for e in list_backups(conn, pool_name, desktop) if e.complete and e.manifest]
    label = {f"{e.manifest.origin}-{e.id}": e.id for e in entries if e.manifest}
    plan = plan_retention(
        [(f"{e.manifest.origin}-{e.id}", e.manifest.created_at) for e in entries if e.manifest], retention, tz
    )
    plan = RetentionPlan({label[k]: v for k, v in plan.keep.items()}, [label[n] for n in plan.delete])
    if not dry_run:
        for bid in plan.delete:
            delete_backup(conn, pool_name, bid)
    return plan
