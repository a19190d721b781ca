"""Windows (numbered service counters, a NetBox Location-like thing with a seat): ``/windows`` and
``/windows/{window_id}``; their setup is ``window_setup.py`` under the same key."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from device_manager.api.deps import ItStaff, SessionDep, Viewer
from device_manager.db.models import Window
from device_manager.schemas.common import Page
from device_manager.schemas.inventory import WindowCreate, WindowPublic, WindowUpdate
from device_manager.services import inventory

__all__ = ["router"]

router = APIRouter(prefix="/windows", tags=["windows"])


@router.get("", response_model=Page[WindowPublic])
def list_windows(
    db: SessionDep,
    principal: Viewer,
    site_id: int | None = None,
    number: int | None = Query(None, description="only the window(s) with this number"),
    service: str | None = Query(None, description="only windows offering this service (事项)"),
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[WindowPublic]:
    query = inventory.scoped(
        select(Window).order_by(Window.site_id, Window.number), Window.site_id, principal
    )
    if site_id is not None:
        query = query.where(Window.site_id == site_id)
    if number is not None:
        query = query.where(Window.number == number)
    if service is None:
        count, rows = inventory.page(db, query, limit, offset)
    else:
        matching = [w for w in db.scalars(query) if service in (w.services or [])]
        count, rows = len(matching), matching[offset : offset + limit]
    return Page(count=count, results=[WindowPublic.model_validate(r) for r in rows])


@router.post("", response_model=WindowPublic, status_code=status.HTTP_201_CREATED)
def create_window(db: SessionDep, principal: ItStaff, payload: WindowCreate) -> WindowPublic:
    window = inventory.create_window(db, principal, payload)
    db.commit()
    return WindowPublic.model_validate(window)


@router.get("/{window_id}", response_model=WindowPublic)
def get_window(db: SessionDep, principal: Viewer, window_id: int) -> WindowPublic:
    return WindowPublic.model_validate(inventory.get_window(db, principal, window_id))


@router.patch("/{window_id}", response_model=WindowPublic)
def update_window(db: SessionDep, principal: ItStaff, window_id: int, payload: WindowUpdate) -> WindowPublic:
    window = inventory.update_window(db, inventory.get_window(db, principal, window_id), payload)
    db.commit()
    return WindowPublic.model_validate(window)


@router.delete("/{window_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_window(db: SessionDep, principal: ItStaff, window_id: int) -> None:
    db.delete(inventory.get_window(db, principal, window_id))
    db.commit()
