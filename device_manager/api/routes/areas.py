from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from device_manager.api.deps import ItStaff, SessionDep, Viewer
from device_manager.db.models import Area
from device_manager.schemas.common import Page
from device_manager.schemas.inventory import AreaCreate, AreaPublic, AreaUpdate
from device_manager.services import inventory

__all__ = ["router"]

router = APIRouter(prefix="/areas", tags=["areas"])


@router.get("", response_model=Page[AreaPublic])
def list_areas(
    db: SessionDep,
    principal: Viewer,
    site_id: int | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[AreaPublic]:
    query = inventory.scoped(select(Area).order_by(Area.id), Area.site_id, principal)
    if site_id is not None:
        query = query.where(Area.site_id == site_id)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[AreaPublic.model_validate(r) for r in rows])


@router.post("", response_model=AreaPublic, status_code=status.HTTP_201_CREATED)
def create_area(db: SessionDep, principal: ItStaff, payload: AreaCreate) -> AreaPublic:
    area = inventory.create_area(db, principal, payload)
    db.commit()
    return AreaPublic.model_validate(area)


@router.get("/{area_id}", response_model=AreaPublic)
def get_area(db: SessionDep, principal: Viewer, area_id: int) -> AreaPublic:
    return AreaPublic.model_validate(inventory.get_area(db, principal, area_id))


@router.patch("/{area_id}", response_model=AreaPublic)
def update_area(db: SessionDep, principal: ItStaff, area_id: int, payload: AreaUpdate) -> AreaPublic:
    area = inventory.update_area(db, inventory.get_area(db, principal, area_id), payload)
    db.commit()
    return AreaPublic.model_validate(area)


@router.delete("/{area_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_area(db: SessionDep, principal: ItStaff, area_id: int) -> None:
    db.delete(inventory.get_area(db, principal, area_id))
    db.commit()
