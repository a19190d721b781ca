"""Poll profiles: *what* to poll per device type, typed and validated at load.

Modelled on Prometheus snmp_exporter: a *module* (``snmp/modules/<module>.yaml``) names the numeric OIDs
of one MIB area (scalars fetched by GET, tables walked with GETBULK) and the decoder that turns them into
metrics, facts and problems; a *profile* says which modules a device type uses and its thresholds. The
profiles are the ``poll`` sections of the device-type registry (``device_manager/device_types``). How to
authenticate is not here (see ``credentials``). Numeric OIDs need no MIB compilation at run time.

A profile directory given to :func:`load_profiles` has the registry's layout, modules included::

    <device_type>.yaml      device_type, labels, poll {modules [..], thresholds {..}, max_repetitions}, ...
    modules/<module>.yaml   name, decoder, scalars {name: oid}, tables {table: {column: oid}}
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from device_manager.device_types import (
    DEFAULT_DIR,
    DeviceTypeSpec,
    Registry,
    RegistryError,
    Thresholds,
    default_registry,
    format_validation,
    load_registry,
    read_yaml,
)
from device_manager.snmp.decode import DECODER_PROBLEMS

__all__ = [
    "DECODER_REQUIREMENTS",
    "DEFAULT_MODULE_DIR",
    "DEFAULT_PROFILE_DIR",
    "ModuleSpec",
    "PollProfile",
    "ProfileError",
    "ProfileSet",
    "Thresholds",
    "build_profiles",
    "load_modules",
    "load_profiles",
]

DEFAULT_PROFILE_DIR = DEFAULT_DIR  # the device-type registry
DEFAULT_MODULE_DIR = Path(__file__).resolve().parent / "modules"
_OID_RE = re.compile(r"^1(\.(0|[1-9][0-9]*))+$")

Decoder = Literal["system", "interfaces", "host_resources", "printer", "ups"]

# What each decoder reads: a module using the decoder must provide these scalars and table columns.
DECODER_REQUIREMENTS: dict[str, tuple[set[str], dict[str, set[str]]]] = {
    "system": ({"sysDescr", "sysUpTime", "sysName"}, {}),
    "interfaces": (set(), {"ifTable": {"ifDescr", "ifAdminStatus", "ifOperStatus"}}),
    "host_resources": (
        set(),
        {
            "hrProcessorTable": {"hrProcessorLoad"},
            "hrStorageTable": {
                "hrStorageType",
                "hrStorageDescr",
                "hrStorageAllocationUnits",
                "hrStorageSize",
                "hrStorageUsed",
            },
        },
    ),
    "printer": (
        set(),
        {
            "hrPrinterTable": {"hrPrinterStatus", "hrPrinterDetectedErrorState"},
            "prtMarkerSuppliesTable": {
                "prtMarkerSuppliesDescription",
                "prtMarkerSuppliesMaxCapacity",
                "prtMarkerSuppliesLevel",
            },
            "prtInputTable": {"prtInputMaxCapacity", "prtInputCurrentLevel"},
            "prtAlertTable": {"prtAlertSeverityLevel", "prtAlertCode"},
        },
    ),
    "ups": ({"upsBatteryStatus", "upsEstimatedChargeRemaining", "upsOutputSource"}, {}),
}


class ProfileError(ValueError):
    """A profile or module file is invalid; the message names the file, the field and the fix."""


def _check_oid(value: str) -> str:
    value = value.strip().lstrip(".")
    if not _OID_RE.match(value):
        raise ValueError(f"{value!r} is not a numeric OID like 1.3.6.1.2.1.1.3.0")
    return value


Oid = Annotated[str, AfterValidator(_check_oid)]


class ModuleSpec(BaseModel):
    """One MIB area: scalars (GET, with their instance suffix, usually ``.0``) and tables (GETBULK)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    decoder: Decoder
    description: str = ""
    scalars: dict[str, Oid] = Field(default_factory=dict)
    tables: dict[str, dict[str, Oid]] = Field(default_factory=dict)


@dataclass(frozen=True)
class PollProfile:
    """A device type's resolved profile: its modules and the flattened request plan."""

    device_type: str
    description: str
    modules: tuple[ModuleSpec, ...]
    thresholds: Thresholds
    max_repetitions: int
    # Request plan, computed once at load so polling does no per-device planning.
    scalar_oids: tuple[tuple[str, str], ...]  # (name, oid) over all modules
    columns: tuple[tuple[str, str, str], ...]  # (table, column, column oid) over all modules

    @property
    def decoders(self) -> tuple[str, ...]:
        return tuple(m.decoder for m in self.modules)


