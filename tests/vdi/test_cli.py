"""The ``hall images`` group as hall.py composes it, and vdi's commands on the test driver."""

from __future__ import annotations

from click.testing import CliRunner

import hall
from vdi.models import Snapshot
from vdi.render import parse_snapshot, snapshot_xml


def test_hall_images_mounts_catalog_testimage_and_vdi_commands() -> None:
    result = CliRunner().invoke(hall.main, ["images", "--help"])
    assert result.exit_code == 0, result.output
    for command in ("list", "build-test", "validate", "boot-test", "import"):
        assert f"  {command} " in result.output, command


def test_boot_test_refuses_an_unknown_arch_before_connecting() -> None:
    result = CliRunner().invoke(
        hall.main, ["images", "boot-test", "--arch", "sparc64", "--uri", "test:///default"]
    )
    assert result.exit_code == 2
    assert "'sparc64' is not one of 'aarch64', 'loongarch64', 'x86_64'" in result.output


def test_import_of_a_vendor_iso_image_without_a_disk_says_how_to_get_one() -> None:
    result = CliRunner().invoke(
        hall.main, ["images", "import", "uos-20-aarch64", "--uri", "test:///default", "--pool", "hc-t-cli"]
    )
    assert result.exit_code == 1
    assert (
        "image uos-20-aarch64: has no public disk image (built from the vendor ISO). Fix: install"
        in result.output
    )


def test_snapshot_xml_is_accepted_by_libvirt_and_reads_back(test_conn, prefix) -> None:
    dom = test_conn.lookupByName("test")  # the test driver's built-in running domain
    snap = Snapshot(name=f"{prefix}-snap", description="before the update", memory="no")
    created = dom.snapshotCreateXML(snapshot_xml(snap), 0)
    try:
        back = parse_snapshot(created.getXMLDesc(0))
        assert (back.name, back.description) == (snap.name, snap.description)
    finally:
        created.delete(0)
