"""Per-architecture machine profiles: the data that says how a guest of one architecture is built.

Each ``images/profiles/<arch>.yaml`` is one :class:`MachineProfile`: machine type, CPU, platform
features, the firmware choices (BIOS, UEFI loader and variable-store template, or a provider function
that supplies firmware files), disk bus, NIC and video models, input devices and the guest's serial
console. ``vdi`` reads these profiles instead of branching on the architecture name.

This module owns the schema and the loader; it imports nothing of HallCloud's except, lazily, a
firmware provider named in a profile (for example the test-image builder's LoongArch firmware fetcher).
"""

from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "PROFILES_DIR",
    "CpuSpec",
    "FirmwareKind",
    "FirmwareMissingError",
    "FirmwareSpec",
    "ImageDataError",
    "InputSpec",
    "MachineProfile",
    "PlatformFeature",
    "ProfileError",
    "ResolvedFirmware",
    "call_firmware_provider",
    "get_profile",
    "known_arches",
    "load_profiles",
]


PROFILES_DIR = Path(__file__).resolve().parent / "profiles"

FirmwareKind = Literal["bios", "uefi"]
PlatformFeature = Literal["acpi", "apic", "gic-v3", "gic-v2", "pae"]


class ImageDataError(Exception):
    """Base of the errors of ``images``: names the object, the problem and the fix separately.

    ``vdi`` converts these into its own exceptions at its boundary, keeping the three parts.
    """

    def __init__(self, obj: str, problem: str, fix: str | None = None) -> None:
        self.obj, self.problem, self.fix = obj, problem, fix
        super().__init__(f"{obj}: {problem}" + (f". Fix: {fix}" if fix else ""))


class ProfileError(ImageDataError):
    """A profile file is missing or invalid, or names an architecture or firmware that does not exist."""


