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
    """The hall stack's seat backend, or None when the settings name no stack."""
    if not settings.stack or not settings.pulumi_state_dir:
        return None
    return InfraSeatBackend(
        settings.stack, Path(settings.pulumi_state_dir), seat_template=settings.seat_template
    )


def window_setup(runtime: Runtime) -> WindowSetup:
    if runtime.seat_backend is None:
        raise NotConfigured(
            "window setup needs the hall stack: set HALLCLOUD_OPS_STACK (e.g. 'demo') and "
            "HALLCLOUD_OPS_PULUMI_STATE_DIR (the infra state directory)"
        )
    return WindowSetup(runtime, runtime.seat_backend, on_step=runtime.on_step)
