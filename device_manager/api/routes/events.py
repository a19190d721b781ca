from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from device_manager.api.deps import SessionDep, Viewer
from device_manager.db.models import Device, Event
from device_manager.schemas.common import Page
from device_manager.schemas.inventory import EventPublic
from device_manager.services import inventory

__all__ = ["router"]

router = APIRouter(prefix="/events", tags=["events"])


@router.get("", response_model=Page[EventPublic])
def list_events(
    db: SessionDep,
    principal: Viewer,
    device_id: int | None = None,
    kind: str | None = None,
    origin: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[EventPublic]:
    """Device events (status changes, traps), newest first. Traps from unknown sources are shown only
    to tokens that see every site."""
    query = select(Event).order_by(Event.at.desc(), Event.id.desc())
    if not principal.unscoped:
        query = query.join(Device, Device.id == Event.device_id)
        query = inventory.scoped(query, Device.site_id, principal)
    if device_id is not None:
        query = query.where(Event.device_id == device_id)
    if kind is not None:
        query = query.where(Event.kind == kind)
    if origin is not None:
        query = query.where(Event.origin == origin)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[EventPublic.model_validate(e) for e in rows])
