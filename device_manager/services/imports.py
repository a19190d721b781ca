"""Bulk import of devices from CSV or YAML with a per-row report.

Rows name things the way people write them in a spreadsheet: the site by slug, the area by name, the
window by number, credential profiles by name. By default the import is all-or-nothing: one bad row and
nothing is stored. With ``partial=True`` good rows are stored (each in its own savepoint) and bad rows
are reported.
"""

from __future__ import annotations

import csv
import io
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.core.security import Principal
from device_manager.db.models import Area, CredentialProfile, Device, Site, Window
from device_manager.errors import Invalid
from device_manager.schemas.common import ManagementAddress, Name, Port, Slug, Tags
from device_manager.schemas.inventory import DeviceStatus, ImportReport, ImportRowReport
from device_manager.services.inventory import resolve_device

__all__ = ["MAX_ROWS", "REQUIRED_COLUMNS", "DeviceImportRow", "ImportFormat", "import_devices", "parse"]

ImportFormat = Literal["csv", "yaml"]
MAX_ROWS = 5000
REQUIRED_COLUMNS = ("name", "site", "device_type", "address")


class DeviceImportRow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Name
    site: Slug
    device_type: Slug
    address: ManagementAddress
    area: Name | None = None
    window: int | None = Field(default=None, ge=1)
    snmp_port: Port = 161
    snmp_credential: Name | None = None
    ssh_credential: Name | None = None
    status: DeviceStatus = "active"
    tags: Tags = Field(default_factory=list)
    description: str = ""

    @field_validator("tags", mode="before")
    @classmethod
    def _split_tags(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [t for t in value.replace(";", ",").split(",") if t.strip()]
        return value

    @field_validator("area", "snmp_credential", "ssh_credential", "window", "description", mode="before")
    @classmethod
    def _blank_is_none(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value


def parse(text: str, fmt: ImportFormat) -> list[dict[str, Any]]:
    """Raw rows as dicts; raises Invalid (keyed ``body``) when the document itself is unreadable."""
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in REQUIRED_COLUMNS if c not in header]
        if missing:
            raise Invalid.field("body", f"CSV header lacks column(s): {', '.join(missing)}")
        rows = []
        for raw in reader:
            if None in raw:
                rows.append({"__error__": "more fields than header columns"})
                continue
            rows.append({k.strip(): v for k, v in raw.items() if k is not None and v is not None})
        data: Any = rows
    else:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise Invalid.field("body", f"not valid YAML: {str(exc).splitlines()[0]}") from None
        if isinstance(data, dict) and "devices" in data:
            data = data["devices"]
        if not isinstance(data, list):
            raise Invalid.field("body", "YAML must be a list of devices or a mapping with a 'devices' list")
    if len(data) > MAX_ROWS:
        raise Invalid.field("body", f"{len(data)} rows; at most {MAX_ROWS} per import")
    return [row if isinstance(row, dict) else {"__error__": "row is not a mapping"} for row in data]


def _errors_of(exc: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for err in exc.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "row"
        errors.setdefault(field, []).append(err["msg"])
    return errors


def _build(
    db: Session, principal: Principal, row: DeviceImportRow
) -> tuple[Device | None, dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    site = db.scalar(select(Site).where(Site.slug == row.site))
    if site is None or not principal.sees_site(site.id):
        return None, {"site": [f"no site with slug '{row.site}'"]}
    area_id = window_id = None
    if row.area is not None:
        area_id = db.scalar(select(Area.id).where(Area.site_id == site.id, Area.name == row.area))
        if area_id is None:
            errors["area"] = [f"site '{site.slug}' has no area named '{row.area}'"]
    if row.window is not None:
        window_id = db.scalar(select(Window.id).where(Window.site_id == site.id, Window.number == row.window))
        if window_id is None:
            errors["window"] = [f"site '{site.slug}' has no window {row.window}"]
    creds: dict[str, int | None] = {}
    for column, field in (("snmp_credential", "snmp_credential_id"), ("ssh_credential", "ssh_credential_id")):
        cred_name = getattr(row, column)
        if cred_name is None:
            continue
        cred_id = db.scalar(select(CredentialProfile.id).where(CredentialProfile.name == cred_name))
        if cred_id is None:
            errors[column] = [f"no credential profile named '{cred_name}'"]
        creds[field] = cred_id
    invalid, conflicts, dtype = resolve_device(
        db,
        principal,
        site_id=site.id,
        name=row.name,
        device_type=row.device_type,
        area_id=area_id,
        window_id=window_id,
        credentials={k: v for k, v in creds.items() if v is not None},
    )
    rename = {
        "snmp_credential_id": "snmp_credential",
        "ssh_credential_id": "ssh_credential",
        "site_id": "site",
    }
    for field, messages in {**invalid, **conflicts}.items():
        errors.setdefault(rename.get(field, field), []).extend(messages)
    if errors or dtype is None:
        return None, errors
    device = Device(
        name=row.name,
        site_id=site.id,
        area_id=area_id,
        window_id=window_id,
        device_type=dtype,
        address=row.address,
        snmp_port=row.snmp_port,
        snmp_credential_id=creds.get("snmp_credential_id"),
        ssh_credential_id=creds.get("ssh_credential_id"),
        status=row.status,
        tags=row.tags,
        description=row.description or "",
    )
    return device, {}


def import_devices(
    db: Session, principal: Principal, text: str, fmt: ImportFormat, partial: bool
) -> ImportReport:
    """Validate and stage every row; the caller commits when ``report.committed`` is true."""
    raw_rows = parse(text, fmt)
    reports: list[ImportRowReport] = []
    for number, raw in enumerate(raw_rows, start=1):
        name = str(raw.get("name")) if raw.get("name") not in (None, "") else None
        if "__error__" in raw:
            reports.append(
                ImportRowReport(row=number, name=name, status="error", errors={"row": [raw["__error__"]]})
            )
            continue
        try:
            row = DeviceImportRow.model_validate(
                {k: v for k, v in raw.items() if not (fmt == "csv" and v == "" and k not in REQUIRED_COLUMNS)}
            )
        except ValidationError as exc:
            reports.append(ImportRowReport(row=number, name=name, status="error", errors=_errors_of(exc)))
            continue
        savepoint = db.begin_nested()
        device, errors = _build(db, principal, row)
        if device is None:
            savepoint.rollback()
            reports.append(ImportRowReport(row=number, name=name, status="error", errors=errors))
            continue
        db.add(device)
        db.flush()
        savepoint.commit()
        reports.append(ImportRowReport(row=number, name=name, status="created", device_id=device.id))
    failed = sum(1 for r in reports if r.status == "error")
    committed = partial or failed == 0
    if not committed:
        for report in reports:
            if report.status == "created":
                report.status, report.device_id = "skipped", None
    created = sum(1 for r in reports if r.status == "created")
    return ImportReport(
        format=fmt, partial=partial, committed=committed, created=created, failed=failed, rows=reports
    )
