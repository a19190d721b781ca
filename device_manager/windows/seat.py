"""The seat step's seam: a :class:`SeatBackend` applies, inspects and removes one window's desktop pair.

:class:`InfraSeatBackend` is the real one: it changes the hall stack through ``infra.automation``
(the Pulumi Automation API; only that window's resources are applied) and checks the desktops through
``vdi``. Tests of the workflow logic may use any object with the same three methods.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

__all__ = ["SIDES", "Console", "InfraSeatBackend", "Output", "SeatBackend", "SeatError", "SeatInfo"]

Output = Callable[[str], None]
SIDES = ("gov", "internet")


class SeatError(Exception):
    """The seat could not be applied, inspected or removed; the message says which and why."""


@dataclass(frozen=True)
class Console:
    network: str  # gov | internet
    protocol: str  # vnc
    host: str
    port: int

    def as_playbook_var(self) -> dict[str, Any]:
        labels = {"gov": "政务外网", "internet": "互联网"}
        return {
            "network": self.network,
            "label": labels.get(self.network, self.network),
            "protocol": self.protocol,
            "host": self.host,
            "port": self.port,
        }


@dataclass(frozen=True)
class SeatInfo:
    number: int
    consoles: tuple[Console, ...]
    desktops: Mapping[str, str]  # side -> domain name
    running: Mapping[str, bool] = field(default_factory=dict)  # side -> running

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "consoles": [c.as_playbook_var() for c in self.consoles],
            "desktops": dict(self.desktops),
            "running": dict(self.running),
        }


class SeatBackend(Protocol):
    def apply(
        self, number: int, name: str, on_output: Output | None = None, cancel: threading.Event | None = None
    ) -> SeatInfo:
        """Make the window's seat exist and run (idempotent); return its consoles. Setting ``cancel``
        stops the work within seconds (what it was creating is removed)."""
        ...

    def status(self, number: int) -> SeatInfo | None:
        """The seat as it runs now (None when the stack has no such window)."""
        ...

    def remove(
        self, number: int, on_output: Output | None = None, cancel: threading.Event | None = None
    ) -> None:
        """Remove the window's seat (no error when it does not exist)."""
        ...


def _console(side: str, described: Mapping[str, Any]) -> Console:
    vnc = ((described.get("console") or {}).get("vnc")) or ""
    host, _, port = str(vnc).rpartition(":")
    if not host or not port.isdigit():
        raise SeatError(
            f"desktop {described.get('domain', side)}: no VNC console endpoint in the stack outputs "
            f"(is it running?); got {vnc!r}"
        )
    return Console(side, "vnc", host, int(port))


class InfraSeatBackend:
    """Seats through ``infra.automation`` on one hall stack; desktops checked through ``vdi``.

    A window the stack does not define yet is added with ``seat_template`` (``{"gov": {"image": ...},
    "internet": {...}}``), or, without one, with the seat of the stack's first window."""

    def __init__(
        self,
        stack: str,
        state_dir: Path,
        *,
        seat_template: Mapping[str, Any] | None = None,
        env: Mapping[str, str] | None = None,
        project_dir: Path | None = None,
    ) -> None:
        from infra.automation import HallStack
        from infra.settings import project_dir as default_project_dir

        self.hall = HallStack(stack, Path(state_dir), dict(env or {}), project_dir or default_project_dir())
        self.seat_template = dict(seat_template) if seat_template else None

    def _template(self) -> dict[str, Any]:
        if self.seat_template:
            return dict(self.seat_template)
        spec = self.hall.spec()
        if not spec.windows:
            raise SeatError(
                f"stack '{self.hall.name}' has no window to copy a seat from and no seat template is set; "
                "set HALLCLOUD_OPS_SEAT_TEMPLATE or define the window in the stack config"
            )
        return spec.windows[0].seat.model_dump(mode="json", exclude_none=True)

    def _info(self, number: int, seat: Mapping[str, Any]) -> SeatInfo:
        consoles = tuple(_console(side, seat[side]) for side in SIDES)
        return SeatInfo(
            number,
            consoles,
            {side: str(seat[side]["domain"]) for side in SIDES},
            {side: bool(seat[side].get("running")) for side in SIDES},
        )

    def apply(
        self, number: int, name: str, on_output: Output | None = None, cancel: threading.Event | None = None
    ) -> SeatInfo:
        from infra.engine import StackInterrupted
        from infra.spec import HallConfigError
        from infra.windows import add_window, apply_window, change_window

        try:
            spec = self.hall.spec()
            existing = next((w for w in spec.windows if w.number == number), None)
            if existing is None:
                result = add_window(
                    self.hall,
                    {"number": number, "name": name, "seat": self._template()},
                    progress=on_output,
                    cancel=cancel,
                )
            elif existing.name != name:
                window = existing.model_dump(mode="json", exclude_none=True)
                result = change_window(
                    self.hall, number, {**window, "name": name}, progress=on_output, cancel=cancel
                )
            else:
                result = apply_window(self.hall, number, progress=on_output, cancel=cancel)
        except HallConfigError as exc:
            raise SeatError(f"window {number}: the hall stack refused the seat: {exc}") from exc
        except StackInterrupted as exc:
            raise SeatError(f"window {number}: the seat step was stopped: {exc}") from exc
        except Exception as exc:  # the engine's errors are a short summary naming the log file
            raise SeatError(f"window {number}: pulumi up of the seat failed: {exc}") from exc
        if result.seat is None:
            raise SeatError(f"window {number}: the stack exported no seat after the update")
        return self._info(number, result.seat)

    def status(self, number: int) -> SeatInfo | None:
        from vdi.conn import connection
        from vdi.domain import lookup_domain, vnc_endpoint

        seats = self.hall.outputs().get("seats") or {}
        seat = seats.get(f"{number:03d}")
        if seat is None:
            return None
        spec = self.hall.spec()
        running: dict[str, bool] = {}
        consoles = []
        for side in SIDES:
            host = spec.hosts[seat[side]["host"]]
            with connection(host.uri) as conn:
                domain = lookup_domain(conn, seat[side]["domain"])
                running[side] = bool(domain is not None and domain.isActive())
                graphics = vnc_endpoint(conn, seat[side]["domain"]) if running[side] else None
            if graphics is not None and graphics.port and graphics.port > 0:
                consoles.append(Console(side, "vnc", graphics.listen or "127.0.0.1", int(graphics.port)))
            else:
                consoles.append(_console(side, seat[side]))
        return SeatInfo(number, tuple(consoles), {s: str(seat[s]["domain"]) for s in SIDES}, running)

    def remove(
        self, number: int, on_output: Output | None = None, cancel: threading.Event | None = None
    ) -> None:
        from infra.windows import remove_window

        if not any(w.number == number for w in self.hall.spec().windows):
            return
        try:
            remove_window(self.hall, number, progress=on_output, cancel=cancel)
        except Exception as exc:
            raise SeatError(f"window {number}: pulumi up removing the seat failed: {exc}") from exc
