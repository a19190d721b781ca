"""Ctrl-C and SIGTERM stop vdi's long commands cleanly: backup, restore into a new desktop, restore drill.

Each command is held deterministically in the middle of its work by a failpoint (:mod:`vdi.failpoints`):
it announces ``failpoint NAME: holding`` on stderr and waits there, so the signal always lands after the
damaging part has begun, however fast or slow the machine is. The commands run with SIGINT inherited as
*ignored*, as a job started in the background by a non-interactive shell gets it; they must undo that.
Every check: the exit status (130 for SIGINT, 143 for SIGTERM), how long the stop took, and that what
the command had made is gone while what existed before is untouched.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import libvirt
import pytest

from tests.vdi.conftest import leftovers
from vdi.backup import create_backup, list_backups
from vdi.conn import connect
from vdi.domain import undefine_domain
from vdi.models import Pool
from vdi.storage import default_pool_path, delete_pool, ensure_pool, volume_names
from vdi.testguest import boot_to_marker, build_test_image, define_test_guest, stage_test_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@dataclass
class Desktop:
    uri: str
    conn: libvirt.virConnect
    name: str
    pool: str
    backups: str


@pytest.fixture(scope="module")
def desktop(live_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desktop]:
    conn = connect(live_uri)
    run = f"hc-c-{secrets.token_hex(3)}"
    pool, backups = f"{run}-pool", f"{run}-bk"
    for name in (pool, backups):
        ensure_pool(conn, Pool(name=name, target_path=default_pool_path(name)))
    try:
        staged = stage_test_image(conn, pool, build_test_image("x86_64"))
        define_test_guest(conn, run, staged, [])
        _result, console = boot_to_marker(conn, run, "x86_64", timeout=300)
        console.close()
        yield Desktop(live_uri, conn, run, pool, backups)
    finally:
        for dom in conn.listAllDomains():
            if dom.name().startswith(run) or dom.name().startswith("hc-drill-"):
                undefine_domain(conn, dom.name())
        for name in (pool, backups):
            delete_pool(conn, name, delete_volumes=True)
        assert leftovers(conn, run) == {}
        conn.close()


def _run_until_held(args: list[str], point: str, env: dict[str, str]) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hall", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "HALLCLOUD_FAILPOINTS": point},
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 300
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if f"failpoint {point}: holding" in line:
            return proc
        assert time.monotonic() < deadline, "".join(seen)
    out, err = proc.communicate()
    pytest.fail(
        f"`hall {' '.join(args)}` ended before {point} ({proc.returncode}):\n{''.join(seen)}{err}{out}"
    )


def _stop(proc: subprocess.Popen[str], signum: int) -> tuple[int, float, str]:
    sent = time.monotonic()
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=60)
    return proc.returncode, time.monotonic() - sent, err


def test_interrupted_backup_removes_the_partial_backup(desktop: Desktop) -> None:
    before = set(volume_names(desktop.conn.storagePoolLookupByName(desktop.backups)))
    proc = _run_until_held(
        ["desktop", "backup", desktop.name, "--pool", desktop.backups, "--uri", desktop.uri],
        "backup.copied",
        {},
    )
    status, seconds, err = _stop(proc, signal.SIGINT)
    assert status == 130, err
    assert seconds < 10, f"took {seconds:.1f} s"
    assert "interrupted; the partial backup was removed" in err
    pool = desktop.conn.storagePoolLookupByName(desktop.backups)
    pool.refresh(0)
    assert set(volume_names(pool)) == before
    assert list_backups(desktop.conn, desktop.backups, desktop.name) == []
    assert desktop.conn.lookupByName(desktop.name).isActive()  # the desktop kept running


def test_interrupted_restore_into_a_new_desktop_leaves_nothing_of_it(desktop: Desktop) -> None:
    manifest = create_backup(desktop.conn, desktop.name, desktop.backups)
    target = f"{desktop.name}-copy"
    proc = _run_until_held(
        [
            "desktop",
            "restore-backup",
            desktop.name,
            manifest.id,
            "--to",
            target,
            "--pool",
            desktop.backups,
            "--uri",
            desktop.uri,
        ],
        "restore.copying",
        {},
    )
    status, seconds, err = _stop(proc, signal.SIGTERM)
    assert status == 143, err
    assert seconds < 10, f"took {seconds:.1f} s"
    assert "interrupted; what the restore had copied was removed" in err
    assert leftovers(desktop.conn, target) == {}
    assert desktop.conn.lookupByName(desktop.name).isActive()
    assert [e.id for e in list_backups(desktop.conn, desktop.backups, desktop.name) if e.complete] == [
        manifest.id
    ]


def test_interrupted_restore_drill_removes_its_scratch_desktop(desktop: Desktop) -> None:
    manifest = next(e for e in list_backups(desktop.conn, desktop.backups, desktop.name) if e.complete)
    drills_before = {d.name() for d in desktop.conn.listAllDomains() if d.name().startswith("hc-drill-")}
    proc = _run_until_held(
        ["backup", "verify", manifest.id, "--pool", desktop.backups, "--uri", desktop.uri],
        "drill.restored",
        {},
    )
    scratch = {d.name() for d in desktop.conn.listAllDomains() if d.name().startswith("hc-drill-")}
    assert scratch - drills_before, "the drill restored no scratch desktop"
    status, seconds, err = _stop(proc, signal.SIGINT)
    assert status == 130, err
    assert seconds < 10, f"took {seconds:.1f} s"
    for name in scratch - drills_before:
        assert leftovers(desktop.conn, name) == {}, name
