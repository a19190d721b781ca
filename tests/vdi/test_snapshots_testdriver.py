"""Snapshot operations and the ``hall desktop`` snapshot commands on libvirt's in-process test driver.

The test driver keeps snapshot metadata only (no disks, no disk-only snapshots), which is enough to
check naming, kinds, listing, revert, delete, retention pruning, locks and the CLI's messages fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest
from click.testing import CliRunner

from vdi.cli.desktop import desktop as desktop_group
from vdi.desktops import DesktopBusy, desktop_lock
from vdi.exceptions import InvalidSpec, NotFound
from vdi.models import Domain, DomainOS, Loader, Nvram
from vdi.policy import Retention
from vdi.snapshots import (
    create_snapshot,
    delete_snapshot,
    list_snapshots,
    prune_snapshots,
    revert_snapshot,
    snapshot_kind,
)

TEST_URI = "test:///default"


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path / "state"))


@pytest.fixture
def desk(test_conn: libvirt.virConnect, prefix: str) -> Iterator[str]:
    """A running domain with one file disk on the shared test driver, removed afterwards."""
    name = f"{prefix}-desk"
    dom = test_conn.defineXML(
        f"""<domain type='test'><name>{name}</name><memory unit='MiB'>256</memory><os><type>hvm</type></os>
        <devices><disk type='file' device='disk'><source file='/guest/{name}.qcow2'/>
        <target dev='vda' bus='virtio'/></disk></devices></domain>"""
    )
    dom.create()
    yield name
    for snap in dom.listAllSnapshots(libvirt.VIR_DOMAIN_SNAPSHOT_LIST_ROOTS):
        snap.delete(libvirt.VIR_DOMAIN_SNAPSHOT_DELETE_CHILDREN)
    if dom.isActive():
        dom.destroy()
    dom.undefine()


def test_kind_follows_the_firmware():
    bios = Domain(name="a", os=DomainOS(arch="x86_64", machine="q35"))
    uefi = Domain(
        name="b",
        os=DomainOS(
            arch="aarch64", machine="virt", loader=Loader("/code.fd"), nvram=Nvram(template="/vars.fd")
        ),
    )
    assert snapshot_kind(bios) == "internal"
    assert snapshot_kind(uefi) == "external"


def test_create_list_revert_delete(test_conn, desk):
    first = create_snapshot(test_conn, desk, "before-update", description="clerk asked")
    assert first.info.kind == "internal" and first.info.with_memory and first.info.state == "running"
    assert any("memory included" in n for n in first.notes)
    create_snapshot(test_conn, desk, "after-update")
    infos = list_snapshots(test_conn, desk)
    assert [i.name for i in infos] == ["after-update", "before-update"] or [i.name for i in infos] == [
        "before-update",
        "after-update",
    ]
    assert next(i for i in infos if i.name == "after-update").parent == "before-update"
    result = revert_snapshot(test_conn, desk, "before-update")
    assert result.running
    assert next(i for i in list_snapshots(test_conn, desk) if i.current).name == "before-update"
    delete_snapshot(test_conn, desk, "after-update")
    assert [i.name for i in list_snapshots(test_conn, desk)] == ["before-update"]


def test_bad_requests_name_the_object_and_the_fix(test_conn, desk):
    create_snapshot(test_conn, desk, "s1")
    with pytest.raises(InvalidSpec, match=rf"snapshot s1 of desktop {desk}: already exists"):
        create_snapshot(test_conn, desk, "s1")
    with pytest.raises(InvalidSpec, match="not a valid snapshot name"):
        create_snapshot(test_conn, desk, "bad name/..")
    with pytest.raises(NotFound, match=r"does not exist \(snapshots: s1\).*hall desktop snapshots"):
        revert_snapshot(test_conn, desk, "nope")
    with pytest.raises(NotFound, match="desktop nope-desk: does not exist on test:///default"):
        create_snapshot(test_conn, "nope-desk")


def test_prune_deletes_exactly_what_the_retention_plan_says(test_conn, desk):
    for name in ["auto-20261125-100000", "auto-20261125-110000", "auto-20261125-120000", "manual-x"]:
        create_snapshot(test_conn, desk, name)
    plan = prune_snapshots(test_conn, desk, Retention(keep_last=1), dry_run=True)
    assert plan.delete == ["auto-20261125-100000", "auto-20261125-110000"]
    assert len(list_snapshots(test_conn, desk)) == 4  # dry run changed nothing
    prune_snapshots(test_conn, desk, Retention(keep_last=1))
    assert sorted(i.name for i in list_snapshots(test_conn, desk)) == ["auto-20261125-120000", "manual-x"]


def test_a_second_operation_on_the_same_desktop_is_refused_while_one_runs(test_conn, desk):
    with desktop_lock(test_conn, desk, "back up the desktop"):
        with pytest.raises(DesktopBusy) as err:
            create_snapshot(test_conn, desk, "s1")
        assert "back up the desktop (pid" in str(err.value) and "Fix: wait" in str(err.value)
    assert create_snapshot(test_conn, desk, "s1").info.name == "s1"


def test_cli_snapshot_list_restore_delete(test_conn, desk):
    runner = CliRunner()
    base = ["--uri", TEST_URI]
    out = runner.invoke(desktop_group, ["snapshot", desk, "--snapshot", "s1", *base])
    assert out.exit_code == 0, out.output
    assert f"snapshot s1 of {desk}: internal, disk+memory" in out.output
    out = runner.invoke(desktop_group, ["snapshots", desk, *base])
    assert out.exit_code == 0 and "s1" in out.output and "(current)" in out.output
    out = runner.invoke(desktop_group, ["restore", desk, "s1", *base])
    assert out.exit_code == 0 and f"{desk} reverted to s1" in out.output
    out = runner.invoke(desktop_group, ["delete-snapshot", desk, "s1", *base])
    assert out.exit_code == 0 and "deleted snapshot s1" in out.output
    out = runner.invoke(desktop_group, ["snapshots", desk, *base])
    assert f"{desk} has no snapshots" in out.output


def test_cli_errors_are_one_line_with_the_fix_and_exit_1(desk):
    out = CliRunner().invoke(desktop_group, ["restore", desk, "missing", "--uri", TEST_URI])
    assert out.exit_code == 1
    assert f"Error: snapshot missing of desktop {desk}: does not exist" in out.output
    assert "Fix: list them with `hall desktop snapshots" in out.output
    out = CliRunner().invoke(
        desktop_group, ["backup", desk, "--uri", TEST_URI], env={"HALLCLOUD_BACKUP_POOL": ""}
    )
    assert out.exit_code == 2 and "--pool" in out.output
