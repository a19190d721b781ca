"""Window setup: ``POST /windows/{number}/setup`` opens a service window (seat, devices, playbooks,
verification) as a job; ``GET`` shows where it stands (and the failed step); ``DELETE`` tears it down."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel

from device_manager.api.deps import ItStaff, SessionDep, Viewer, note
from device_manager.api.routes.jobs import OpsDep, accepted
from device_manager.db.job_models import WindowSetupState
from device_manager.jobs.schemas import JobAccepted
from device_manager.windows.service import window_setup
from device_manager.windows.workflow import find_window

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


SiteQuery = Query(None, description="the hall, when several halls have a window with this number")


@router.get("/{number}/setup", response_model=WindowSetupPublic)
def get_setup(
    db: SessionDep, principal: Viewer, number: int, site_id: int | None = SiteQuery
) -> WindowSetupPublic:
    window = find_window(db, number, site_id, principal.sees_site)
    state = db.get(WindowSetupState, window.id)
    if state is None:
        return WindowSetupPublic(
            window_id=window.id,
            number=number,
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
        number=number,
        status=state.status,
        failed_step=state.failed_step,
        error=state.error,
        steps=state.steps or {},
        outputs=state.outputs or {},
        last_job_id=state.last_job_id,
        updated_at=state.updated_at,
    )


@router.post("/{number}/setup", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def start_setup(
    db: SessionDep,
    principal: ItStaff,
    ops: OpsDep,
    request: Request,
    number: int,
    site_id: int | None = SiteQuery,
) -> JobAccepted:
    window = find_window(db, number, site_id, principal.sees_site)
    job_id = window_setup(ops).submit(db, window, principal.actor)
    note(request, f"window {number} setup: job {job_id}")
    return accepted(job_id, request.app.state.settings.api_v1_prefix)


@router.delete("/{number}/setup", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def teardown(
    db: SessionDep,
    principal: ItStaff,
    ops: OpsDep,
    request: Request,
    number: int,
    site_id: int | None = SiteQuery,
) -> JobAccepted:
    window = find_window(db, number, site_id, principal.sees_site)
    job_id = window_setup(ops).submit(db, window, principal.actor, teardown=True)
    note(request, f"window {number} teardown: job {job_id}")
    return accepted(job_id, request.app.state.settings.api_v1_prefix)
