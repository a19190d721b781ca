"""The devices of a window in window setup: which are bound (``bind``: the inventory's devices with the
window's id, by the device-type registry's ``window_setup`` sections) and whether each is in order
(``verify``: the thin client's config names the seat's consoles, SSH answers, peripherals are not down).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from device_manager.ansible import adapter
from device_manager.ansible import service as playbook_service
from device_manager.db.models import Device
from device_manager.device_types import DeviceTypeSpec, Registry
from device_manager.errors import DomainError
from device_manager.ssh.client import run_command
from device_manager.ssh.errors import SshError
from device_manager.ssh.service import target_for
from device_manager.windows.seat import SeatInfo

if TYPE_CHECKING:
    from device_manager.runtime import Runtime

__all__ = ["Binding", "StepFailed", "WindowRef", "bind", "type_label", "verify"]

Log = Callable[..., None]


class StepFailed(Exception):
    def __init__(self, message: str, *, missing: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.missing = missing  # the device type a window must have and has none of


def type_label(device_type: str) -> str:
    return device_type.replace("_", " ")


@dataclass
class WindowRef:
    id: int
    site_id: int
    number: int
    name: str
    services: list[str]


@dataclass
class Binding:
    """The devices bound to a window: by window-setup device type (in the registry's order), and the
    peripherals (types window setup does not configure: checked, left alone)."""

    types: list[DeviceTypeSpec]  # the window-setup types, in order
    devices: dict[str, list[dict[str, Any]]]  # device type -> its bound devices
    peripherals: list[dict[str, Any]]
    hosts: dict[int, adapter.InventoryHost] = field(default_factory=dict, repr=False)

    def configured(self) -> list[DeviceTypeSpec]:
        return [t for t in self.types if t.window_setup is not None and t.window_setup.configure]

    def configured_devices(self) -> list[dict[str, Any]]:
        return [d for t in self.configured() for d in self.devices.get(t.slug, [])]

    def public(self) -> dict[str, Any]:
        """Device type -> its device (a type a window has one of) or devices; then the peripherals."""
        out: dict[str, Any] = {}
        for spec in self.configured():
            found = self.devices.get(spec.slug, [])
            one = spec.window_setup is not None and spec.window_setup.count == "one"
            out[spec.slug] = found[0] if one and found else found
        out["peripherals"] = self.peripherals
        return out


def bind(runtime: Runtime, registry: Registry, ref: WindowRef) -> Binding:
    """The devices the inventory places at the window, by the registry's window-setup types, and the
    SSH hosts of those window setup configures or checks over SSH. Raises StepFailed naming the fix."""
    settings = runtime.settings
    types = registry.window_setup_types()
    known = {t.slug: t for t in types}
    with runtime.session_factory() as db:
        devices = list(db.scalars(select(Device).where(Device.window_id == ref.id).order_by(Device.id)))
        by_type: dict[str, list[Device]] = {}
        for device in devices:
            by_type.setdefault(device.device_type.slug, []).append(device)
        for spec in types:
            found = by_type.get(spec.slug, [])
            if spec.window_setup is not None and spec.window_setup.count == "one" and len(found) != 1:
                label = type_label(spec.slug)
                names = ", ".join(d.name for d in found) or "none"
                raise StepFailed(
                    f"window {ref.number} needs exactly one {label} in the inventory, found {names}; "
                    f"set window_id on the {label}'s device (PATCH /api/v1/devices/{{id}})",
                    missing=spec.slug if not found else None,
                )

        def describe(d: Device) -> dict[str, Any]:
            return {"id": d.id, "name": d.name, "type": d.device_type.slug, "address": d.address}

        def over_ssh(slug: str) -> bool:
            setup = known[slug].window_setup if slug in known else None
            return setup is not None and (
                setup.configure is not None or setup.verify in ("consoles_in_config", "reachable")
            )

        hosts = {}
        for slug, group in by_type.items():
            if not over_ssh(slug):
                continue
            for device in group:
                try:
                    hosts[device.id] = playbook_service.inventory_host(db, runtime.box, device, settings)
                except DomainError as exc:
                    raise StepFailed(exc.message) from exc
        configured = {
            t.slug for t in types if t.window_setup is not None and t.window_setup.configure is not None
        }
        binding = Binding(
            types,
            {slug: [describe(d) for d in group] for slug, group in by_type.items() if slug in known},
            [describe(d) for t, ds in sorted(by_type.items()) if t not in configured for d in ds],
            hosts,
        )
    return binding


def verify(runtime: Runtime, ref: WindowRef, info: SeatInfo, binding: Binding, log: Log) -> str:
    """Check each bound device as its type says (``window_setup.verify``); the caller checked the
    seat's desktops. Raises StepFailed naming every device that fails."""
    settings = runtime.settings
    problems: list[str] = []
    checks = {t.slug: t for t in binding.types}

    def check(device: dict[str, Any]) -> str | None:
        spec = checks[device["type"]]
        assert spec.window_setup is not None
        with runtime.session_factory() as db:
            row = db.get(Device, device["id"])
            if row is None:
                return f"{device['name']}: deleted from the inventory"
            target = target_for(db, runtime.box, row, settings)
        command = "true"
        config_file = spec.ssh.config_files[0] if spec.ssh and spec.ssh.config_files else ""
        reads_config = spec.window_setup.verify == "consoles_in_config"
        if reads_config:
            command = f"cat {settings.device_root(device['name'])}{config_file}"
        try:
            result = run_command(target, command, timeout=20, connect_timeout=settings.ssh_connect_timeout_s)
        except SshError as exc:
            return exc.message
        if result.exit_status != 0:
            return f"{device['name']}: '{command}' exited with {result.exit_status}: {result.stderr.strip()}"
        if reads_config:
            config = yaml.safe_load(result.stdout) or {}
            have = {(p.get("network"), p.get("host"), p.get("port")) for p in config.get("profiles") or []}
            want = {(c.network, c.host, c.port) for c in info.consoles}
            if not want <= have:
                missing = ", ".join(f"{n} {h}:{p}" for n, h, p in sorted(want - have))
                return (
                    f"{device['name']}: {type_label(spec.slug)} config does not name console(s) {missing}; "
                    "run the setup again to re-apply it"
                )
        return None

    over_ssh = [
        d
        for t in binding.types
        if t.window_setup is not None and t.window_setup.verify in ("consoles_in_config", "reachable")
        for d in binding.devices.get(t.slug, [])
    ]
    polled = [d for d in binding.peripherals if d not in over_ssh]
    with ThreadPoolExecutor(max_workers=max(1, min(settings.ssh_concurrency, len(over_ssh)))) as pool:
        problems.extend(p for p in pool.map(check, over_ssh) if p)
    with runtime.session_factory() as db:
        for device in polled:
            row = db.get(Device, device["id"])
            if row is not None and row.oper_status == "down":
                problems.append(f"{row.name}: down ({row.last_error or 'no answer to polling'})")
    if problems:
        raise StepFailed("; ".join(problems))
    with_config = [
        type_label(t.slug)
        for t in binding.types
        if t.window_setup is not None and t.window_setup.verify == "consoles_in_config"
    ]
    log(
        f"window {ref.number}: desktops {', '.join(info.desktops.values())} running; "
        f"{' and '.join(with_config) or 'no device'} names "
        f"{', '.join(f'{c.network} {c.host}:{c.port}' for c in info.consoles)}"
    )
    in_place = "".join(f", {label} config in place" for label in with_config)
    return f"desktops running{in_place}, {len(over_ssh)} device(s) up"
