"""Window setup: ``POST /windows/{window_id}/setup`` opens a service window (seat, devices, playbooks,
verification) as a job; ``GET`` shows where it stands (and the failed step); ``DELETE`` tears it down.

The path names the window by its id, like every ``/windows/{window_id}`` path; find a window by its
number with ``GET /windows?number=12`` (``hall window setup 12`` does the lookup itself)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request, status
from pydantic import BaseModel

from device_manager.api.deps import ItStaff, RuntimeDep, SessionDep, Viewer, note
from device_manager.api.routes.jobs import accepted
from device_manager.db.job_models import WindowSetupState
from device_manager.jobs.schemas import JobAccepted
from device_manager.services import inventory
from device_manager.windows.service import window_setup

__all__ = ["WindowSetupPublic", "router"]

router = APIRouter(prefix="/windows", tags=["window setup"])


class WindowSetupPublic(BaseModel):
    window_id: int
    number: int
    status: str  # absent | running | ready | failed | tearing_down
    failed_step: str | None
    error: str | None
    steps: dict[str, Any]
    outputs: dict[str, Any]
    last_job_id: int | None
    updated_at: dt.datetime | None


@router.get("/{window_id}/setup", response_model=WindowSetupPublic)
def get_setup(db: SessionDep, principal: Viewer, window_id: int) -> WindowSetupPublic:
    window = inventory.get_window(db, principal, window_id)
    state = db.get(WindowSetupState, window.id)
    if state is None:
        return WindowSetupPublic(
            window_id=window.id,
            number=window.number,
            status="absent",
            failed_step=None,
            error=None,
            steps={},
            outputs={},
            last_job_id=None,
            updated_at=None,
        )
    return WindowSetupPublic(
        window_id=window.id,
        number=window.number,
        status=state.status,
        failed_step=state.failed_step,
        error=state.error,
        steps=state.steps or {},
        outputs=state.outputs or {},
        last_job_id=state.last_job_id,
        updated_at=state.updated_at,
    )


@router.post("/{window_id}/setup", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def start_setup(
    db: SessionDep, principal: ItStaff, runtime: RuntimeDep, request: Request, window_id: int
) -> JobAccepted:
    window = inventory.get_window(db, principal, window_id)
    job_id = window_setup(runtime).submit(db, window, principal.actor)
    note(request, f"window {window.number} (id {window.id}) setup: job {job_id}")
    return accepted(job_id, request.app.state.settings.api_v1_prefix)


@router.delete("/{window_id}/setup", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def teardown(
    db: SessionDep, principal: ItStaff, runtime: RuntimeDep, request: Request, window_id: int
) -> JobAccepted:
    window = inventory.get_window(db, principal, window_id)
    job_id = window_setup(runtime).submit(db, window, principal.actor, teardown=True)
    note(request, f"window {window.number} (id {window.id}) teardown: job {job_id}")
    return accepted(job_id, request.app.state.settings.api_v1_prefix)
