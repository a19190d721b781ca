"""Window helpers: add, change, remove or re-apply one service window of a hall stack.

Each changes ``hall:windows`` in the stack's config (under the stack's lock, validated as a whole hall)
and then applies only that window's resources: a targeted ``up`` on the URNs of the window's
:class:`~infra.components.Seat` and its children, with ``--target-dependents``; everything else in the
stack is left as it is.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infra.automation import PROJECT, HallStack
from infra.engine import Progress
from infra.hall_plan import window_resource
from infra.outputs import SeatOutputs, seat_key
from infra.spec import NAMESPACE, HallConfigError, Issue, WindowSpec

__all__ = ["WindowResult", "add_window", "apply_window", "change_window", "remove_window", "seat_urns"]

SEAT_TYPE = "hallcloud:hall:Seat"
DYNAMIC = "pulumi-python:dynamic/hallcloud"


def seat_urns(stack: str, number: int) -> list[str]:
    """URNs of window ``number``'s seat component and its children (disks and desktops)."""
    seat = window_resource(number)
    urns = [f"urn:pulumi:{stack}::{PROJECT}::{SEAT_TYPE}::{seat}"]
    for side in ("gov", "internet"):
        urns.append(f"urn:pulumi:{stack}::{PROJECT}::{SEAT_TYPE}${DYNAMIC}:Volume::{seat}-{side}-disk")
        urns.append(f"urn:pulumi:{stack}::{PROJECT}::{SEAT_TYPE}${DYNAMIC}:Domain::{seat}-{side}")
    return urns


@dataclass
class WindowResult:
    number: int
    action: str
    seconds: float
    changes: dict[str, int]
    seat: dict[str, Any] | None
    """The seat's exported outputs after the change (None after a removal)."""

    @property
    def seat_outputs(self) -> SeatOutputs | None:
        """:attr:`seat`, parsed (:class:`infra.outputs.SeatOutputs`)."""
        if self.seat is None:
            return None
        return SeatOutputs.parse(self.seat, f"seat output of window {self.number}")


def _apply_window(
    hall: HallStack,
    number: int,
    action: str,
    progress: Progress | None,
    cancel: threading.Event | None,
    timeout: float | None,
) -> WindowResult:
    result = hall.up(targets=seat_urns(hall.name, number), progress=progress, cancel=cancel, timeout=timeout)
    seat = None
    if action != "remove":
        seat = (result.outputs.get("seats") or {}).get(seat_key(number))
    return WindowResult(number, action, result.seconds, result.changes, seat)


def _window_spec(window: WindowSpec | Mapping[str, Any]) -> dict[str, Any]:
    return (
        window.model_dump(mode="json", exclude_none=True) if isinstance(window, WindowSpec) else dict(window)
    )


def _windows(config: dict[str, Any]) -> list[dict[str, Any]]:
    windows = config.setdefault(f"{NAMESPACE}:windows", [])
    assert isinstance(windows, list)
    return windows


def add_window(
    hall: HallStack,
    window: WindowSpec | Mapping[str, Any],
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Add a window to the stack's config and create only its seat."""
    new = _window_spec(window)

    def change(config: dict[str, Any]) -> None:
        if any(w.get("number") == new.get("number") for w in _windows(config)):
            raise HallConfigError(
                [
                    Issue(
                        "hall:windows",
                        f"window {new.get('number')} already exists",
                        "use change_window() to change it, or choose a free number",
                    )
                ]
            )
        _windows(config).append(new)

    with hall.locked(f"adding window {new.get('number')}"):
        hall.edit_config(change)
        return _apply_window(hall, int(new["number"]), "add", progress, cancel, timeout)


def change_window(
    hall: HallStack,
    number: int,
    window: WindowSpec | Mapping[str, Any],
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Replace window ``number``'s definition and apply only its seat (changed desktops are replaced)."""
    new = {**_window_spec(window), "number": number}

    def change(config: dict[str, Any]) -> None:
        windows = _windows(config)
        if not any(w.get("number") == number for w in windows):
            raise HallConfigError(
                [Issue("hall:windows", f"window {number} does not exist", "use add_window() to add it")]
            )
        windows[:] = [new if w.get("number") == number else w for w in windows]

    with hall.locked(f"changing window {number}"):
        hall.edit_config(change)
        return _apply_window(hall, number, "change", progress, cancel, timeout)


def remove_window(
    hall: HallStack,
    number: int,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Remove window ``number`` from the config and delete only its seat."""

    def change(config: dict[str, Any]) -> None:
        windows = _windows(config)
        if not any(w.get("number") == number for w in windows):
            raise HallConfigError(
                [
                    Issue(
                        "hall:windows",
                        f"window {number} does not exist",
                        "check the number (hall stack summary lists the windows)",
                    )
                ]
            )
        windows[:] = [w for w in windows if w.get("number") != number]

    with hall.locked(f"removing window {number}"):
        hall.edit_config(change)
        return _apply_window(hall, number, "remove", progress, cancel, timeout)


def apply_window(
    hall: HallStack,
    number: int,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Apply window ``number`` as the config has it (e.g. to retry a failed setup)."""
    hall.spec().window(number)
    return _apply_window(hall, number, "apply", progress, cancel, timeout)
