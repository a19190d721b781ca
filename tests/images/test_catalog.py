"""The image catalog: every manifest loads, is consistent with its machine profile, and bad ones are
refused with errors that name the file, the problem and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from images.catalog import (
    CATALOG_DIR,
    CatalogError,
    DownloadSource,
    LocalBuildSource,
    VendorIsoSource,
    catalog_table,
    get_image,
    load_catalog,
    load_manifest,
)
from images.cli import images

REQUIRED = {
    ("openEuler", "x86_64"),
    ("openEuler", "aarch64"),
    ("openEuler", "loongarch64"),
    ("Kylin", "aarch64"),
    ("UOS", "aarch64"),
    ("UOS", "loongarch64"),
}


def test_catalog_holds_the_required_images_and_the_test_images() -> None:
    manifests = load_catalog()
    assert {(m.os, m.arch) for m in manifests} >= REQUIRED
    names = {m.name for m in manifests}
    assert {"hallcloud-test-x86_64", "hallcloud-test-aarch64", "hallcloud-test-loongarch64"} <= names
    kylin = get_image("kylin-v10-sp3-aarch64")
    assert kylin.version == "V10 SP3" and kylin.os_release_id == "kylin"


def test_every_entry_names_a_source_with_a_checksum_or_the_vendor_iso() -> None:
    for m in load_catalog():
        source = m.source
        if isinstance(source, DownloadSource):
            assert source.url.startswith("https://") and (source.sha256 or source.sha256_url), m.name
        elif isinstance(source, VendorIsoSource):
            assert "ISO" in source.note and m.source_label == "built from the vendor ISO"
        else:
            assert isinstance(source, LocalBuildSource) and m.name.startswith("hallcloud-test-")
    assert any(isinstance(m.source, DownloadSource) for m in load_catalog())


def test_firmware_follows_the_profiles() -> None:
    for m in load_catalog():
        assert m.machine == m.profile().machine
        assert m.firmware in m.profile().firmware
    assert get_image("hallcloud-test-x86_64").firmware == "bios"
    assert get_image("openeuler-24.03-lts-x86_64").firmware == "uefi"


def test_list_prints_the_catalog_as_a_table() -> None:
    result = CliRunner().invoke(images, ["list"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "NAME",
        "ARCH",
        "FIRMWARE",
        "MACHINE",
        "CPU",
        "DISK",
        "VIDEO",
        "OS-ID",
        "SOURCE",
    ]
    assert len(lines) == 1 + len(load_catalog())
    row = next(line for line in lines if line.startswith("uos-20-loongarch64 "))
    assert row.split()[1:8] == ["loongarch64", "uefi", "virt", "la464", "virtio", "virtio", "uos"]
    assert row.endswith("built from the vendor ISO")
    assert catalog_table() == result.output.rstrip("\n")


def _write(tmp_path: Path, data: dict[str, object], name: str | None = None) -> Path:
    path = tmp_path / f"{name or data['name']}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _good() -> dict[str, object]:
    return yaml.safe_load((CATALOG_DIR / "openeuler-24.03-lts-aarch64.yaml").read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"arch": "sparc64"}, r"architecture 'sparc64': unknown; known: aarch64, loongarch64, x86_64"),
        ({"machine": "q35"}, r"machine 'q35' differs from the aarch64 profile's 'virt'\. Fix: use 'virt'"),
        ({"firmware": "bios"}, r"no 'bios' firmware; this architecture supports uefi"),
        (
            {"source": {"kind": "download", "url": "https://x/y.qcow2", "sha256": "abc"}},
            r"not 64 lowercase hex",
        ),
        (
            {"source": {"kind": "download", "url": "https://x/y.qcow2"}},
            r"exactly one of 'sha256' and 'sha256_url'",
        ),
        ({"source": {"kind": "vendor-cd"}}, r"does not match any of the expected tags"),
        ({"colour": "blue"}, r"colour\s+Extra inputs are not permitted"),
    ],
)
def test_bad_manifests_are_refused_with_a_clear_error(
    tmp_path: Path, change: dict[str, object], message: str
):
    data = _good() | change
    with pytest.raises(CatalogError, match=message):
        load_manifest(_write(tmp_path, data))


def test_file_name_must_match_the_image_name(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"file name must match its name .*Fix: rename it to"):
        load_manifest(_write(tmp_path, _good(), name="other"))


def test_unknown_image_names_the_catalog() -> None:
    with pytest.raises(CatalogError, match=r"^image 'windows-xp': not in the catalog; known: hallcloud-test"):
        get_image("windows-xp")
