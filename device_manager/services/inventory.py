"""Inventory rules: sites, areas, windows, device types and devices, scoped to the caller's sites.

Objects outside the caller's sites are reported as not found, so a scoped token cannot even learn that
they exist. Reference checks collect every problem of a payload, keyed by field.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from device_manager.core.security import Principal
from device_manager.db.models import (
    AlertRule,
    Area,
    CredentialProfile,
    Device,
    DeviceType,
    Site,
    Window,
)
from device_manager.errors import Conflict, Invalid, NotFound, PermissionDenied
from device_manager.schemas.inventory import (
    AreaCreate,
    AreaUpdate,
    DeviceCreate,
    DevicePublic,
    DeviceTypeCreate,
    DeviceTypeUpdate,
    DeviceUpdate,
    SiteCreate,
    SiteUpdate,
    WindowCreate,
    WindowUpdate,
)

__all__ = [
    "CREDENTIAL_KINDS",
    "create_area",
    "create_device",
    "create_device_type",
    "create_site",
    "create_window",
    "delete_device",
    "delete_device_type",
    "delete_site",
    "device_public",
    "device_type_slugs",
    "get_area",
    "get_device",
    "get_device_type",
    "get_site",
    "get_window",
    "page",
    "resolve_device",
    "scoped",
    "update_area",
    "update_device",
    "update_device_type",
    "update_site",
    "update_window",
]

CREDENTIAL_KINDS = {"snmp_credential_id": ("snmp_v2c", "snmp_v3"), "ssh_credential_id": ("ssh",)}


def scoped(query: Select[Any], column: Any, principal: Principal) -> Select[Any]:
    if principal.site_ids is None:
        return query
    return query.where(column.in_(sorted(principal.site_ids)))


def page(db: Session, query: Select[Any], limit: int, offset: int) -> tuple[int, list[Any]]:
    count = db.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(db.scalars(query.limit(limit).offset(offset)))
    return count, rows


def _flush_or_conflict(db: Session, field: str, message: str) -> None:
    try:
        db.flush()
    except IntegrityError as exc:
        db.rollback()
        raise Conflict.field(field, message) from exc


def _apply(row: Any, payload: Any, skip: set[str] | None = None) -> None:
    for field in payload.model_fields_set - (skip or set()):
        setattr(row, field, getattr(payload, field))


# --- sites ----------------------------------------------------------------------------------------


def get_site(db: Session, principal: Principal, site_id: int) -> Site:
    site = db.get(Site, site_id)
    if site is None or not principal.sees_site(site.id):
        raise NotFound("site", site_id)
    return site


def create_site(db: Session, principal: Principal, payload: SiteCreate) -> Site:
    if not principal.unscoped:
        raise PermissionDenied("only a token for every site can create sites")
    errors = {}
    if db.scalar(select(Site.id).where(Site.name == payload.name)):
        errors["name"] = [f"a site named '{payload.name}' already exists"]
    if db.scalar(select(Site.id).where(Site.slug == payload.slug)):
        errors["slug"] = [f"a site with slug '{payload.slug}' already exists"]
    if errors:
        raise Conflict("duplicate site", errors)
    site = Site(**payload.model_dump())
    db.add(site)
    _flush_or_conflict(db, "name", "duplicate site")
    return site


def update_site(db: Session, site: Site, payload: SiteUpdate) -> Site:
    errors = {}
    if payload.name and db.scalar(select(Site.id).where(Site.name == payload.name, Site.id != site.id)):
        errors["name"] = [f"a site named '{payload.name}' already exists"]
    if payload.slug and db.scalar(select(Site.id).where(Site.slug == payload.slug, Site.id != site.id)):
        errors["slug"] = [f"a site with slug '{payload.slug}' already exists"]
    if errors:
        raise Conflict("duplicate site", errors)
    _apply(site, payload)
    _flush_or_conflict(db, "name", "duplicate site")
    return site


def delete_site(db: Session, site: Site) -> None:
    devices = db.scalar(select(func.count(Device.id)).where(Device.site_id == site.id))
    if devices:
        raise Conflict.field(
            "id", f"site '{site.slug}' still has {devices} device(s); delete or move them first"
        )
    for model in (Window, Area):
        for row in db.scalars(select(model).where(model.site_id == site.id)):
            db.delete(row)
    db.flush()
    db.delete(site)
    db.flush()


# --- areas and windows ----------------------------------------------------------------------------


def get_area(db: Session, principal: Principal, area_id: int) -> Area:
    area = db.get(Area, area_id)
    if area is None or not principal.sees_site(area.site_id):
        raise NotFound("area", area_id)
    return area


def create_area(db: Session, principal: Principal, payload: AreaCreate) -> Area:
    site = db.get(Site, payload.site_id)
    if site is None or not principal.sees_site(site.id):
        raise Invalid.field("site_id", f"site {payload.site_id} does not exist")
    if db.scalar(select(Area.id).where(Area.site_id == site.id, Area.name == payload.name)):
        raise Conflict.field("name", f"site '{site.slug}' already has an area named '{payload.name}'")
    area = Area(**payload.model_dump())
    db.add(area)
    _flush_or_conflict(db, "name", "duplicate area")
    return area


def update_area(db: Session, area: Area, payload: AreaUpdate) -> Area:
    if payload.name and db.scalar(
        select(Area.id).where(Area.site_id == area.site_id, Area.name == payload.name, Area.id != area.id)
    ):
        raise Conflict.field("name", f"this site already has an area named '{payload.name}'")
    _apply(area, payload)
    _flush_or_conflict(db, "name", "duplicate area")
    return area


def get_window(db: Session, principal: Principal, window_id: int) -> Window:
    window = db.get(Window, window_id)
    if window is None or not principal.sees_site(window.site_id):
        raise NotFound("window", window_id)
    return window


def _check_area(db: Session, site_id: int, area_id: int | None, errors: dict[str, list[str]]) -> None:
    if area_id is None:
        return
    area = db.get(Area, area_id)
    if area is None or area.site_id != site_id:
        errors["area_id"] = [f"area {area_id} does not exist in site {site_id}"]


def create_window(db: Session, principal: Principal, payload: WindowCreate) -> Window:
    site = db.get(Site, payload.site_id)
    if site is None or not principal.sees_site(site.id):
        raise Invalid.field("site_id", f"site {payload.site_id} does not exist")
    errors: dict[str, list[str]] = {}
    _check_area(db, site.id, payload.area_id, errors)
    if errors:
        raise Invalid("invalid window", errors)
    if db.scalar(select(Window.id).where(Window.site_id == site.id, Window.number == payload.number)):
        raise Conflict.field("number", f"site '{site.slug}' already has window {payload.number}")
    window = Window(**payload.model_dump())
    db.add(window)
    _flush_or_conflict(db, "number", "duplicate window number")
    return window


def update_window(db: Session, window: Window, payload: WindowUpdate) -> Window:
    errors: dict[str, list[str]] = {}
    if "area_id" in payload.model_fields_set:
        _check_area(db, window.site_id, payload.area_id, errors)
    if errors:
        raise Invalid("invalid window", errors)
    _apply(window, payload)
    db.flush()
    return window


# --- device types ---------------------------------------------------------------------------------


def get_device_type(db: Session, type_id: int) -> DeviceType:
    row = db.get(DeviceType, type_id)
    if row is None:
        raise NotFound("device type", type_id)
    return row


def device_type_slugs(db: Session) -> list[str]:
    return list(db.scalars(select(DeviceType.slug).order_by(DeviceType.slug)))


def create_device_type(db: Session, payload: DeviceTypeCreate) -> DeviceType:
    if db.scalar(select(DeviceType.id).where(DeviceType.slug == payload.slug)):
        raise Conflict.field("slug", f"device type '{payload.slug}' already exists")
    row = DeviceType(**payload.model_dump())
    db.add(row)
    _flush_or_conflict(db, "slug", "duplicate device type")
    return row


def update_device_type(db: Session, row: DeviceType, payload: DeviceTypeUpdate) -> DeviceType:
    _apply(row, payload)
    db.flush()
    return row


def delete_device_type(db: Session, row: DeviceType) -> None:
    used = db.scalar(select(func.count(Device.id)).where(Device.device_type_id == row.id))
    if used:
        raise Conflict.field("id", f"device type '{row.slug}' is used by {used} device(s)")
    rules = db.scalar(select(func.count(AlertRule.id)).where(AlertRule.device_type_id == row.id))
    if rules:
        raise Conflict.field("id", f"device type '{row.slug}' is used by {rules} alert rule(s)")
    db.delete(row)
    db.flush()


# --- devices --------------------------------------------------------------------------------------


def device_public(device: Device) -> DevicePublic:
    return DevicePublic(
        id=device.id,
        name=device.name,
        site_id=device.site_id,
        area_id=device.area_id,
        window_id=device.window_id,
        device_type=device.device_type.slug,
        address=device.address,
        snmp_port=device.snmp_port,
        snmp_credential_id=device.snmp_credential_id,
        ssh_credential_id=device.ssh_credential_id,
        status=device.status,
        tags=list(device.tags or []),
        description=device.description,
        oper_status=device.oper_status,
        last_seen=device.last_seen,
        last_polled=device.last_polled,
        last_error=device.last_error,
        facts=dict(device.facts or {}),
    )


def get_device(db: Session, principal: Principal, device_id: int) -> Device:
    device = db.get(Device, device_id)
    if device is None or not principal.sees_site(device.site_id):
        raise NotFound("device", device_id)
    return device


def resolve_device(
    db: Session,
    principal: Principal,
    *,
    site_id: int,
    name: str,
    device_type: str | None,
    area_id: int | None,
    window_id: int | None,
    credentials: dict[str, int | None],
    exclude_id: int | None = None,
) -> tuple[dict[str, list[str]], dict[str, list[str]], DeviceType | None]:
    """(invalid, conflicts, device type) for a device payload: every problem, keyed by field."""
    invalid: dict[str, list[str]] = {}
    conflicts: dict[str, list[str]] = {}
    site = db.get(Site, site_id)
    if site is None or not principal.sees_site(site_id):
        invalid["site_id"] = [f"site {site_id} does not exist"]
    dtype = None
    if device_type is not None:
        dtype = db.scalar(select(DeviceType).where(DeviceType.slug == device_type))
        if dtype is None:
            known = ", ".join(device_type_slugs(db))
            invalid["device_type"] = [f"unknown device type '{device_type}'; known: {known}"]
    _check_area(db, site_id, area_id, invalid)
    window = db.get(Window, window_id) if window_id is not None else None
    if window_id is not None and (window is None or window.site_id != site_id):
        invalid["window_id"] = [f"window {window_id} does not exist in site {site_id}"]
    for field, kinds in CREDENTIAL_KINDS.items():
        cred_id = credentials.get(field)
        if cred_id is None:
            continue
        cred = db.get(CredentialProfile, cred_id)
        if cred is None:
            invalid[field] = [f"credential profile {cred_id} does not exist"]
        elif cred.kind not in kinds:
            invalid[field] = [
                f"credential profile '{cred.name}' is {cred.kind}; expected {' or '.join(kinds)}"
            ]
    if site is not None:
        query = select(Device.id).where(Device.site_id == site_id, Device.name == name)
        if exclude_id is not None:
            query = query.where(Device.id != exclude_id)
        if db.scalar(query) is not None:
            conflicts["name"] = [f"site '{site.slug}' already has a device named '{name}'"]
    return invalid, conflicts, dtype


def create_device(db: Session, principal: Principal, payload: DeviceCreate) -> Device:
    invalid, conflicts, dtype = resolve_device(
        db,
        principal,
        site_id=payload.site_id,
        name=payload.name,
        device_type=payload.device_type,
        area_id=payload.area_id,
        window_id=payload.window_id,
        credentials={f: getattr(payload, f) for f in CREDENTIAL_KINDS},
    )
    if invalid:
        raise Invalid("invalid device", invalid)
    if conflicts:
        raise Conflict("duplicate device", conflicts)
    assert dtype is not None
    device = Device(**payload.model_dump(exclude={"device_type"}), device_type=dtype)
    db.add(device)
    _flush_or_conflict(db, "name", f"duplicate device name '{payload.name}'")
    return device


def update_device(db: Session, principal: Principal, device: Device, payload: DeviceUpdate) -> Device:
    given = payload.model_fields_set
    merged = {f: getattr(payload, f) if f in given else getattr(device, f) for f in CREDENTIAL_KINDS}
    invalid, conflicts, dtype = resolve_device(
        db,
        principal,
        site_id=device.site_id,
        name=payload.name if payload.name is not None else device.name,
        device_type=payload.device_type,
        area_id=payload.area_id if "area_id" in given else None,
        window_id=payload.window_id if "window_id" in given else None,
        credentials={f: v for f, v in merged.items() if f in given},
        exclude_id=device.id,
    )
    if invalid:
        raise Invalid("invalid device", invalid)
    if conflicts:
        raise Conflict("duplicate device", conflicts)
    for field in given - {"device_type"}:
        value = getattr(payload, field)
        if value is None and field in {"name", "address", "snmp_port", "status", "tags", "description"}:
            raise Invalid.field(field, "may not be null")
        setattr(device, field, value)
    if dtype is not None:
        device.device_type = dtype
    _flush_or_conflict(db, "name", "duplicate device name")
    return device


def delete_device(db: Session, device: Device) -> None:
    db.delete(device)
    db.flush()
