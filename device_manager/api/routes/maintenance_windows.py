"""Maintenance windows (time ranges in which a site or a device raises no alerts): not to be confused
with service windows (``windows.py``)."""

from __future__ import annotations

from fastapi import APIRouter, Query, status
from sqlalchemy import or_, select

from device_manager.api.deps import Operator, SessionDep, Viewer
from device_manager.db.models import Device, MaintenanceWindow, utcnow
from device_manager.errors import Invalid, NotFound
from device_manager.schemas.alerts import MaintenanceWindowCreate, MaintenanceWindowPublic
from device_manager.schemas.common import Page

__all__ = ["router"]

router = APIRouter(prefix="/maintenance-windows", tags=["maintenance-windows"])


@router.get("", response_model=Page[MaintenanceWindowPublic])
def list_maintenance_windows(
    db: SessionDep, principal: Viewer, current: bool = Query(False, description="only windows in force now")
) -> Page[MaintenanceWindowPublic]:
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc())
    if current:
        now = utcnow()
        query = query.where(MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now)
    if not principal.unscoped:
        sites = sorted(principal.site_ids or [])
        query = query.outerjoin(Device, Device.id == MaintenanceWindow.device_id).where(
            or_(MaintenanceWindow.site_id.in_(sites), Device.site_id.in_(sites))
        )
    rows = list(db.scalars(query))
    return Page(count=len(rows), results=[MaintenanceWindowPublic.model_validate(r) for r in rows])


@router.post("", response_model=MaintenanceWindowPublic, status_code=status.HTTP_201_CREATED)
def create_maintenance_window(
    db: SessionDep, principal: Operator, payload: MaintenanceWindowCreate
) -> MaintenanceWindowPublic:
    if payload.device_id is not None:
        device = db.get(Device, payload.device_id)
        if device is None or not principal.sees_site(device.site_id):
            raise Invalid.field("device_id", f"device {payload.device_id} does not exist")
    elif not principal.sees_site(payload.site_id):
        raise Invalid.field("site_id", f"site {payload.site_id} does not exist")
    row = MaintenanceWindow(**payload.model_dump(), created_by=principal.actor)
    db.add(row)
    db.commit()
    return MaintenanceWindowPublic.model_validate(row)


@router.delete("/{maintenance_window_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_maintenance_window(db: SessionDep, principal: Operator, maintenance_window_id: int) -> None:
    row = db.get(MaintenanceWindow, maintenance_window_id)
    site = row.site_id if row else None
    if row is not None and row.device_id is not None:
        device = db.get(Device, row.device_id)
        site = device.site_id if device else None
    if row is None or not principal.sees_site(site):
        raise NotFound("maintenance window", maintenance_window_id)
    db.delete(row)
    db.commit()
