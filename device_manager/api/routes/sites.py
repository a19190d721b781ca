from __future__ import annotations

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from device_manager.api.deps import Admin, SessionDep, Viewer, note
from device_manager.db.models import Site
from device_manager.schemas.common import Page
from device_manager.schemas.inventory import SiteCreate, SitePublic, SiteUpdate
from device_manager.services import inventory

__all__ = ["router"]

router = APIRouter(prefix="/sites", tags=["sites"])


@router.get("", response_model=Page[SitePublic])
def list_sites(
    db: SessionDep, principal: Viewer, limit: int = Query(50, ge=1, le=1000), offset: int = Query(0, ge=0)
) -> Page[SitePublic]:
    query = inventory.scoped(select(Site).order_by(Site.id), Site.id, principal)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[SitePublic.model_validate(r) for r in rows])


@router.post("", response_model=SitePublic, status_code=status.HTTP_201_CREATED)
def create_site(request: Request, db: SessionDep, principal: Admin, payload: SiteCreate) -> SitePublic:
    site = inventory.create_site(db, principal, payload)
    db.commit()
    note(request, f"site {site.id} '{site.slug}'")
    return SitePublic.model_validate(site)


@router.get("/{site_id}", response_model=SitePublic)
def get_site(db: SessionDep, principal: Viewer, site_id: int) -> SitePublic:
    return SitePublic.model_validate(inventory.get_site(db, principal, site_id))


@router.patch("/{site_id}", response_model=SitePublic)
def update_site(db: SessionDep, principal: Admin, site_id: int, payload: SiteUpdate) -> SitePublic:
    site = inventory.update_site(db, inventory.get_site(db, principal, site_id), payload)
    db.commit()
    return SitePublic.model_validate(site)


@router.delete("/{site_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_site(db: SessionDep, principal: Admin, site_id: int) -> None:
    inventory.delete_site(db, inventory.get_site(db, principal, site_id))
    db.commit()
