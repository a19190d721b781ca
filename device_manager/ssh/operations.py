"""The catalog of named SSH operations per device type. Commands are built from fixed templates and
validated parameters only (no shell text from the caller); arbitrary commands are a separate, admin-only
path (:data:`ARBITRARY`)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from device_manager.errors import Invalid

LINUX_TYPES = ("thin_client", "calling_display", "kiosk", "queue_ticket_machine")

# the processes that must run on each type (display/kiosk checks) and the services one may restart
PROCESSES: dict[str, tuple[str, ...]] = {
    "thin_client": ("hallcloud-seat", "remote-viewer"),
    "calling_display": ("hallcloud-calling-display",),
    "kiosk": ("chromium", "hallcloud-kiosk-watchdog"),
    "queue_ticket_machine": ("hallcloud-queue",),
}
SERVICES: dict[str, tuple[str, ...]] = {
    "thin_client": ("hallcloud-seat", "display-manager", "ssh"),
    "calling_display": ("hallcloud-calling-display", "ssh"),
    "kiosk": ("hallcloud-kiosk", "hallcloud-kiosk-watchdog", "display-manager", "ssh"),
    "queue_ticket_machine": ("hallcloud-queue", "ssh"),
}
CONFIG_FILES: dict[str, tuple[str, ...]] = {
    "thin_client": (
        "/etc/hallcloud/thin-client.yaml",
        "/etc/hallcloud/thin-client/gov.vv",
        "/etc/hallcloud/thin-client/internet.vv",
    ),
    "calling_display": ("/etc/hallcloud/calling-display.json",),
    "kiosk": ("/etc/hallcloud/kiosk.conf",),
    "queue_ticket_machine": ("/etc/hallcloud/queue.conf",),
}


@dataclass(frozen=True)
class Operation:
    name: str
    description: str
    device_types: tuple[str, ...]
    build: Callable[[str, Mapping[str, Any]], str] = field(repr=False)
    timeout_s: float = 30.0
    params: tuple[str, ...] = ()
    disconnects: bool = False  # the connection may drop before an exit status (reboot)

    def command(self, device_type: str, params: Mapping[str, Any], root: str = "") -> str:
        if device_type not in self.device_types:
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
        return self.build(device_type, {**params, "_root": root})


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


def _reboot(_t: str, _p: Mapping[str, Any]) -> str:
    return "nohup sh -c 'sleep 1; systemctl reboot || reboot' >/dev/null 2>&1 &"


def _restart(t: str, p: Mapping[str, Any]) -> str:
    service = _choice(p.get("service"), SERVICES[t], "service")
    return f"systemctl restart {shlex.quote(service)} && systemctl is-active {shlex.quote(service)}"


def _logs(_t: str, p: Mapping[str, Any]) -> str:
    lines = _int(p.get("lines"), 200, 1, 5000, "lines")
    return (
        f"if command -v journalctl >/dev/null && [ -d /run/systemd/system ]; then "
        f"journalctl --no-pager -n {lines}; else "
        f"tail -n {lines} /var/log/syslog /var/log/messages /var/log/hallcloud/*.log 2>/dev/null; fi; true"
    )


def _disk(_t: str, _p: Mapping[str, Any]) -> str:
    return "df -P -k -x tmpfs -x devtmpfs -x overlay 2>/dev/null || df -P -k"


def _process(t: str, _p: Mapping[str, Any]) -> str:
    # '[h]allcloud-seat' matches the process but not this shell's own command line
    lines = [
        f"if pgrep -f -- {shlex.quote(f'[{p[0]}]{p[1:]}')} >/dev/null; then echo '{p} running'; "
        f"else echo '{p} NOT running'; rc=1; fi"
        for p in PROCESSES[t]
    ]
    # exit status: 0 when every expected process runs; the output names each one
    return "rc=0; " + "; ".join(lines) + "; exit $rc"


def _fetch(t: str, p: Mapping[str, Any]) -> str:
    path = _choice(p.get("path", CONFIG_FILES[t][0]), CONFIG_FILES[t], "path")
    assert _SAFE_PATH.match(path)
    root = str(p.get("_root", ""))
    return f"cat -- {shlex.quote(root + path)}"


CATALOG: dict[str, Operation] = {
    op.name: op
    for op in (
        Operation("reboot", "reboot the device", LINUX_TYPES, _reboot, 15.0, disconnects=True),
        Operation(
            "restart_service",
            "restart one of the device type's services",
            LINUX_TYPES,
            _restart,
            60.0,
            ("service",),
        ),
        Operation("collect_logs", "the last N lines of the system log", LINUX_TYPES, _logs, 60.0, ("lines",)),
        Operation("disk_usage", "file system usage (df)", LINUX_TYPES, _disk, 20.0),
        Operation("check_process", "are the display / kiosk processes running", LINUX_TYPES, _process, 15.0),
        Operation(
            "fetch_config",
            "read one of the device type's HallCloud config files",
            LINUX_TYPES,
            _fetch,
            15.0,
            ("path",),
        ),
    )
}


def get(name: str) -> Operation:
    try:
        return CATALOG[name]
    except KeyError:
        raise Invalid.field(
            "operation", f"unknown operation '{name}'; known: {', '.join(sorted(CATALOG))}"
        ) from None


def catalog_for(device_type: str) -> list[Operation]:
    return [op for op in CATALOG.values() if device_type in op.device_types]
