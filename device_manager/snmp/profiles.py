"""Poll profiles: *what* to poll per device type, as typed YAML validated at load.

Modelled on Prometheus snmp_exporter: a *module* names the numeric OIDs of one MIB area (scalars fetched
by GET, tables walked with GETBULK) and the decoder that turns them into metrics, facts and problems;
a *profile* says which modules a device type uses and its thresholds. How to authenticate is not here
(see ``credentials``). Numeric OIDs need no MIB compilation at run time.

Layout of a profile directory (default: ``device_manager/snmp/profiles``)::

    modules/<module>.yaml   name, decoder, scalars {name: oid}, tables {table: {column: oid}}
    <device_type>.yaml      device_type, modules [..], thresholds {..}, max_repetitions
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

__all__ = [
    "DECODER_REQUIREMENTS",
    "DEFAULT_PROFILE_DIR",
    "ModuleSpec",
    "PollProfile",
    "ProfileError",
    "ProfileSet",
    "Thresholds",
    "load_profiles",
]

DEFAULT_PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
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


class Thresholds(BaseModel):
    """Where a value becomes a problem. Percentages are 0-100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    supply_low_percent: float = Field(default=15.0, ge=0, le=100)
    tray_low_percent: float = Field(default=0.0, ge=0, le=100)
    disk_high_percent: float = Field(default=90.0, ge=0, le=100)
    cpu_high_percent: float = Field(default=100.0, ge=0, le=100)
    ups_charge_low_percent: float = Field(default=30.0, ge=0, le=100)


class _ProfileFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    device_type: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    description: str = ""
    modules: list[str] = Field(min_length=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    max_repetitions: int = Field(default=25, ge=1, le=200)


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


def _read_yaml(path: Path) -> object:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ProfileError(f"{path}: not valid YAML: {exc}") from exc


def _format_validation(path: Path, exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return f"{path}: invalid:\n" + "\n".join(lines)


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


def load_profiles(path: Path | None = None) -> ProfileSet:
    """Load and validate every module and profile under ``path``; raise ProfileError naming the file."""
    root = Path(path) if path is not None else DEFAULT_PROFILE_DIR
    if not root.is_dir():
        raise ProfileError(f"poll profile directory {root} does not exist")
    modules: dict[str, ModuleSpec] = {}
    module_dir = root / "modules"
    for file in sorted(module_dir.glob("*.yaml")) if module_dir.is_dir() else []:
        data = _read_yaml(file)
        try:
            module = ModuleSpec.model_validate(data)
        except ValidationError as exc:
            raise ProfileError(_format_validation(file, exc)) from None
        if module.name != file.stem:
            raise ProfileError(f"{file}: module name {module.name!r} must match the file name {file.stem!r}")
        _check_decoder_inputs(file, module)
        modules[module.name] = module

    profiles: dict[str, PollProfile] = {}
    for file in sorted(root.glob("*.yaml")):
        data = _read_yaml(file)
        try:
            spec = _ProfileFile.model_validate(data)
        except ValidationError as exc:
            raise ProfileError(_format_validation(file, exc)) from None
        if spec.device_type != file.stem:
            raise ProfileError(
                f"{file}: device_type {spec.device_type!r} must match the file name {file.stem!r}"
            )
        unknown = [m for m in spec.modules if m not in modules]
        if unknown:
            raise ProfileError(
                f"{file}: unknown module(s) {', '.join(unknown)}; "
                f"defined: {', '.join(sorted(modules)) or 'none'}"
            )
        if len(set(spec.modules)) != len(spec.modules):
            raise ProfileError(f"{file}: modules listed twice: {spec.modules}")
        used = tuple(modules[m] for m in spec.modules)
        scalar_oids, columns = _plan(used)
        profiles[spec.device_type] = PollProfile(
            device_type=spec.device_type,
            description=spec.description,
            modules=used,
            thresholds=spec.thresholds,
            max_repetitions=spec.max_repetitions,
            scalar_oids=scalar_oids,
            columns=columns,
        )
    if not profiles:
        raise ProfileError(f"{root}: no poll profiles (*.yaml) found")
    return ProfileSet(profiles=profiles, modules=modules)
