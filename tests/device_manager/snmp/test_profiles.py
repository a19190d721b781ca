"""Poll profiles (the ``poll`` sections of the device-type registry) load and validate; credentials never
show their secrets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from device_manager.device_types import default_registry
from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.snmp.profiles import DEFAULT_MODULE_DIR, DEFAULT_PROFILE_DIR, ProfileError, load_profiles
from tests.device_manager.dm_helpers import HALL_TYPES


def test_default_profiles_cover_every_device_type() -> None:
    profiles = load_profiles()
    assert set(profiles.profiles) == {t.slug for t in default_registry().polled()} >= HALL_TYPES
    for profile in profiles.profiles.values():
        assert profile.decoders[0] == "system"
        assert ("sysUpTime", "1.3.6.1.2.1.1.3.0") in profile.scalar_oids
    assert profiles.for_type("switch").decoders == ("system", "interfaces")
    assert profiles.for_type("kiosk").decoders == ("system", "host_resources")
    assert profiles.for_type("thin_client").decoders == ("system", "host_resources")
    assert profiles.for_type("ups").decoders == ("system", "ups")
    printer = profiles.for_type("printer")
    assert printer.decoders == ("system", "printer")
    columns = {c for _, c, _ in printer.columns}
    assert {
        "prtMarkerSuppliesLevel",
        "prtMarkerSuppliesMaxCapacity",
        "prtInputCurrentLevel",
        "prtInputMaxCapacity",
        "prtAlertCode",
        "hrPrinterStatus",
        "hrPrinterDetectedErrorState",
    } <= columns
    assert printer.thresholds.supply_low_percent == 15


def test_unknown_device_type_names_the_known_ones() -> None:
    with pytest.raises(ProfileError, match=r"'fax' has no poll profile; known: calling_display, camera"):
        load_profiles().for_type("fax")


@pytest.fixture
def profile_dir(tmp_path: Path) -> Path:
    """A copy of the registry with the SNMP modules under ``modules/``."""
    target = tmp_path / "profiles"
    shutil.copytree(DEFAULT_PROFILE_DIR, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copytree(DEFAULT_MODULE_DIR, target / "modules")
    return target


def type_file(device_type: str, poll: str) -> str:
    """A device-type file with the given ``poll`` section (flow YAML)."""
    return f"device_type: {device_type}\nlabels: {{zh-CN: 测试, en: test}}\npoll: {poll}\n"


def test_bad_oid_is_reported_with_file_and_field(profile_dir: Path) -> None:
    path = profile_dir / "modules" / "ups.yaml"
    path.write_text(path.read_text().replace("1.3.6.1.2.1.33.1.4.1.0", "upsOutputSource.0"))
    with pytest.raises(ProfileError) as info:
        load_profiles(profile_dir)
    message = str(info.value)
    assert "ups.yaml" in message and "scalars.upsOutputSource" in message and "numeric OID" in message


def test_module_missing_what_its_decoder_reads(profile_dir: Path) -> None:
    path = profile_dir / "modules" / "printer.yaml"
    path.write_text(path.read_text().replace("    prtMarkerSuppliesLevel: 1.3.6.1.2.1.43.11.1.1.9\n", ""))
    with pytest.raises(ProfileError, match=r"needs tables.prtMarkerSuppliesTable.prtMarkerSuppliesLevel"):
        load_profiles(profile_dir)


def test_unknown_module_and_unknown_field(profile_dir: Path) -> None:
    (profile_dir / "kiosk.yaml").write_text(type_file("kiosk", "{modules: [system, snmp_magic]}"))
    with pytest.raises(ProfileError, match=r"kiosk.yaml: unknown module\(s\) snmp_magic; defined: host_"):
        load_profiles(profile_dir)
    (profile_dir / "kiosk.yaml").write_text(type_file("kiosk", "{modules: [system], threshold: {}}"))
    with pytest.raises(ProfileError, match=r"threshold: Extra inputs are not permitted"):
        load_profiles(profile_dir)


def test_threshold_out_of_range_and_name_mismatch(profile_dir: Path) -> None:
    (profile_dir / "printer.yaml").write_text(
        type_file("printer", "{modules: [system, printer], thresholds: {supply_low_percent: 150}}")
    )
    with pytest.raises(ProfileError, match=r"thresholds.supply_low_percent"):
        load_profiles(profile_dir)
    (profile_dir / "printer.yaml").write_text(type_file("copier", "{modules: [system]}"))
    with pytest.raises(ProfileError, match=r"device_type 'copier' must match the file name 'printer'"):
        load_profiles(profile_dir)


def test_invalid_yaml(profile_dir: Path) -> None:
    (profile_dir / "ups.yaml").write_text("device_type: [ups\n")
    with pytest.raises(ProfileError, match=r"ups.yaml: not valid YAML"):
        load_profiles(profile_dir)


def test_credentials_redact_secrets() -> None:
    v2 = SnmpV2c("s3cret-community")
    v3 = SnmpV3("hallmon", "auth-secret-1", "priv-secret-2")
    for text in (repr(v2), str(v2), repr(v3), str(v3), repr([v2, v3]), f"{v3}"):
        assert "s3cret" not in text and "auth-secret" not in text and "priv-secret" not in text
    assert "hallmon" in repr(v3)
    with pytest.raises(ValueError, match="at least 8 characters"):
        SnmpV3("hallmon", "short", "priv-secret-2")
