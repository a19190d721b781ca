"""Generated XML equals the expected files in data/ (the virtinst way), passes libvirt's schemas, and
each expected file parses back into the model that renders it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from images.catalog import get_image, load_catalog
from tests.vdi.cases import CASES
from vdi.exceptions import InvalidSpec
from vdi.models import Network, differences
from vdi.render import (
    domain_xml,
    network_xml,
    nwfilter_xml,
    parse_domain,
    parse_network,
    parse_nwfilter,
    parse_pool,
    parse_snapshot,
    parse_volume,
    pool_xml,
    snapshot_xml,
    volume_xml,
)
from vdi.validate import plan_for_validation, virt_xml_validate

DATA = Path(__file__).parent / "data"
PARSERS = {
    "domain": parse_domain,
    "network": parse_network,
    "nwfilter": parse_nwfilter,
    "storagepool": parse_pool,
    "storagevol": parse_volume,
    "domainsnapshot": parse_snapshot,
}

RENDERERS: dict[str, Callable[[Any], str]] = {
    "domain": domain_xml,
    "network": network_xml,
    "nwfilter": nwfilter_xml,
    "storagepool": pool_xml,
    "storagevol": volume_xml,
    "domainsnapshot": snapshot_xml,
}


def _render(name: str) -> str:
    schema, build = CASES[name]
    return RENDERERS[schema](build())


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_xml_matches_expected_file(name: str) -> None:
    assert _render(name) == (DATA / name).read_text()


@pytest.mark.parametrize("name", sorted(CASES))
def test_generated_xml_passes_libvirt_schema(name: str) -> None:
    schema, _build = CASES[name]
    virt_xml_validate(_render(name), schema, name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", sorted(CASES))
def test_expected_file_parses_back_to_the_model_that_renders_it(name: str) -> None:
    schema, build = CASES[name]
    expected = (DATA / name).read_text()
    model = build()
    parsed = PARSERS[schema](expected)
    assert isinstance(parsed, type(model))
    assert differences(model, parsed) == []
    assert parsed == model  # every field, the ones differences() leaves to libvirt included
    # re-rendering what was parsed reproduces the file: nothing is lost on the way
    assert RENDERERS[schema](parsed) == expected


def test_every_architecture_profile_has_an_expected_domain_file() -> None:
    from images.profiles import known_arches

    for arch in known_arches():
        assert (DATA / f"domain-{arch}-test.xml").is_file(), arch


def test_per_arch_platform_details_come_from_the_profiles() -> None:
    aarch64 = (DATA / "domain-aarch64-test.xml").read_text()
    assert '<gic version="3" />' in aarch64
    assert 'secure="no"' in aarch64 and "/usr/share/AAVMF/AAVMF_CODE.fd" in aarch64
    assert '<input type="tablet" bus="usb" />' in aarch64 and 'model="qemu-xhci"' in aarch64
    loong = (DATA / "domain-loongarch64-test.xml").read_text()
    assert "<acpi />" in loong and ">la464<" in loong and 'type="pflash"' in loong
    x86_test = (DATA / "domain-x86_64-test.xml").read_text()
    assert "<loader" not in x86_test and 'machine="q35"' in x86_test
    assert "OVMF_CODE_4M.fd" in (DATA / "domain-x86_64-uefi.xml").read_text()


def test_schema_violation_is_reported_with_the_object_name() -> None:
    bad = network_xml(Network(name="gov")).replace("<network>", '<network ipv6="maybe">')
    with pytest.raises(InvalidSpec, match=r"^bad-net: generated network XML fails the libvirt schema"):
        virt_xml_validate(bad, "network", "bad-net")


def test_differences_ignore_what_libvirt_fills_in_and_report_the_rest() -> None:
    want = Network(name="gov")
    have = parse_network(
        "<network><name>gov</name><uuid>0f0e0d0c-0b0a-0908-0706-050403020100</uuid>"
        "<bridge name='virbr7' stp='on' delay='0'/><mac address='52:54:00:aa:bb:cc'/></network>"
    )
    assert differences(want, have) == []
    nat = parse_network("<network><name>gov</name><forward mode='nat'/></network>")
    assert differences(want, nat) == ["forward: nat, wanted isolated"]


def test_machine_aliases_match_libvirt_versioned_machine_types() -> None:
    from vdi.models import machine_matches

    assert machine_matches("q35", "pc-q35-10.0")
    assert machine_matches("virt", "virt-10.0")
    assert not machine_matches("q35", "pc-i440fx-10.0")


@pytest.mark.parametrize("name", [m.name for m in load_catalog()])
def test_every_catalog_entry_renders_schema_valid_domain_xml(name: str) -> None:
    manifest = get_image(name)
    xml = plan_for_validation(manifest, f"hc-t-{name}")
    virt_xml_validate(xml, "domain", name)
    dom = parse_domain(xml)
    profile = manifest.profile()
    assert (dom.os.arch, dom.os.machine, dom.cpu and dom.cpu.model) == (
        profile.arch,
        manifest.machine,
        manifest.cpu,
    )
    assert [d.bus for d in dom.disks] == [manifest.disk_bus]
    assert dom.video is not None and dom.video.model == manifest.video
    assert (dom.os.loader is None) == (manifest.firmware == "bios")
