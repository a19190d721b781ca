"""Wiring of window setup for the API and the CLI: the seat backend from the runtime's settings and
one :class:`~device_manager.windows.workflow.WindowSetup` per runtime."""

from __future__ import annotations

from pathlib import Path

from device_manager.errors import DomainError
from device_manager.runtime import OpsRuntime
from device_manager.windows.seat import InfraSeatBackend, SeatBackend
from device_manager.windows.workflow import WindowSetup


class NotConfigured(DomainError):
    status_code = 503


def seat_backend(runtime: OpsRuntime) -> SeatBackend:
    if runtime.seat_backend is None:
        settings = runtime.settings
        if not settings.stack or not settings.pulumi_state_dir:
            raise NotConfigured(
                "window setup needs the hall stack: set HALLCLOUD_OPS_STACK (e.g. 'demo') and "
                "HALLCLOUD_OPS_PULUMI_STATE_DIR (the infra state directory)"
            )
        runtime.seat_backend = InfraSeatBackend(
            settings.stack, Path(settings.pulumi_state_dir), seat_template=settings.seat_template
        )
    return runtime.seat_backend


def window_setup(runtime: OpsRuntime) -> WindowSetup:
    setup = runtime.extra.get("window_setup")
    if setup is None:
        setup = WindowSetup(runtime, seat_backend(runtime), on_step=runtime.extra.get("on_step"))
        runtime.extra["window_setup"] = setup
    assert isinstance(setup, WindowSetup)
    return setup
