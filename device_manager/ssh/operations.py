"""The catalog of named SSH operations. Commands are built from fixed templates and validated parameters
only (no shell text from the caller); arbitrary commands are a separate, admin-only path.

Which device types an operation applies to, and the processes, services and config files it may touch
on each, come from the device-type registry (the ``ssh`` section of ``device_manager/device_types/*.yaml``);
this module holds the command builders.
"""

from __future__ import annotations

import functools
import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from device_manager.device_types import Registry, RegistryError, SshSpec, default_registry
from device_manager.errors import Invalid

__all__ = ["Operation", "catalog", "catalog_for", "get"]

Build = Callable[[SshSpec, Mapping[str, Any]], str]


@dataclass(frozen=True)
class _Template:
    name: str
    description: str
    build: Build = field(repr=False)
    timeout_s: float = 30.0
    params: tuple[str, ...] = ()
    disconnects: bool = False  # the connection may drop before an exit status (reboot)
    read_only: bool = False  # changes nothing on the device: an operator may run it


@dataclass(frozen=True)
class Operation:
    """An operation and the device types it applies to (with what each type lets it touch)."""

    name: str
    description: str
    build: Build = field(repr=False)
    timeout_s: float
    params: tuple[str, ...]
    disconnects: bool
    read_only: bool
    targets: Mapping[str, SshSpec] = field(repr=False)  # device type -> its ssh section

    @property
    def device_types(self) -> tuple[str, ...]:
        return tuple(self.targets)

    def command(self, device_type: str, params: Mapping[str, Any], root: str = "") -> str:
        spec = self.targets.get(device_type)
        if spec is None:
            raise Invalid.field(
                "operation",
                f"operation '{self.name}' does not apply to a {device_type}; it applies to "
                + ", ".join(self.device_types),
            )
        unknown = sorted(set(params) - set(self.params))
        if unknown:
            raise Invalid.field(
                "params", f"operation '{self.name}' takes no parameter(s) {', '.join(unknown)}"
            )
        return self.build(spec, {**params, "_root": root})


def _choice(value: Any, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise Invalid.field("params", f"{what} {value!r} is not allowed here; allowed: {', '.join(allowed)}")
    return str(value)


def _int(value: Any, default: int, low: int, high: int, what: str) -> int:
    if value is None:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise Invalid.field("params", f"{what} must be an integer from {low} to {high}")
    return value


_SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")


def _reboot(_s: SshSpec, _p: Mapping[str, Any]) -> str:
    return "nohup sh -c 'sleep 1; systemctl reboot || reboot' >/dev/null 2>&1 &"


def _restart(spec: SshSpec, p: Mapping[str, Any]) -> str:
    service = _choice(p.get("service"), tuple(spec.services), "service")
    return f"systemctl restart {shlex.quote(service)} && systemctl is-active {shlex.quote(service)}"


def _logs(_s: SshSpec, p: Mapping[str, Any]) -> str:
    lines = _int(p.get("lines"), 200, 1, 5000, "lines")
    return (
        f"if command -v journalctl >/dev/null && [ -d /run/systemd/system ]; then "
        f"journalctl --no-pager -n {lines}; else "
        f"tail -n {lines} /var/log/syslog /var/log/messages /var/log/hallcloud/*.log 2>/dev/null; fi; true"
    )


def _disk(_s: SshSpec, _p: Mapping[str, Any]) -> str:
    return "df -P -k -x tmpfs -x devtmpfs -x overlay 2>/dev/null || df -P -k"


def _process(spec: SshSpec, _p: Mapping[str, Any]) -> str:
    # '[h]allcloud-seat' matches the process but not this shell's own command line
    lines = [
        f"if pgrep -f -- {shlex.quote(f'[{p[0]}]{p[1:]}')} >/dev/null; then echo '{p} running'; "
        f"else echo '{p} NOT running'; rc=1; fi"
        for p in spec.processes
    ]
    # exit status: 0 when every expected process runs; the output names each one
    return "rc=0; " + "; ".join(lines) + "; exit $rc"


def _fetch(spec: SshSpec, p: Mapping[str, Any]) -> str:
    files = tuple(spec.config_files)
    path = _choice(p.get("path", files[0]), files, "path")
    assert _SAFE_PATH.match(path)
    root = str(p.get("_root", ""))
    return f"cat -- {shlex.quote(root + path)}"


_TEMPLATES: tuple[_Template, ...] = (
    _Template("reboot", "reboot the device", _reboot, 15.0, disconnects=True),
    _Template("restart_service", "restart one of the device type's services", _restart, 60.0, ("service",)),
    _Template("collect_logs", "the last N lines of the system log", _logs, 60.0, ("lines",), read_only=True),
    _Template("disk_usage", "file system usage (df)", _disk, 20.0, read_only=True),
    _Template("check_process", "are the display / kiosk processes running", _process, 15.0, read_only=True),
    _Template(
        "fetch_config",
        "read one of the device type's HallCloud config files",
        _fetch,
        15.0,
        ("path",),
        read_only=True,
    ),
)


def _build_catalog(registry: Registry) -> dict[str, Operation]:
    known = {t.name for t in _TEMPLATES}
    for spec in registry.with_ssh():
        assert spec.ssh is not None
        unknown = sorted(set(spec.ssh.operations) - known)
        if unknown:
            raise RegistryError(
                f"{spec.path}: ssh.operations: unknown operation(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
    return {
        t.name: Operation(
            t.name,
            t.description,
            t.build,
            t.timeout_s,
            t.params,
            t.disconnects,
            t.read_only,
            {
                spec.slug: spec.ssh
                for spec in registry.with_ssh()
                if spec.ssh is not None and t.name in spec.ssh.operations
            },
        )
        for t in _TEMPLATES
    }


@functools.cache
def _default_catalog() -> dict[str, Operation]:
    return _build_catalog(default_registry())


def catalog(registry: Registry | None = None) -> dict[str, Operation]:
    """Every operation by name, with the device types of ``registry`` (default: the shipped one)."""
    return _default_catalog() if registry is None else _build_catalog(registry)


def get(name: str, registry: Registry | None = None) -> Operation:
    operations = catalog(registry)
    try:
        return operations[name]
    except KeyError:
        raise Invalid.field(
            "operation", f"unknown operation '{name}'; known: {', '.join(sorted(operations))}"
        ) from None


def catalog_for(device_type: str, registry: Registry | None = None) -> list[Operation]:
    return [op for op in catalog(registry).values() if device_type in op.targets]
