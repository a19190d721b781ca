"""Alert rules, alerts and their history, maintenance windows."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from device_manager.alert_kinds import ALERT_KINDS, THRESHOLD_KINDS
from device_manager.schemas.common import Name, Strict

__all__ = [
    "THRESHOLD_KINDS",
    "AlertAction",
    "AlertDetail",
    "AlertEventPublic",
    "AlertPublic",
    "AlertRuleCreate",
    "AlertRulePublic",
    "AlertRuleUpdate",
    "AlertStatus",
    "MaintenanceWindowCreate",
    "MaintenanceWindowPublic",
    "RuleKind",
    "Severity",
]


def _known_kind(value: str) -> str:
    if value not in ALERT_KINDS:
        raise ValueError(f"unknown rule kind {value!r}; kinds: {', '.join(ALERT_KINDS)}")
    return value


# the kinds of device_manager.alert_kinds (the problem codes the decoders emit, and device_down)
RuleKind = Annotated[str, AfterValidator(_known_kind), Field(json_schema_extra={"enum": list(ALERT_KINDS)})]
Severity = Literal["critical", "warning", "info"]
AlertStatus = Literal["firing", "acknowledged", "resolved"]


class AlertRuleCreate(Strict):
    name: Name
    kind: RuleKind
    threshold: float | None = Field(
        default=None, ge=0, le=100, description="percent, for " + "/".join(sorted(THRESHOLD_KINDS))
    )
    raise_after: int = Field(default=1, ge=1, le=100, description="consecutive observations before firing")
    clear_after: int = Field(default=1, ge=1, le=100, description="consecutive clear observations to resolve")
    flap_threshold: int = Field(default=4, ge=2, le=16, description="state changes in 16 cycles = flapping")
    severity: Severity = "warning"
    site_id: int | None = None
    device_type: str | None = None
    enabled: bool = True

    @model_validator(mode="after")
    def _threshold_for_kind(self) -> AlertRuleCreate:
        if self.kind in THRESHOLD_KINDS and self.threshold is None:
            raise ValueError(f"rule kind '{self.kind}' needs a threshold (percent)")
        return self


class AlertRuleUpdate(Strict):
    name: Name | None = None
    threshold: float | None = Field(default=None, ge=0, le=100)
    raise_after: int | None = Field(default=None, ge=1, le=100)
    clear_after: int | None = Field(default=None, ge=1, le=100)
    flap_threshold: int | None = Field(default=None, ge=2, le=16)
    severity: Severity | None = None
    enabled: bool | None = None


class AlertRulePublic(BaseModel):
    id: int
    name: str
    kind: str
    threshold: float | None
    raise_after: int
    clear_after: int
    flap_threshold: int
    severity: str
    site_id: int | None
    device_type: str | None
    enabled: bool


class AlertPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    rule_id: int | None
    device_id: int
    subject: str
    kind: str
    severity: str
    status: AlertStatus
    message: str
    value: float | None
    flapping: bool
    opened_at: dt.datetime
    acknowledged_at: dt.datetime | None
    acknowledged_by: str | None
    resolved_at: dt.datetime | None
    resolved_by: str | None


class AlertEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: dt.datetime
    kind: str
    actor: str
    detail: str


class AlertDetail(AlertPublic):
    history: list[AlertEventPublic]


class AlertAction(Strict):
    comment: str = Field(default="", max_length=500)


class MaintenanceWindowCreate(Strict):
    site_id: int | None = None
    device_id: int | None = None
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _check(self) -> MaintenanceWindowCreate:
        if (self.site_id is None) == (self.device_id is None):
            raise ValueError("give exactly one of site_id or device_id")
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a timezone (e.g. 2026-05-01T08:00:00+08:00)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class MaintenanceWindowPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    site_id: int | None
    device_id: int | None
    starts_at: dt.datetime
    ends_at: dt.datetime
    reason: str
    created_by: str
