"""The device-type registry: one YAML file per kind of hall device, the one place a device type is known.

Each ``<device_type>.yaml`` in this directory says, for one device type (a NetBox DeviceType):

* ``labels``: its name in zh-CN and en (the dashboard's ``type.<device_type>`` translations);
* ``poll``: its SNMP poll profile (the modules of ``snmp/modules/`` it is polled with, thresholds,
  max-repetitions); absent: the type is not polled, and such a device is skipped with an event;
* ``problems``: the problem codes its poll modules can raise (``device_manager.alert_kinds``; checked
  against the decoders when the poll profiles are built); every polled device can also be ``device_down``;
* ``ssh``: the SSH operations that apply to it and the processes, services and config files they
  touch (``ssh/operations.py`` holds the command builders);
* ``playbooks``: the playbooks that may run on it: a name refers to a playbook shared by several types
  (``ansible/playbooks.py``), a mapping defines the type's own playbook (``playbooks/<name>.yml``);
* ``window_setup``: what window setup does with a device of this type bound to the window (how many a
  window has, the variables its configuration play gets, how it is verified).

From these files the rest is derived: the database's device types (synced at startup), the i18n labels,
the poll profiles, the SSH catalog, the playbook catalog and the window-setup workflow;
``tests/device_manager/test_registry.py`` proves they agree. Adding a device type that is only polled
over SNMP is one new file here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, NoReturn, get_args

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from device_manager.alert_kinds import PROBLEM_CODES

__all__ = [
    "DEFAULT_DIR",
    "LANGUAGES",
    "WINDOW_VARIABLES",
    "ConfigureSpec",
    "DeviceTypeSpec",
    "Labels",
    "PlaybookSpec",
    "PollSpec",
    "Registry",
    "RegistryError",
    "SshSpec",
    "Thresholds",
    "WindowSetupSpec",
    "default_registry",
    "format_validation",
    "load_registry",
    "read_yaml",
]

DEFAULT_DIR = Path(__file__).resolve().parent
LANGUAGES = ("zh-CN", "en")
# what the window-setup workflow can hand to a device's configuration play
WindowVariable = Literal["hall_window_number", "hall_window_name", "hall_window_services", "hall_consoles"]
WINDOW_VARIABLES: tuple[str, ...] = get_args(WindowVariable)

_SLUG = r"^[a-z][a-z0-9_]*$"
_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")


class RegistryError(ValueError):
    """A device-type file is invalid; the message names the file, the field and the fix."""


def _check_path(value: str) -> str:
    if not _SAFE_PATH.match(value) or "/../" in f"{value}/":
        raise ValueError(f"{value!r} is not an absolute path of letters, digits and ._/-")
    return value


DevicePath = Annotated[str, AfterValidator(_check_path)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$")]
Strict = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Labels(BaseModel):
    model_config = Strict

    zh_cn: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)

    def get(self, language: str) -> str:
        return self.zh_cn if language == "zh-CN" else self.en


class Thresholds(BaseModel):
    """Where a polled value becomes a problem. Percentages are 0-100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    supply_low_percent: float = Field(default=15.0, ge=0, le=100)
    tray_low_percent: float = Field(default=0.0, ge=0, le=100)
    disk_high_percent: float = Field(default=90.0, ge=0, le=100)
    cpu_high_percent: float = Field(default=100.0, ge=0, le=100)
    ups_charge_low_percent: float = Field(default=30.0, ge=0, le=100)


class PollSpec(BaseModel):
    """The SNMP poll profile: which modules (``snmp/modules/<module>.yaml``) and where values turn bad."""

    model_config = Strict

    description: str = ""
    modules: list[str] = Field(min_length=1)
    thresholds: Thresholds = Field(default_factory=Thresholds)
    max_repetitions: int = Field(default=25, ge=1, le=200)


