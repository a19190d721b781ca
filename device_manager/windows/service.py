"""Wiring of window setup for the API and the CLI: the seat backend from the settings, and a
:class:`~device_manager.windows.workflow.WindowSetup` over a runtime."""

from __future__ import annotations

from pathlib import Path

from device_manager.core.config import Settings
from device_manager.errors import DomainError
from device_manager.runtime import Runtime
from device_manager.windows.seat import InfraSeatBackend, SeatBackend
from device_manager.windows.workflow import WindowSetup

__all__ = ["NotConfigured", "seat_backend", "window_setup"]


class NotConfigured(DomainError):
    status_code = 503


def seat_backend(settings: Settings) -> SeatBackend | None:
    """The hall stack's seat backend: ``HALLCLOUD_OPS_STACK`` in ``HALLCLOUD_OPS_PULUMI_STATE_DIR``, by
    default the only stack in HallCloud's state directory (the demo's, right after ``make demo``);
    None while there is none (:func:`window_setup` looks again, and says why when there still is none)."""
    try:
        return _resolve(settings)
    except NotConfigured:
        return None


def _resolve(settings: Settings) -> SeatBackend:
    from infra.automation import default_stack
    from infra.spec import HallConfigError
    from vdi.paths import state_dir

    state = Path(settings.pulumi_state_dir) if settings.pulumi_state_dir else state_dir()
    try:
        stack = settings.stack or default_stack(state)
    except HallConfigError as exc:
        raise NotConfigured(
            f"window setup needs the hall stack: {exc.issues[0].problem}; set HALLCLOUD_OPS_STACK "
            "(and HALLCLOUD_OPS_PULUMI_STATE_DIR when its state is elsewhere)"
        ) from None
    return InfraSeatBackend(stack, state, seat_template=settings.seat_template)


def window_setup(runtime: Runtime) -> WindowSetup:
    if runtime.seat_backend is None:
        runtime.seat_backend = _resolve(runtime.settings)
    return WindowSetup(runtime, runtime.seat_backend, on_step=runtime.on_step)
