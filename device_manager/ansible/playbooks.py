"""The playbooks the device manager may run, which device types each applies to, and the variables a
caller may set. Anything not listed here cannot be run through the API.

The catalog is derived from the device-type registry: a type's own playbooks are defined in its file
(``playbooks: - name: ...``), a shared playbook (:data:`SHARED`) applies to the types that name it, and
``window_setup`` applies to every type whose file says how window setup configures it
(``window_setup.configure``: its ansible role and variables). The ansible roles of a playbook (for the
task count behind a job's progress) are read from the playbook file itself.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import yaml

from device_manager.ansible.adapter import PLAYBOOK_DIR
from device_manager.device_types import Registry, RegistryError, default_registry
from device_manager.errors import Invalid

__all__ = ["SHARED", "WINDOW_SETUP", "Playbook", "catalog", "describe", "get"]

WINDOW_SETUP = "window_setup"


@dataclass(frozen=True)
class Playbook:
    name: str
    file: str
    description: str
    device_types: tuple[str, ...]
    ansible_roles: tuple[str, ...]
    variables: tuple[str, ...]

    @property
    def task_count(self) -> int:
        """Tasks per host (for progress); handlers and loops are not counted."""
        return sum(_role_tasks(role) for role in self.ansible_roles)


@dataclass(frozen=True)
class _Shared:
    name: str
    description: str
    variables: tuple[str, ...]


# Playbooks of several device types; each type's file names the ones that apply to it. window_setup's
# device types, roles and variables come from the types' window_setup sections.
SHARED: dict[str, _Shared] = {
    s.name: s
    for s in (
        _Shared("hardening", "common hardening: sshd, sysctl, file modes", ("hall_ssh_allow_users",)),
        _Shared(
            WINDOW_SETUP,
            "window setup: every device the window's setup configures (thin client with the two "
            "desktops' consoles, calling display), one run",
            ("hall_state",),
        ),
    )
}


@cache
def _role_tasks(role: str) -> int:
    path = PLAYBOOK_DIR / "roles" / role / "tasks" / "main.yml"
    data = yaml.safe_load(Path(path).read_text()) or []
    return len(data)


def _playbook_roles(file: str) -> tuple[str, ...]:
    """The roles the plays of ``playbooks/<file>`` list, in order."""
    path = PLAYBOOK_DIR / file
    if not path.is_file():
        raise FileNotFoundError(path)
    roles: list[str] = []
    for play in yaml.safe_load(path.read_text()) or []:
        for role in play.get("roles") or []:
            name = role if isinstance(role, str) else str(role.get("role") or role.get("name"))
            if name not in roles:
                roles.append(name)
    return tuple(roles)


def _build_catalog(registry: Registry) -> dict[str, Playbook]:
    found: dict[str, Playbook] = {}

    def fail(path: Path, message: str) -> NoReturn:
        raise RegistryError(f"{path}: {message}")

    for spec in registry:
        for own in spec.own_playbooks:
            if own.name in SHARED:
                fail(
                    spec.path, f"playbooks: {own.name!r} is a shared playbook; name it instead of defining it"
                )
            file = f"{own.name}.yml"
            try:
                own_roles = _playbook_roles(file)
            except FileNotFoundError:
                fail(spec.path, f"playbooks: {own.name!r} needs the playbook {PLAYBOOK_DIR / file}")
            found[own.name] = Playbook(
                own.name, file, own.description, (spec.slug,), own_roles, tuple(own.variables)
            )
        for name in spec.shared_playbooks:
            if name not in SHARED or name == WINDOW_SETUP:
                known = ", ".join(n for n in SHARED if n != WINDOW_SETUP)
                fail(
                    spec.path,
                    f"playbooks: {name!r} is not a shared playbook (known: {known}); define the type's "
                    "own playbook with name, description and variables",
                )
    for shared in SHARED.values():
        if shared.name == WINDOW_SETUP:
            continue
        users = tuple(t.slug for t in registry if shared.name in t.shared_playbooks)
        found[shared.name] = Playbook(
            shared.name,
            f"{shared.name}.yml",
            shared.description,
            users,
            _playbook_roles(f"{shared.name}.yml"),
            shared.variables,
        )
    configured = [t for t in registry.window_setup_types() if t.window_setup and t.window_setup.configure]
    variables: dict[str, None] = {}
    roles: dict[str, None] = {}
    for spec in configured:
        assert spec.window_setup is not None and spec.window_setup.configure is not None
        variables.update(dict.fromkeys(spec.window_setup.configure.variables))
        roles[spec.window_setup.configure.ansible_role] = None
    window = SHARED[WINDOW_SETUP]
    variables.update(dict.fromkeys(window.variables))
    found[WINDOW_SETUP] = Playbook(
        WINDOW_SETUP,
        f"{WINDOW_SETUP}.yml",
        window.description,
        tuple(t.slug for t in configured),
        tuple(roles),
        tuple(variables),
    )
    return found


@functools.cache
def _default_catalog() -> dict[str, Playbook]:
    return _build_catalog(default_registry())


def catalog(registry: Registry | None = None) -> dict[str, Playbook]:
    """Every playbook by name, for ``registry`` (default: the shipped one)."""
    return _default_catalog() if registry is None else _build_catalog(registry)


def get(name: str, registry: Registry | None = None) -> Playbook:
    playbooks = catalog(registry)
    try:
        return playbooks[name]
    except KeyError:
        raise Invalid.field(
            "playbook", f"unknown playbook '{name}'; known: {', '.join(sorted(playbooks))}"
        ) from None


def describe(playbook: Playbook) -> dict[str, Any]:
    """The catalog entry the API shows."""
    return {
        "name": playbook.name,
        "description": playbook.description,
        "device_types": list(playbook.device_types),
        "variables": list(playbook.variables),
    }