class SshSpec(BaseModel):
    """The SSH operations that apply (``ssh/operations.py``) and what they may touch."""

    model_config = Strict

    operations: list[Name] = Field(min_length=1)
    processes: list[Name] = Field(default_factory=list)  # check_process: must be running
    services: list[Name] = Field(default_factory=list)  # restart_service may restart these
    config_files: list[DevicePath] = Field(default_factory=list)  # fetch_config may read these


class PlaybookSpec(BaseModel):
    """A playbook of this device type's own: ``playbooks/<name>.yml``, with the variables a caller may
    set (nothing else passes)."""

    model_config = Strict

    name: Name
    description: str = Field(min_length=1)
    variables: list[Name] = Field(default_factory=list)


class ConfigureSpec(BaseModel):
    """The device's play in window setup (``playbooks/window_setup.yml`` runs this ansible role of
    ``playbooks/roles`` on it) and its variables: the workflow sets those of :data:`WINDOW_VARIABLES`
    from the window; the others only a caller of the ``window_setup`` playbook may set."""

    model_config = Strict

    ansible_role: Name
    variables: list[Name] = Field(min_length=1)


class WindowSetupSpec(BaseModel):
    """What window setup does with a device of this type bound to the window (``window_id`` set)."""

    model_config = Strict

    order: int = Field(default=100, ge=0, description="position of its play and outputs among the window's")
    count: Literal["one", "any"] = "any"  # one: exactly one per window, or the bind step fails
    configure: ConfigureSpec | None = None  # None: bound and verified, never configured
    verify: Literal["consoles_in_config", "reachable", "not_down"]


class _File(BaseModel):
    model_config = Strict

    device_type: str = Field(pattern=_SLUG)
    labels: Labels
    description: str = ""
    poll: PollSpec | None = None
    problems: list[str] = Field(default_factory=list)
    ssh: SshSpec | None = None
    playbooks: list[Name | PlaybookSpec] = Field(default_factory=list)
    window_setup: WindowSetupSpec | None = None


@dataclass(frozen=True)
class DeviceTypeSpec:
    """One device type as its file describes it."""

    slug: str
    labels: Labels
    description: str
    poll: PollSpec | None
    problems: tuple[str, ...]
    ssh: SshSpec | None
    shared_playbooks: tuple[str, ...]  # names of playbooks several types share
    own_playbooks: tuple[PlaybookSpec, ...]  # playbooks defined by this type
    window_setup: WindowSetupSpec | None
    path: Path

    @property
    def playbooks(self) -> tuple[str, ...]:
        """Every playbook that may run on this type (window setup's own playbook not included)."""
        return (*self.shared_playbooks, *(p.name for p in self.own_playbooks))

    @property
    def name(self) -> str:
        """The database's name of a new row of this type: 'English (中文)'."""
        return f"{self.labels.en} ({self.labels.zh_cn})"


@dataclass(frozen=True)
class Registry:
    """Every device type of a registry directory, in file-name order."""

    directory: Path
    types: dict[str, DeviceTypeSpec]

    def __iter__(self) -> Iterator[DeviceTypeSpec]:
        return iter(self.types.values())

    def __contains__(self, slug: object) -> bool:
        return slug in self.types

    def __len__(self) -> int:
        return len(self.types)

    def get(self, slug: str) -> DeviceTypeSpec | None:
        return self.types.get(slug)

    @property
    def slugs(self) -> tuple[str, ...]:
        return tuple(self.types)

    def polled(self) -> list[DeviceTypeSpec]:
        return [t for t in self if t.poll is not None]

    def with_ssh(self) -> list[DeviceTypeSpec]:
        return [t for t in self if t.ssh is not None]

    def window_setup_types(self) -> list[DeviceTypeSpec]:
        """The types window setup knows, in their ``window_setup.order``."""
        found = [t for t in self if t.window_setup is not None]
        return sorted(found, key=lambda t: (t.window_setup.order if t.window_setup else 0, t.slug))


def read_yaml(path: Path, error: type[ValueError] = RegistryError) -> object:
    """The data of a YAML file; ``error`` (naming the file) when it is not valid YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {exc}") from exc


def format_validation(path: Path, exc: ValidationError) -> str:
    """A pydantic error as lines of 'field.path: message' under the file's name."""
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  {where}: {err['msg']}")
    return f"{path}: invalid:\n" + "\n".join(lines)


