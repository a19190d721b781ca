"""Snapshots, backups, restores, reset and restore drills on real TCG guests: the tiny test image on
x86_64 (BIOS: internal snapshots) and aarch64 (UEFI: external disk + memory snapshots).

The guest's /init mounts its virtio disk at /data and answers console commands (``hc write TEXT``,
``hc read``, ``hc damage FILE``; other lines run in a shell). Every object is named ``hc-s-<hex>...``
and removed afterwards. Runs against ``$HALLCLOUD_TEST_URI`` (default ``qemu:///system``).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import libvirt
import pytest
from click.testing import CliRunner

from tests.vdi.conftest import leftovers
from vdi.backup import create_backup, get_backup, list_backups, restore_backup, verify_backup
from vdi.cli.backup import backup as backup_group
from vdi.cli.desktop import desktop as desktop_group
from vdi.conn import connect
from vdi.desktops import definition
from vdi.domain import stop_domain, undefine_domain
from vdi.exceptions import ChecksumMismatch, ConsoleTimeout, InvalidSpec
from vdi.models import Pool
from vdi.policy import Retention
from vdi.serial_console import SerialConsole
from vdi.snapshots import (
    create_snapshot,
    delete_snapshot,
    list_snapshots,
    prune_snapshots,
    revert_snapshot,
)
from vdi.storage import default_pool_path, delete_pool, delete_volume, ensure_pool, get_pool, volume_names
from vdi.testguest import StagedImage, boot_to_marker, build_test_image, define_test_guest, stage_test_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ARCHES = ["x86_64", "aarch64"]
SHA = re.compile(r"([0-9a-f]{64})\s+/data/doc\.bin")
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Lab:
    uri: str
    conn: libvirt.virConnect
    run: str
    pool: str
    backups: str
    staged: dict[str, StagedImage] = field(default_factory=dict)

    def stage(self, arch: str) -> StagedImage:
        if arch not in self.staged:
            self.staged[arch] = stage_test_image(self.conn, self.pool, build_test_image(arch))
        return self.staged[arch]


@pytest.fixture(scope="module")
def lab(live_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    state = tmp_path_factory.mktemp("state")
    previous = os.environ.get("HALLCLOUD_STATE_DIR")
    os.environ["HALLCLOUD_STATE_DIR"] = str(state)
    conn = connect(live_uri)
    run = f"hc-s-{secrets.token_hex(3)}"
    lab = Lab(live_uri, conn, run, f"{run}-pool", f"{run}-bk")
    for name in (lab.pool, lab.backups):
        ensure_pool(conn, Pool(name=name, target_path=default_pool_path(name)))
    try:
        yield lab
    finally:
        for dom in conn.listAllDomains():
            if dom.name().startswith(run):
                undefine_domain(conn, dom.name())
        for name in (lab.pool, lab.backups):
            delete_pool(conn, name, delete_volumes=True)
        assert leftovers(conn, run) == {}
        conn.close()
        if previous is None:
            os.environ.pop("HALLCLOUD_STATE_DIR", None)
        else:
            os.environ["HALLCLOUD_STATE_DIR"] = previous


@dataclass
class Desk:
    lab: Lab
    name: str
    arch: str
    console: SerialConsole | None = None

    @property
    def conn(self) -> libvirt.virConnect:
        return self.lab.conn

    def boot(self) -> str:
        """Start the desktop and wait for GUEST-READY; returns the boot transcript."""
        self.close()
        result, self.console = boot_to_marker(self.conn, self.name, self.arch, timeout=300)
        return result.transcript

    def attach(self) -> SerialConsole:
        if self.console is None:
            self.console = SerialConsole(self.conn, self.name).open()
        return self.console

    def close(self) -> None:
        """Close the console stream (libvirtd 11.3 can crash reverting a domain with one open)."""
        if self.console is not None:
            self.console.close()
            self.console = None

    def cmd(self, line: str, answer: str, timeout: float = 60) -> re.Match[str]:
        return self.attach().command(line, re.compile(answer), timeout)

    def write(self, text: str) -> None:
        self.cmd(f"hc write {text}", f"MARKER-WRITTEN {text}")

    def read(self, wait_up: float = 0) -> str:
        """The marker on the disk; ``wait_up``: keep asking while a just-started guest boots."""
        deadline = time.monotonic() + wait_up
        while True:
            try:
                return self.cmd("hc read", r"(?:^|\n)MARKER (\S+)", timeout=5 if wait_up else 60).group(1)
            except ConsoleTimeout:
                if time.monotonic() > deadline:
                    raise

    def make_doc(self) -> str:
        """A 64 KiB random file on the disk; returns its sha256."""
        line = (
            "dd if=/dev/urandom of=/data/doc.bin bs=1024 count=64 2>/dev/null; sync; sha256sum /data/doc.bin"
        )
        return self.cmd(line, SHA.pattern).group(1)

    def doc_sha(self) -> str:
        return self.cmd("sha256sum /data/doc.bin", SHA.pattern).group(1)

    def damage_doc(self) -> None:
        self.cmd("hc damage doc.bin", "DAMAGED doc.bin")


@pytest.fixture
def desk(lab: Lab, request: pytest.FixtureRequest) -> Iterator[Desk]:
    arch = request.param
    name = f"{lab.run}-{arch.split('_')[0][:5]}-{secrets.token_hex(2)}"
    define_test_guest(lab.conn, name, lab.stage(arch), [], memory_mib=256)
    d = Desk(lab, name, arch)
    try:
        yield d
    finally:
        d.close()
        undefine_domain(lab.conn, name)
        pool = get_pool(lab.conn, lab.pool)
        for vol in volume_names(pool):
            if vol.startswith(name):
                delete_volume(pool, vol)


def both(test):
    return pytest.mark.parametrize("desk", ARCHES, indirect=True)(test)


def _pool_volumes(lab: Lab, prefix: str) -> list[str]:
    return [v for v in volume_names(get_pool(lab.conn, lab.pool)) if v.startswith(prefix)]


# -- snapshots ----------------------------------------------------------------------------------------


@both
def test_snapshot_then_revert_brings_a_back_and_b_is_gone_while_running(desk: Desk):
    desk.boot()
    desk.write("A")
    doc = desk.make_doc()
    desk.close()
    result = create_snapshot(desk.conn, desk.name, "good")
    assert result.info.kind == ("external" if desk.arch == "aarch64" else "internal")
    assert result.info.with_memory and result.info.state == "running"

    desk.write("B")
    desk.damage_doc()
    assert desk.read() == "B" and desk.doc_sha() != doc
    desk.close()

    reverted = revert_snapshot(desk.conn, desk.name, "good")  # the desktop is running meanwhile
    assert reverted.running
    assert desk.read() == "A"  # the guest resumed in the snapshot's state
    assert desk.doc_sha() == doc
    desk.close()

    delete_snapshot(desk.conn, desk.name, "good")
    assert list_snapshots(desk.conn, desk.name) == []
    assert not [v for v in _pool_volumes(desk.lab, desk.name) if ".good." in v]  # overlay + memory removed
    assert desk.read() == "A"  # deleting (block commit) kept the data


@both
def test_snapshot_of_a_stopped_desktop_and_revert_to_it(desk: Desk):
    desk.boot()
    desk.write("A")
    desk.close()
    stop_domain(desk.conn, desk.name)
    cold = create_snapshot(desk.conn, desk.name, "cold")
    assert not cold.info.with_memory and cold.info.state in ("shutoff", "disk-snapshot")
    desk.boot()
    desk.write("B")
    desk.close()
    revert_snapshot(desk.conn, desk.name, "cold", running=False)
    assert not desk.conn.lookupByName(desk.name).isActive()
    transcript = desk.boot()
    assert "DISK-MARKER A" in transcript
    assert desk.read() == "A"


def test_retention_prunes_exactly_the_scheduled_snapshots_the_policy_drops(lab: Lab):
    name = f"{lab.run}-ret"
    define_test_guest(lab.conn, name, lab.stage("x86_64"), [], memory_mib=256)
    try:
        for snap in ["auto-20261125-080000", "auto-20261125-090000", "auto-20261125-100000", "keep-me"]:
            create_snapshot(lab.conn, name, snap)
        plan = prune_snapshots(lab.conn, name, Retention(keep_last=2))
        assert plan.delete == ["auto-20261125-080000"]
        assert sorted(s.name for s in list_snapshots(lab.conn, name)) == [
            "auto-20261125-090000",
            "auto-20261125-100000",
            "keep-me",
        ]
    finally:
        undefine_domain(lab.conn, name)
        delete_volume(get_pool(lab.conn, lab.pool), f"{name}.qcow2")


# -- backups ------------------------------------------------------------------------------------------


def _corrupt(lab: Lab, volume: str) -> None:
    """Overwrite 16 bytes in the middle of a backup volume through a libvirt stream."""
    vol = get_pool(lab.conn, lab.backups).storageVolLookupByName(volume)
    size = vol.infoFlags(libvirt.VIR_STORAGE_VOL_GET_PHYSICAL)[2]
    stream = lab.conn.newStream(0)
    vol.upload(stream, size // 2, 16, 0)
    stream.send(os.urandom(16))
    stream.finish()


@both
def test_backup_delete_volume_restore_backup_then_checksums_and_drills(desk: Desk):
    lab = desk.lab
    desk.boot()
    desk.write("A")
    doc = desk.make_doc()
    desk.close()
    manifest = create_backup(desk.conn, desk.name, lab.backups)  # live, the desktop keeps running
    assert manifest.mode == "live" and manifest.arch == desk.arch
    assert any("no QEMU guest agent" in n for n in manifest.notes)
    assert desk.conn.lookupByName(desk.name).isActive()

    # the drill passes on the good backup and leaves no scratch desktop behind
    drill = verify_backup(desk.conn, lab.backups, manifest.id)
    assert drill.ok, drill.error
    assert drill.marker == "A"
    assert not [d for d in desk.conn.listAllDomains() if d.name() == drill.scratch_desktop]

    desk.write("B")
    desk.damage_doc()
    desk.close()
    stop_domain(desk.conn, desk.name)
    delete_volume(get_pool(lab.conn, lab.pool), f"{desk.name}.qcow2")  # the disk is gone

    restored = restore_backup(desk.conn, lab.backups, manifest.id, start=False)
    assert restored.desktop == desk.name and not restored.new_desktop
    assert _pool_volumes(lab, desk.name) == [f"{desk.name}.qcow2"]  # no overlay or memory file left
    transcript = desk.boot()
    assert "DISK-MARKER A" in transcript
    assert desk.read() == "A"
    assert desk.doc_sha() == doc

    # a damaged backup is refused before the (running) desktop is touched
    desk.write("C")
    desk.close()
    _corrupt(lab, manifest.files[0].volume)
    with pytest.raises(ChecksumMismatch) as err:
        restore_backup(desk.conn, lab.backups, manifest.id)
    assert f"backup {manifest.id}" in str(err.value) and "nothing was changed" in str(err.value)
    assert "Fix: restore an older backup" in str(err.value)
    assert desk.conn.lookupByName(desk.name).isActive()
    assert desk.read() == "C"
    desk.close()

    failed = verify_backup(desk.conn, lab.backups, manifest.id)
    assert not failed.ok and "sha256" in (failed.error or "")
    out = CliRunner().invoke(backup_group, ["verify", manifest.id, "--pool", lab.backups, "--uri", lab.uri])
    assert out.exit_code == 1 and "FAILED" in out.output
    drills = (Path(os.environ["HALLCLOUD_STATE_DIR"]) / "drills.jsonl").read_text().splitlines()
    assert len(drills) >= 3


@pytest.mark.parametrize("desk", ["x86_64"], indirect=True)
def test_restore_backup_while_running_and_into_a_new_desktop_through_the_cli(desk: Desk):
    lab = desk.lab
    desk.boot()
    desk.write("A")
    desk.close()
    runner = CliRunner()
    base = ["--pool", lab.backups, "--uri", lab.uri]
    out = runner.invoke(desktop_group, ["backup", desk.name, *base])
    assert out.exit_code == 0, out.output
    assert "copying disks" in out.output and f"backup {desk.name}--" in out.output
    out = runner.invoke(desktop_group, ["backups", desk.name, *base])
    assert out.exit_code == 0 and "manual" in out.output and "live" in out.output
    # restoring while the desktop runs: stopped, restored, started again
    desk.write("B")
    desk.close()
    out = runner.invoke(desktop_group, ["restore-backup", desk.name, *base])
    assert out.exit_code == 0, out.output
    assert f"restored {desk.name} from {desk.name}--" in out.output and "(running)" in out.output
    assert desk.read(wait_up=240) == "A"
    desk.close()
    copy = f"{desk.name}-copy"
    out = runner.invoke(desktop_group, ["restore-backup", desk.name, *base, "--to", copy, "--no-start"])
    assert out.exit_code == 0, out.output
    try:
        other = Desk(lab, copy, "x86_64")
        assert "DISK-MARKER A" in other.boot()
        other.close()
        assert (
            definition(lab.conn.lookupByName(copy)).uuid != definition(lab.conn.lookupByName(desk.name)).uuid
        )
        # manifests hold no console password; the new desktop gets its own, so tickets keep working
        assert _console_password_on(lab.conn, copy)
    finally:
        undefine_domain(lab.conn, copy)
        delete_volume(get_pool(lab.conn, lab.pool), f"{copy}.qcow2")


@pytest.mark.parametrize("desk", ["x86_64"], indirect=True)
def test_a_backup_killed_midway_leaves_the_desktop_running_and_nothing_that_looks_complete(desk: Desk):
    lab = desk.lab
    desk.boot()
    desk.write("A")
    desk.cmd(
        "dd if=/dev/urandom of=/data/big.bin bs=1M count=40 2>/dev/null; sync; echo FILLED", "FILLED", 300
    )
    desk.close()
    script = (
        "import sys\n"
        "from vdi.conn import connect\n"
        "from vdi.backup import create_backup\n"
        "def progress(what, done, total):\n"
        "    print('PROGRESS', what, done, total, flush=True)\n"
        f"create_backup(connect({lab.uri!r}), {desk.name!r}, {lab.backups!r}, progress=progress)\n"
        "print('FINISHED', flush=True)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith("PROGRESS copying disks"):
            os.kill(proc.pid, signal.SIGKILL)  # mid-copy
            break
    proc.wait(timeout=60)
    proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL, seen

    assert desk.conn.lookupByName(desk.name).isActive()
    assert desk.read() == "A"
    desk.close()
    entries = list_backups(lab.conn, lab.backups, desk.name)
    assert all(not e.complete for e in entries), entries
    for e in entries:
        with pytest.raises(InvalidSpec, match="is incomplete"):
            get_backup(lab.conn, lab.backups, e.id)
    out = CliRunner().invoke(desktop_group, ["backups", desk.name, "--pool", lab.backups, "--uri", lab.uri])
    assert all("INCOMPLETE" in line for line in out.output.splitlines()) or "has no backups" in out.output

    time.sleep(1.1)  # backup ids have one-second resolution
    manifest = create_backup(lab.conn, desk.name, lab.backups)  # removes the leftovers, aborts a stale job
    after = list_backups(lab.conn, lab.backups, desk.name)
    assert [(e.id, e.complete) for e in after] == [(manifest.id, True)]


def _console_password_on(conn: libvirt.virConnect, name: str) -> bool:
    xml = conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
    return bool(re.search(r"<graphics [^>]*passwd=", xml))


# -- reset --------------------------------------------------------------------------------------------


@both
def test_reset_recreates_the_disk_from_golden_after_snapshots(desk: Desk):
    desk.boot()
    desk.write("B")
    desk.close()
    create_snapshot(desk.conn, desk.name, "s1")
    out = CliRunner().invoke(desktop_group, ["reset", desk.name, "--yes", "--uri", desk.lab.uri])
    assert out.exit_code == 0, out.output
    assert "reset" in out.output and "started it" in out.output
    assert list_snapshots(desk.conn, desk.name) == []
    disk = definition(desk.conn.lookupByName(desk.name)).disks[0]
    assert (disk.type, disk.source_volume) == ("volume", f"{desk.name}.qcow2")  # back on its volume
    assert _console_password_on(desk.conn, desk.name)  # the redefinition kept console authentication
    assert desk.read(wait_up=240) == "golden"  # the golden image's own marker
    desk.close()
    assert sorted(_pool_volumes(desk.lab, desk.name)) == [f"{desk.name}.qcow2"]