class FirmwareMissingError(ProfileError):
    """The firmware a profile names is not available on this machine."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CpuSpec(_Strict):
    mode: Literal["custom", "maximum", "host-model", "host-passthrough"] = "custom"
    model: str | None = None

    @model_validator(mode="after")
    def _model_for_custom(self) -> CpuSpec:
        if self.mode == "custom" and not self.model:
            raise ValueError("cpu: mode 'custom' needs a model (for example 'la464')")
        return self


class InputSpec(_Strict):
    type: Literal["tablet", "keyboard", "mouse"]
    bus: Literal["usb", "virtio", "ps2"]


class FirmwareSpec(_Strict):
    """One firmware choice. BIOS is the empty spec; UEFI names a loader or a provider of one.

    ``loader``/``nvram_template`` are paths on the hypervisor host (installed by ``make setup``).
    ``provider`` is ``"module:function"`` returning ``(code, vars_template)`` as local files, which
    the caller must make available on the hypervisor (``vdi`` uploads them into a pool).
    """

    loader: str | None = None
    loader_type: Literal["pflash", "rom"] | None = None
    secure_boot: bool = False
    nvram_template: str | None = None
    provider: str | None = None

    @model_validator(mode="after")
    def _loader_or_provider(self) -> FirmwareSpec:
        if self.loader and self.provider:
            raise ValueError("firmware: name either 'loader' or 'provider', not both")
        if self.provider and ":" not in self.provider:
            raise ValueError(f"firmware: provider {self.provider!r} must look like 'package.module:function'")
        return self

    @property
    def is_bios(self) -> bool:
        return self.loader is None and self.provider is None


class ResolvedFirmware(_Strict):
    """Firmware files for one boot: paths plus whether they are local files needing upload."""

    loader: str | None
    loader_type: Literal["pflash", "rom"] | None
    secure_boot: bool
    nvram_template: str | None
    local: bool
    """True when the files came from a provider on this machine (upload them for a remote hypervisor)."""


class MachineProfile(_Strict):
    arch: str
    machine: str
    cpu: CpuSpec
    features: list[PlatformFeature] = Field(default_factory=list)
    firmware: dict[FirmwareKind, FirmwareSpec]
    disk_bus: Literal["virtio", "sata", "scsi"] = "virtio"
    nic_model: str = "virtio"
    video: Literal["virtio", "vga", "qxl", "bochs", "ramfb", "none"] = "virtio"
    inputs: list[InputSpec] = Field(default_factory=list)
    usb_controller: str | None = None
    serial_console: str

    @model_validator(mode="after")
    def _usb_inputs_need_controller(self) -> MachineProfile:
        if any(i.bus == "usb" for i in self.inputs) and not self.usb_controller:
            raise ValueError("USB input devices need 'usb_controller' (for example 'qemu-xhci')")
        return self

    def firmware_spec(self, kind: FirmwareKind) -> FirmwareSpec:
        try:
            return self.firmware[kind]
        except KeyError:
            raise ProfileError(
                f"machine profile {self.arch}",
                f"no {kind!r} firmware; this architecture supports {', '.join(sorted(self.firmware))}",
                "choose one of those in the image manifest",
            ) from None

    def resolve_firmware(self, kind: FirmwareKind, *, check_files: bool = True) -> ResolvedFirmware:
        """The loader files for ``kind``, calling the profile's provider when it names one.

        Raises :class:`FirmwareMissingError` when a provider is absent or fails, or (with
        ``check_files``) a local path it returned does not exist.
        """
        spec = self.firmware_spec(kind)
        if spec.provider is None:
            return ResolvedFirmware(
                loader=spec.loader,
                loader_type=spec.loader_type,
                secure_boot=spec.secure_boot,
                nvram_template=spec.nvram_template,
                local=False,
            )
        code, vars_template = call_firmware_provider(self.arch, spec.provider)
        if check_files:
            for path in (code, vars_template):
                if not path.is_file():
                    raise FirmwareMissingError(
                        f"{self.arch} firmware",
                        f"file {path} (from {spec.provider}) does not exist",
                        f"run `hall images build-test --arch {self.arch}` to fetch it",
                    )
        return ResolvedFirmware(
            loader=str(code),
            loader_type=spec.loader_type,
            secure_boot=spec.secure_boot,
            nvram_template=str(vars_template),
            local=True,
        )


def call_firmware_provider(arch: str, provider: str) -> tuple[Path, Path]:
    """Import and call ``module:function``; a :class:`FirmwareMissingError` saying why if it fails."""
    module_name, func_name = provider.split(":", 1)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise FirmwareMissingError(
            f"{arch} firmware",
            f"provider {provider} is not installed ({exc})",
            "install the test-image builder (images/testimage) or point the profile at a firmware path",
        ) from exc
    func = getattr(module, func_name, None)
    if func is None:
        raise FirmwareMissingError(
            f"{arch} firmware",
            f"{module_name} has no function {func_name!r}",
            "update the profile's firmware provider",
        )
    try:
        code, vars_template = func()
    except Exception as exc:
        raise FirmwareMissingError(
            f"{arch} firmware",
            f"provider {provider} failed: {exc}",
            f"check access to the Debian archive, or fetch it with `hall images build-test --arch {arch}`",
        ) from exc
    return Path(code), Path(vars_template)


def _load(path: Path) -> MachineProfile:
    try:
        data = yaml.safe_load(path.read_text())
        profile = MachineProfile.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ProfileError(f"machine profile {path.name}", f"invalid: {exc}", "correct the YAML") from exc
    if path.stem != profile.arch:
        raise ProfileError(
            f"machine profile {path.name}",
            f"file name must match its arch {profile.arch!r}",
            f"rename it to {profile.arch}.yaml",
        )
    return profile


@cache
def load_profiles(directory: Path = PROFILES_DIR) -> dict[str, MachineProfile]:
    """Every profile in ``directory``, keyed by architecture."""
    profiles = {p.arch: p for p in (_load(f) for f in sorted(directory.glob("*.yaml")))}
    if not profiles:
        raise ProfileError(f"machine profiles {directory}", "none found", "reinstall HallCloud")
    return profiles


def known_arches() -> list[str]:
    return sorted(load_profiles())


def get_profile(arch: str) -> MachineProfile:
    """The profile of ``arch``; a :class:`ProfileError` naming the known arches otherwise."""
    profiles = load_profiles()
    try:
        return profiles[arch]
    except KeyError:
        raise ProfileError(
            f"architecture {arch!r}",
            f"unknown; known: {', '.join(sorted(profiles))}",
            f"use one of those, or add images/profiles/{arch}.yaml",
        ) from None