def _check(path: Path, spec: _File) -> None:
    def fail(message: str) -> NoReturn:
        raise RegistryError(f"{path}: {message}")

    if spec.device_type != path.stem:
        fail(f"device_type {spec.device_type!r} must match the file name {path.stem!r}")
    unknown = sorted(set(spec.problems) - PROBLEM_CODES)
    if unknown:
        known = ", ".join(sorted(PROBLEM_CODES))
        fail(f"problems: unknown problem code(s) {', '.join(unknown)}; known: {known}")
    if spec.problems and spec.poll is None:
        fail("problems are raised by polling: give the type a poll profile (poll:) or no problems")
    if spec.ssh is not None and "fetch_config" in spec.ssh.operations and not spec.ssh.config_files:
        fail("ssh.operations: fetch_config needs ssh.config_files")
    if spec.ssh is not None and "restart_service" in spec.ssh.operations and not spec.ssh.services:
        fail("ssh.operations: restart_service needs ssh.services")
    if spec.ssh is not None and "check_process" in spec.ssh.operations and not spec.ssh.processes:
        fail("ssh.operations: check_process needs ssh.processes")
    if spec.playbooks and spec.ssh is None:
        fail("playbooks run over SSH: give the type an ssh section or no playbooks")
    names = [p if isinstance(p, str) else p.name for p in spec.playbooks]
    if len(set(names)) != len(names):
        fail(f"playbooks listed twice: {names}")
    setup = spec.window_setup
    if setup is not None:
        if setup.configure is not None and spec.ssh is None:
            fail("window_setup.configure runs a play over SSH: give the type an ssh section")
        if setup.verify in ("consoles_in_config", "reachable") and spec.ssh is None:
            fail(f"window_setup.verify {setup.verify!r} connects over SSH: give the type an ssh section")
        if setup.verify == "consoles_in_config" and (spec.ssh is None or not spec.ssh.config_files):
            fail("window_setup.verify 'consoles_in_config' reads ssh.config_files[0]: list the file")
        if setup.verify == "not_down" and spec.poll is None:
            fail("window_setup.verify 'not_down' reads the poll status: give the type a poll profile")


def load_registry(directory: Path | None = None) -> Registry:
    """Load and validate every ``*.yaml`` under ``directory``; raise RegistryError naming the file."""
    root = Path(directory) if directory is not None else DEFAULT_DIR
    if not root.is_dir():
        raise RegistryError(f"device type directory {root} does not exist")
    types: dict[str, DeviceTypeSpec] = {}
    for path in sorted(root.glob("*.yaml")):
        data = read_yaml(path)
        try:
            spec = _File.model_validate(data)
        except ValidationError as exc:
            raise RegistryError(format_validation(path, exc)) from None
        _check(path, spec)
        types[spec.device_type] = DeviceTypeSpec(
            slug=spec.device_type,
            labels=spec.labels,
            description=spec.description,
            poll=spec.poll,
            problems=tuple(spec.problems),
            ssh=spec.ssh,
            shared_playbooks=tuple(p for p in spec.playbooks if isinstance(p, str)),
            own_playbooks=tuple(p for p in spec.playbooks if not isinstance(p, str)),
            window_setup=spec.window_setup,
            path=path,
        )
    if not types:
        raise RegistryError(f"{root}: no device types (*.yaml) found")
    owners: dict[str, str] = {}
    for spec_type in types.values():
        for own in spec_type.own_playbooks:
            if own.name in owners:
                raise RegistryError(
                    f"{spec_type.path}: playbook {own.name!r} is already defined by {owners[own.name]}.yaml; "
                    "refer to it by name instead"
                )
            owners[own.name] = spec_type.slug
    return Registry(root, types)


@functools.cache
def default_registry() -> Registry:
    """The registry shipped with the package (loaded once)."""
    return load_registry(DEFAULT_DIR)
