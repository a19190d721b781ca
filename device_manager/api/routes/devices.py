from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from device_manager.api.deps import ItStaff, SessionDep, Viewer, note
from device_manager.db.models import Device, DeviceType, Event
from device_manager.schemas.common import Page
from device_manager.schemas.inventory import (
    DeviceCreate,
    DevicePublic,
    DeviceUpdate,
    EventPublic,
    ImportReport,
    MetricSamplePublic,
)
from device_manager.services import imports, inventory, polling

__all__ = ["router"]

router = APIRouter(prefix="/devices", tags=["devices"])

IMPORT_TYPES: dict[str, imports.ImportFormat] = {
    "text/csv": "csv",
    "application/csv": "csv",
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "text/x-yaml": "yaml",
}


@router.get("", response_model=Page[DevicePublic])
def list_devices(
    db: SessionDep,
    principal: Viewer,
    site_id: int | None = None,
    window_id: int | None = None,
    device_type: str | None = None,
    status_: str | None = Query(None, alias="status"),
    oper_status: str | None = None,
    tag: str | None = None,
    q: str | None = Query(None, description="substring of name or address"),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[DevicePublic]:
    query = inventory.scoped(select(Device).order_by(Device.id), Device.site_id, principal)
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    if window_id is not None:
        query = query.where(Device.window_id == window_id)
    if device_type is not None:
        query = query.join(DeviceType, DeviceType.id == Device.device_type_id).where(
            DeviceType.slug == device_type
        )
    if status_ is not None:
        query = query.where(Device.status == status_)
    if oper_status is not None:
        query = query.where(Device.oper_status == oper_status)
    if q:
        query = query.where(Device.name.contains(q) | Device.address.contains(q))
    if tag is None:
        count, rows = inventory.page(db, query, limit, offset)
    else:  # tags are a JSON list: filtered here, portable across SQLite and PostgreSQL
        matching = [d for d in db.scalars(query) if tag in (d.tags or [])]
        count, rows = len(matching), matching[offset : offset + limit]
    return Page(count=count, results=[inventory.device_public(d) for d in rows])


@router.post("", response_model=DevicePublic, status_code=status.HTTP_201_CREATED)
def create_device(
    request: Request, db: SessionDep, principal: ItStaff, payload: DeviceCreate
) -> DevicePublic:
    device = inventory.create_device(db, principal, payload)
    db.commit()
    note(request, f"device {device.id} '{device.name}'")
    return inventory.device_public(device)


@router.post(
    "/import",
    response_model=ImportReport,
    responses={422: {"model": ImportReport, "description": "rows failed; nothing stored"}},
    openapi_extra={
        "requestBody": {
            "content": {t: {"schema": {"type": "string"}} for t in ("text/csv", "application/yaml")},
            "required": True,
        }
    },
)
async def import_devices(
    request: Request,
    db: SessionDep,
    principal: ItStaff,
    partial: bool = Query(False, description="store the good rows even when some rows fail"),
    format_: Literal["csv", "yaml"] | None = Query(None, alias="format"),
) -> JSONResponse:
    """Bulk import from CSV (header: name,site,device_type,address[,area,window,snmp_port,snmp_credential,
    ssh_credential,status,tags,description]) or YAML (a list of the same keys). All-or-nothing unless
    ``partial=true``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt: imports.ImportFormat | None = format_ or IMPORT_TYPES.get(content_type)
    if fmt is None:
        raise HTTPException(
            status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
            f"content type '{content_type}': send text/csv or application/yaml, or add ?format=csv|yaml",
        )
    raw = await request.body()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "the import must be UTF-8 text") from None

    def run() -> ImportReport:
        report = imports.import_devices(db, principal, text, fmt, partial)
        if report.committed:
            db.commit()
        else:
            db.rollback()
        return report

    report = await run_in_threadpool(run)
    note(request, f"import {fmt}: {report.created} created, {report.failed} failed, partial={partial}")
    code = status.HTTP_200_OK if report.committed else status.HTTP_422_UNPROCESSABLE_CONTENT
    return JSONResponse(report.model_dump(mode="json"), status_code=code)


@router.get("/{device_id}", response_model=DevicePublic)
def get_device(db: SessionDep, principal: Viewer, device_id: int) -> DevicePublic:
    return inventory.device_public(inventory.get_device(db, principal, device_id))


@router.patch("/{device_id}", response_model=DevicePublic)
def update_device(db: SessionDep, principal: ItStaff, device_id: int, payload: DeviceUpdate) -> DevicePublic:
    device = inventory.update_device(db, principal, inventory.get_device(db, principal, device_id), payload)
    db.commit()
    return inventory.device_public(device)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device(db: SessionDep, principal: ItStaff, device_id: int) -> None:
    inventory.delete_device(db, inventory.get_device(db, principal, device_id))
    db.commit()


@router.get("/{device_id}/metrics", response_model=list[MetricSamplePublic])
def device_metrics(
    db: SessionDep, principal: Viewer, device_id: int, metric: str | None = None
) -> list[MetricSamplePublic]:
    """The bounded metric history of one device, oldest first per metric."""
    device = inventory.get_device(db, principal, device_id)
    return [
        MetricSamplePublic(metric=s.metric, ts=s.ts, value=s.value)
        for s in polling.history(db, device.id, metric)
    ]


@router.get("/{device_id}/events", response_model=list[EventPublic])
def device_events(
    db: SessionDep, principal: Viewer, device_id: int, limit: int = Query(100, ge=1, le=1000)
) -> list[EventPublic]:
    device = inventory.get_device(db, principal, device_id)
    rows = db.scalars(
        select(Event)
        .where(Event.device_id == device.id)
        .order_by(Event.at.desc(), Event.id.desc())
        .limit(limit)
    )
    return [EventPublic.model_validate(e) for e in rows]
