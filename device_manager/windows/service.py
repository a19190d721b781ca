"""Wiring of window setup for the API and the CLI: the seat backend from the runtime's settings and
one :class:`~device_manager.windows.workflow.WindowSetup` per runtime."""

from __future__ import annotations

from pathlib import Path

from device_manager.errors import DomainError
from device_manager.jobs.runtime import OpsRuntime
from device_manager.windows.seat import InfraSeatBackend, SeatBackend
from device_manager.windows.workflow import WindowSetup


class NotConfigured(DomainError):
    status_code = 503


def seat_backend(runtime: OpsRuntime) -> SeatBackend:
    """The hall stack's seats: ``HALLCLOUD_OPS_STACK`` in ``HALLCLOUD_OPS_PULUMI_STATE_DIR``, by default
    the only stack in HallCloud's state directory (the demo's, right after ``make demo``)."""
    if runtime.seat_backend is None:
        from infra.automation import default_stack
        from infra.spec import HallConfigError
        from vdi.paths import state_dir

        settings = runtime.settings
        state = Path(settings.pulumi_state_dir) if settings.pulumi_state_dir else state_dir()
        try:
            stack = settings.stack or default_stack(state)
        except HallConfigError as exc:
            raise NotConfigured(
                f"window setup needs the hall stack: {exc.issues[0].problem}; set HALLCLOUD_OPS_STACK "
                "(and HALLCLOUD_OPS_PULUMI_STATE_DIR when its state is elsewhere)"
            ) from None
        runtime.seat_backend = InfraSeatBackend(stack, state, seat_template=settings.seat_template)
    return runtime.seat_backend


def window_setup(runtime: OpsRuntime) -> WindowSetup:
    setup = runtime.extra.get("window_setup")
    if setup is None:
        setup = WindowSetup(runtime, seat_backend(runtime), on_step=runtime.extra.get("on_step"))
        runtime.extra["window_setup"] = setup
    assert isinstance(setup, WindowSetup)
    return setup
