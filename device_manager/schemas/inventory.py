"""Sites (halls), areas, windows (窗口), device types and devices."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from device_manager.schemas.common import ManagementAddress, Name, Port, Slug, Strict, Tags

__all__ = [
    "AreaCreate",
    "AreaPublic",
    "AreaUpdate",
    "DeviceCreate",
    "DevicePublic",
    "DeviceStatus",
    "DeviceTypeCreate",
    "DeviceTypePublic",
    "DeviceTypeUpdate",
    "DeviceUpdate",
    "EventPublic",
    "ImportReport",
    "ImportRowReport",
    "MetricSamplePublic",
    "OperStatus",
    "SiteCreate",
    "SitePublic",
    "SiteUpdate",
    "WindowCreate",
    "WindowPublic",
    "WindowUpdate",
]

DeviceStatus = Literal["active", "planned", "offline", "decommissioning"]
OperStatus = Literal["unknown", "up", "degraded", "down", "auth_error"]


class SiteCreate(Strict):
    name: Name
    slug: Slug
    address: str = Field(default="", max_length=300)
    description: str = ""


class SiteUpdate(Strict):
    name: Name | None = None
    slug: Slug | None = None
    address: str | None = Field(default=None, max_length=300)
    description: str | None = None


class SitePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    slug: str
    address: str
    description: str
    created_at: dt.datetime


class AreaCreate(Strict):
    site_id: int
    name: Name
    floor: str = Field(default="", max_length=20)
    description: str = ""


class AreaUpdate(Strict):
    name: Name | None = None
    floor: str | None = Field(default=None, max_length=20)
    description: str | None = None


class AreaPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    site_id: int
    name: str
    floor: str
    description: str


class WindowCreate(Strict):
    site_id: int
    area_id: int | None = None
    number: int = Field(ge=1, le=9999)
    name: Name
    services: list[Name] = Field(default_factory=list, description="services offered here (事项)")


class WindowUpdate(Strict):
    area_id: int | None = None
    name: Name | None = None
    services: list[Name] | None = None


class WindowPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    site_id: int
    area_id: int | None
    number: int
    name: str
    services: list[str]


class DeviceTypeCreate(Strict):
    slug: Slug
    name: Name
    description: str = ""


class DeviceTypeUpdate(Strict):
    name: Name | None = None
    description: str | None = None


class DeviceTypePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    slug: str
    name: str
    description: str


class DeviceCreate(Strict):
    name: Name
    site_id: int
    device_type: Slug
    address: ManagementAddress
    area_id: int | None = None
    window_id: int | None = None
    snmp_port: Port = 161
    snmp_credential_id: int | None = None
    ssh_credential_id: int | None = None
    status: DeviceStatus = "active"
    tags: Tags = Field(default_factory=list)
    description: str = ""


class DeviceUpdate(Strict):
    name: Name | None = None
    device_type: Slug | None = None
    address: ManagementAddress | None = None
    area_id: int | None = None
    window_id: int | None = None
    snmp_port: Port | None = None
    snmp_credential_id: int | None = None
    ssh_credential_id: int | None = None
    status: DeviceStatus | None = None
    tags: Tags | None = None
    description: str | None = None


class DevicePublic(BaseModel):
    id: int
    name: str
    site_id: int
    area_id: int | None
    window_id: int | None
    device_type: str
    address: str
    snmp_port: int
    snmp_credential_id: int | None
    ssh_credential_id: int | None
    status: str
    tags: list[str]
    description: str
    oper_status: str
    last_seen: dt.datetime | None
    last_polled: dt.datetime | None
    last_error: str | None
    facts: dict[str, Any]


class MetricSamplePublic(BaseModel):
    metric: str
    ts: dt.datetime
    value: float


class EventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    device_id: int | None
    source: str
    origin: str
    kind: str
    message: str
    data: dict[str, Any]
    at: dt.datetime


class ImportRowReport(BaseModel):
    row: int
    name: str | None
    status: Literal["created", "error", "skipped"]
    device_id: int | None = None
    errors: dict[str, list[str]] = Field(default_factory=dict)


class ImportReport(BaseModel):
    format: Literal["csv", "yaml"]
    partial: bool
    committed: bool
    created: int
    failed: int
    rows: list[ImportRowReport]
