"""Per-architecture machine profiles are data: their contents, firmware resolution, and refusals."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from images.profiles import FirmwareMissingError, ProfileError, get_profile, known_arches


def test_every_architecture_has_a_profile() -> None:
    assert known_arches() == ["aarch64", "loongarch64", "x86_64"]


def test_x86_64_is_q35_with_bios_and_ovmf_without_secure_boot() -> None:
    p = get_profile("x86_64")
    assert p.machine == "q35"
    assert p.firmware["bios"].is_bios
    uefi = p.resolve_firmware("uefi")
    assert uefi.loader == "/usr/share/OVMF/OVMF_CODE_4M.fd" and uefi.secure_boot is False
    assert Path(uefi.loader).is_file() and Path(uefi.nvram_template or "").is_file()


def test_aarch64_is_virt_gicv3_uefi_without_secure_boot_virtio_gpu_usb_input() -> None:
    p = get_profile("aarch64")
    assert (p.machine, p.video, p.usb_controller) == ("virt", "virtio", "qemu-xhci")
    assert "gic-v3" in p.features and "bios" not in p.firmware
    uefi = p.resolve_firmware("uefi")
    # explicit non-secure-boot loader: auto-selection would pick the secure-boot build
    assert uefi.loader == "/usr/share/AAVMF/AAVMF_CODE.fd" and uefi.secure_boot is False
    assert Path(uefi.loader).is_file() and Path(uefi.nvram_template or "").is_file()
    assert {(i.type, i.bus) for i in p.inputs} == {("tablet", "usb"), ("keyboard", "usb")}


def test_loongarch64_is_virt_la464_acpi_with_provider_firmware() -> None:
    p = get_profile("loongarch64")
    assert (p.machine, p.cpu.model) == ("virt", "la464")
    assert "acpi" in p.features
    assert p.firmware["uefi"].provider == "images.testimage.firmware:loongarch_firmware"
    assert p.firmware["uefi"].loader_type == "pflash"


def test_unknown_architecture_names_the_known_ones() -> None:
    with pytest.raises(
        ProfileError,
        match=r"^architecture 'riscv64': unknown; known: aarch64, loongarch64, "
        r"x86_64\. Fix: use one of those, or add images/profiles/riscv64\.yaml",
    ):
        get_profile("riscv64")


def test_missing_firmware_provider_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "images.testimage.firmware", None)
    with pytest.raises(FirmwareMissingError, match=r"^loongarch64 firmware: provider .* is not installed"):
        get_profile("loongarch64").resolve_firmware("uefi")


def test_asking_for_firmware_a_profile_lacks_is_refused() -> None:
    with pytest.raises(ProfileError, match=r"no 'bios' firmware; this architecture supports uefi"):
        get_profile("aarch64").resolve_firmware("bios")