@dataclass(frozen=True)
class ProfileSet:
    """All profiles by device type, plus the modules they were built from."""

    profiles: dict[str, PollProfile]
    modules: dict[str, ModuleSpec]

    def for_type(self, device_type: str) -> PollProfile:
        try:
            return self.profiles[device_type]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise ProfileError(
                f"device type {device_type!r} has no poll profile; known: {known} "
                f"(add {device_type}.yaml to the profile directory)"
            ) from None

    def __contains__(self, device_type: object) -> bool:
        return device_type in self.profiles


def _check_decoder_inputs(path: Path, module: ModuleSpec) -> None:
    scalars, tables = DECODER_REQUIREMENTS[module.decoder]
    missing = [f"scalars.{s}" for s in sorted(scalars - set(module.scalars))]
    for table, columns in sorted(tables.items()):
        have = set(module.tables.get(table, {}))
        missing += [f"tables.{table}.{c}" for c in sorted(columns - have)]
    if missing:
        raise ProfileError(
            f"{path}: module {module.name!r} uses decoder {module.decoder!r}, which needs "
            f"{', '.join(missing)}; add them with their numeric OIDs"
        )


_Plan = tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str, str], ...]]


def _plan(modules: Iterable[ModuleSpec]) -> _Plan:
    scalars: dict[str, str] = {}
    columns: dict[tuple[str, str], str] = {}
    for module in modules:
        scalars.update(module.scalars)
        for table, cols in module.tables.items():
            for column, oid in cols.items():
                columns[(table, column)] = oid
    return tuple(scalars.items()), tuple((t, c, oid) for (t, c), oid in columns.items())


def load_modules(directory: Path | None = None) -> dict[str, ModuleSpec]:
    """Every module under ``directory`` (default ``snmp/modules``), validated against its decoder."""
    root = Path(directory) if directory is not None else DEFAULT_MODULE_DIR
    modules: dict[str, ModuleSpec] = {}
    for file in sorted(root.glob("*.yaml")) if root.is_dir() else []:
        try:
            module = ModuleSpec.model_validate(read_yaml(file, ProfileError))
        except ValidationError as exc:
            raise ProfileError(format_validation(file, exc)) from None
        if module.name != file.stem:
            raise ProfileError(f"{file}: module name {module.name!r} must match the file name {file.stem!r}")
        _check_decoder_inputs(file, module)
        modules[module.name] = module
    return modules


def _profile(spec: DeviceTypeSpec, modules: dict[str, ModuleSpec]) -> PollProfile:
    poll = spec.poll
    assert poll is not None
    unknown = [m for m in poll.modules if m not in modules]
    if unknown:
        raise ProfileError(
            f"{spec.path}: unknown module(s) {', '.join(unknown)}; "
            f"defined: {', '.join(sorted(modules)) or 'none'}"
        )
    if len(set(poll.modules)) != len(poll.modules):
        raise ProfileError(f"{spec.path}: modules listed twice: {poll.modules}")
    used = tuple(modules[m] for m in poll.modules)
    raised = set().union(*(DECODER_PROBLEMS[m.decoder] for m in used))
    if set(spec.problems) != raised:
        listed = ", ".join(sorted(raised)) or "nothing ([])"
        raise ProfileError(
            f"{spec.path}: problems [{', '.join(spec.problems)}] are not what its poll modules raise; "
            f"list exactly: {listed}"
        )
    scalar_oids, columns = _plan(used)
    return PollProfile(
        device_type=spec.slug,
        description=poll.description,
        modules=used,
        thresholds=poll.thresholds,
        max_repetitions=poll.max_repetitions,
        scalar_oids=scalar_oids,
        columns=columns,
    )


def build_profiles(registry: Registry, modules: dict[str, ModuleSpec]) -> ProfileSet:
    """The poll profile of every registry type that has one; raise ProfileError naming the file."""
    profiles = {spec.slug: _profile(spec, modules) for spec in registry.polled()}
    if not profiles:
        raise ProfileError(f"{registry.directory}: no device type has a poll profile")
    return ProfileSet(profiles=profiles, modules=modules)


def load_profiles(path: Path | None = None, *, registry: Registry | None = None) -> ProfileSet:
    """The poll profiles of the registry at ``path`` (its modules from ``path/modules`` when that
    exists, else ``snmp/modules``), or of ``registry``, or of the shipped registry; raise ProfileError
    naming the file."""
    try:
        if path is not None:
            registry = load_registry(Path(path))
        elif registry is None:
            registry = default_registry()
    except RegistryError as exc:
        raise ProfileError(str(exc)) from exc
    module_dir = registry.directory / "modules"
    return build_profiles(registry, load_modules(module_dir if module_dir.is_dir() else None))
