from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select

from device_manager.api.deps import Admin, SessionDep, Viewer
from device_manager.db.models import DeviceType
from device_manager.schemas.common import Page
from device_manager.schemas.inventory import DeviceTypeCreate, DeviceTypePublic, DeviceTypeUpdate
from device_manager.services import inventory

__all__ = ["router"]

router = APIRouter(prefix="/device-types", tags=["device-types"])


@router.get("", response_model=Page[DeviceTypePublic])
def list_device_types(db: SessionDep, _principal: Viewer) -> Page[DeviceTypePublic]:
    rows = list(db.scalars(select(DeviceType).order_by(DeviceType.slug)))
    return Page(count=len(rows), results=[DeviceTypePublic.model_validate(r) for r in rows])


@router.post("", response_model=DeviceTypePublic, status_code=status.HTTP_201_CREATED)
def create_device_type(db: SessionDep, _principal: Admin, payload: DeviceTypeCreate) -> DeviceTypePublic:
    row = inventory.create_device_type(db, payload)
    db.commit()
    return DeviceTypePublic.model_validate(row)


@router.get("/{type_id}", response_model=DeviceTypePublic)
def get_device_type(db: SessionDep, _principal: Viewer, type_id: int) -> DeviceTypePublic:
    return DeviceTypePublic.model_validate(inventory.get_device_type(db, type_id))


@router.patch("/{type_id}", response_model=DeviceTypePublic)
def update_device_type(
    db: SessionDep, _principal: Admin, type_id: int, payload: DeviceTypeUpdate
) -> DeviceTypePublic:
    row = inventory.update_device_type(db, inventory.get_device_type(db, type_id), payload)
    db.commit()
    return DeviceTypePublic.model_validate(row)


@router.delete("/{type_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device_type(db: SessionDep, _principal: Admin, type_id: int) -> None:
    inventory.delete_device_type(db, inventory.get_device_type(db, type_id))
    db.commit()
