from __future__ import annotations

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.api.deps import ItStaff, SessionDep, Viewer
from device_manager.core.security import Principal
from device_manager.db.models import AlertRule, DeviceType
from device_manager.errors import Conflict, Invalid, NotFound, PermissionDenied
from device_manager.schemas.alerts import THRESHOLD_KINDS, AlertRuleCreate, AlertRulePublic, AlertRuleUpdate
from device_manager.schemas.common import Page

__all__ = ["router"]

router = APIRouter(prefix="/alert-rules", tags=["alert-rules"])


def _public(db: Session, rule: AlertRule) -> AlertRulePublic:
    dtype = db.get(DeviceType, rule.device_type_id) if rule.device_type_id else None
    return AlertRulePublic(
        id=rule.id,
        name=rule.name,
        kind=rule.kind,
        threshold=rule.threshold,
        raise_after=rule.raise_after,
        clear_after=rule.clear_after,
        flap_threshold=rule.flap_threshold,
        severity=rule.severity,
        site_id=rule.site_id,
        device_type=dtype.slug if dtype else None,
        enabled=rule.enabled,
    )


def _get(db: Session, principal: Principal, rule_id: int) -> AlertRule:
    rule = db.get(AlertRule, rule_id)
    if rule is None or (rule.site_id is not None and not principal.sees_site(rule.site_id)):
        raise NotFound("alert rule", rule_id)
    return rule


def _may_change(principal: Principal, rule_site: int | None) -> None:
    if rule_site is None and not principal.unscoped:
        raise PermissionDenied("rules for every site need a token for every site")


@router.get("", response_model=Page[AlertRulePublic])
def list_rules(db: SessionDep, principal: Viewer) -> Page[AlertRulePublic]:
    rules = [
        r
        for r in db.scalars(select(AlertRule).order_by(AlertRule.id))
        if r.site_id is None or principal.sees_site(r.site_id)
    ]
    return Page(count=len(rules), results=[_public(db, r) for r in rules])


@router.post("", response_model=AlertRulePublic, status_code=status.HTTP_201_CREATED)
def create_rule(db: SessionDep, principal: ItStaff, payload: AlertRuleCreate) -> AlertRulePublic:
    _may_change(principal, payload.site_id)
    errors: dict[str, list[str]] = {}
    if payload.site_id is not None and not principal.sees_site(payload.site_id):
        errors["site_id"] = [f"site {payload.site_id} does not exist"]
    dtype = None
    if payload.device_type is not None:
        dtype = db.scalar(select(DeviceType).where(DeviceType.slug == payload.device_type))
        if dtype is None:
            errors["device_type"] = [f"unknown device type '{payload.device_type}'"]
    if errors:
        raise Invalid("invalid alert rule", errors)
    if db.scalar(select(AlertRule.id).where(AlertRule.name == payload.name)):
        raise Conflict.field("name", f"an alert rule named '{payload.name}' already exists")
    rule = AlertRule(
        **payload.model_dump(exclude={"device_type"}), device_type_id=dtype.id if dtype else None
    )
    db.add(rule)
    db.commit()
    return _public(db, rule)


@router.get("/{rule_id}", response_model=AlertRulePublic)
def get_rule(db: SessionDep, principal: Viewer, rule_id: int) -> AlertRulePublic:
    return _public(db, _get(db, principal, rule_id))


@router.patch("/{rule_id}", response_model=AlertRulePublic)
def update_rule(
    db: SessionDep, principal: ItStaff, rule_id: int, payload: AlertRuleUpdate
) -> AlertRulePublic:
    rule = _get(db, principal, rule_id)
    _may_change(principal, rule.site_id)
    if payload.name and db.scalar(
        select(AlertRule.id).where(AlertRule.name == payload.name, AlertRule.id != rule.id)
    ):
        raise Conflict.field("name", f"an alert rule named '{payload.name}' already exists")
    if "threshold" in payload.model_fields_set and payload.threshold is None and rule.kind in THRESHOLD_KINDS:
        raise Invalid.field("threshold", f"rule kind '{rule.kind}' needs a threshold")
    for field in payload.model_fields_set:
        value = getattr(payload, field)
        if value is None and field != "threshold":
            raise Invalid.field(field, "may not be null")
        setattr(rule, field, value)
    db.commit()
    return _public(db, rule)


@router.delete("/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(db: SessionDep, principal: ItStaff, rule_id: int) -> None:
    rule = _get(db, principal, rule_id)
    _may_change(principal, rule.site_id)
    db.delete(rule)
    db.commit()
