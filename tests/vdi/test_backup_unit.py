"""Backup naming, the manifest format, backup retention and the CLI's progress lines, without libvirt
(the test driver cannot upload volumes; the real flows are in test_snapshots_integration.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import vdi.backup.retention as retention_mod
from vdi.backup import (
    DATA_RE,
    MANIFEST_SUFFIX,
    BackupEntry,
    BackupFile,
    BackupManifest,
    backup_id,
    desktop_of,
    prune_backups,
)
from vdi.cli.common import ProgressPrinter
from vdi.policy import Retention

T0 = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)


def manifest(desktop: str, when: datetime, origin: str = "auto") -> BackupManifest:
    bid = backup_id(desktop, when)
    files = [BackupFile("vda", f"{bid}.vda.qcow2", "ab" * 32, 123, 1024, "pool/d.qcow2")]
    return BackupManifest(bid, desktop, when.isoformat(), "x86_64", origin, "live", files, "<domain/>")  # type: ignore[arg-type]


def test_ids_sort_by_time_and_name_their_desktop_even_with_dashes():
    bid = backup_id("win01--gov-a", T0)
    assert bid == "win01--gov-a--20261125T023000Z"
    assert desktop_of(bid) == "win01--gov-a"
    assert DATA_RE.match(f"{bid}.vda.qcow2").group("id") == bid  # type: ignore[union-attr]
    assert DATA_RE.match(f"{bid}{MANIFEST_SUFFIX}") is None
    assert backup_id("d", T0) < backup_id("d", T0 + timedelta(seconds=1))


def test_manifest_round_trips_and_a_truncated_one_does_not_parse():
    m = manifest("win01-gov", T0)
    text = m.to_json()
    assert BackupManifest.from_json(text) == m
    assert m.created_at == T0
    with pytest.raises(ValueError):
        BackupManifest.from_json(text[: len(text) // 2])  # an interrupted upload never looks complete


def test_backup_retention_prunes_only_scheduled_backups(monkeypatch):
    entries = [
        BackupEntry(m.id, m.desktop, True, m, [])
        for m in [
            manifest("d", T0 - timedelta(days=3)),
            manifest("d", T0 - timedelta(days=2)),
            manifest("d", T0 - timedelta(days=1), origin="manual"),
            manifest("d", T0),
        ]
    ]
    entries.append(BackupEntry("d--20261120T000000Z", "d", False, None, [], "no manifest"))
    deleted: list[str] = []
    monkeypatch.setattr(retention_mod, "list_backups", lambda conn, pool, desktop: entries)
    monkeypatch.setattr(retention_mod, "delete_backup", lambda conn, pool, bid: deleted.append(bid))
    plan = prune_backups(None, "bk", "d", Retention(keep_last=1))  # type: ignore[arg-type]
    assert deleted == plan.delete == [entries[0].id, entries[1].id]
    assert plan.keep == {entries[3].id: ["last"], entries[2].id: ["manual"]}


def test_progress_printer_prints_percent_and_messages(capsys):
    show = ProgressPrinter()
    show("copying disks", 0, 1024**3)
    show("copying disks", 1024**3, 1024**3)
    show("backup b1 complete", None, None)
    err = capsys.readouterr().err
    assert "copying disks:   0% (0/1024 MiB)" in err
    assert "copying disks: 100% (1024/1024 MiB)" in err
    assert err.rstrip().endswith("backup b1 complete")
