"""Jobs: history, one job, its log, its live log stream (SSE), cancel; and playbook runs, which are
jobs too."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sse_starlette.sse import EventSourceResponse

from device_manager.api.deps import ItStaff, RuntimeDep, SessionDep, Viewer
from device_manager.core.security import Principal
from device_manager.db.job_models import Job
from device_manager.db.models import Device
from device_manager.jobs import stream
from device_manager.jobs.manager import log_lines
from device_manager.jobs.schemas import JobAccepted, JobLogLinePublic, JobPublic
from device_manager.schemas.common import Page
from device_manager.services import inventory

__all__ = ["accepted", "devices_of", "router"]

router = APIRouter(prefix="/jobs", tags=["jobs"])


def accepted(job_id: int, prefix: str = "/api/v1") -> JobAccepted:
    return JobAccepted(
        job_id=job_id, status_url=f"{prefix}/jobs/{job_id}", stream_url=f"{prefix}/jobs/{job_id}/stream"
    )


def _job(db: SessionDep, principal: Principal, job_id: int) -> Job:
    job = db.get(Job, job_id)
    if job is None or (job.site_id is not None and not principal.sees_site(job.site_id)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    if job.site_id is None and not principal.unscoped:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id} not found")
    return job


@router.get("", response_model=Page[JobPublic])
def list_jobs(
    db: SessionDep,
    principal: Viewer,
    kind: str | None = None,
    job_status: str | None = Query(None, alias="status"),
    window_id: int | None = None,
    device_id: int | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[JobPublic]:
    query = select(Job).order_by(Job.id.desc())
    if principal.site_ids is not None:
        query = query.where(Job.site_id.in_(sorted(principal.site_ids)))
    for column, value in (
        (Job.kind, kind),
        (Job.status, job_status),
        (Job.window_id, window_id),
        (Job.device_id, device_id),
    ):
        if value is not None:
            query = query.where(column == value)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[JobPublic.model_validate(r) for r in rows])


@router.get("/{job_id}", response_model=JobPublic)
def get_job(db: SessionDep, principal: Viewer, job_id: int) -> JobPublic:
    return JobPublic.model_validate(_job(db, principal, job_id))


@router.get("/{job_id}/log", response_model=list[JobLogLinePublic])
def get_log(
    db: SessionDep,
    principal: Viewer,
    job_id: int,
    after: int = Query(0, ge=0),
    limit: int = Query(1000, ge=1, le=10000),
) -> list[JobLogLinePublic]:
    _job(db, principal, job_id)
    return [JobLogLinePublic.model_validate(line) for line in log_lines(db, job_id, after, limit)]


@router.get("/{job_id}/stream")
def stream_log(
    db: SessionDep,
    principal: Viewer,
    request: Request,
    job_id: int,
    after: int = Query(0, ge=0),
    last_event_id: Annotated[str | None, Header()] = None,
) -> EventSourceResponse:
    _job(db, principal, job_id)
    if last_event_id and last_event_id.isdigit():
        after = max(after, int(last_event_id))
    db.close()  # the stream may last long: do not hold this request's connection
    return EventSourceResponse(stream.events(request.app.state.session_factory, job_id, after), ping=15)


@router.post("/{job_id}/cancel", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED)
def cancel_job(db: SessionDep, principal: ItStaff, runtime: RuntimeDep, job_id: int) -> JobPublic:
    job = _job(db, principal, job_id)
    db.commit()  # release this request's SQLite lock before the job manager writes
    if not runtime.jobs.cancel(job_id):
        raise HTTPException(status.HTTP_409_CONFLICT, f"job {job_id} already finished ({job.status})")
    db.refresh(job)
    return JobPublic.model_validate(job)


# --- playbook runs ---------------------------------------------------------------------------------


class PlaybookRunCreate(BaseModel):
    device_ids: list[int] = Field(min_length=1, max_length=500)
    check: bool = Field(False, description="check mode with diff: report what would change, change nothing")
    variables: dict[str, Any] = Field(default_factory=dict, description="playbook variables (no secrets)")


@router.get("/playbooks/catalog")
def list_playbooks(_principal: Viewer) -> list[dict[str, Any]]:
    from device_manager.ansible import playbooks

    return [playbooks.describe(p) for p in playbooks.catalog().values()]


@router.post("/playbooks/{name}", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def run_playbook(
    db: SessionDep,
    principal: ItStaff,
    runtime: RuntimeDep,
    request: Request,
    name: str,
    payload: PlaybookRunCreate,
) -> JobAccepted:
    from device_manager.ansible import service as ansible_service

    devices = devices_of(db, principal, payload.device_ids)
    job_id = ansible_service.submit_playbook(
        runtime,
        db,
        name,
        devices,
        check=payload.check,
        variables=payload.variables,
        created_by=principal.actor,
    )
    return accepted(job_id, request.app.state.settings.api_v1_prefix)


def devices_of(db: SessionDep, principal: Principal, ids: list[int]) -> list[Device]:
    return [inventory.get_device(db, principal, i) for i in ids]
