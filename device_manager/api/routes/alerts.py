from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.api.deps import AlertEngineDep, Operator, SessionDep, Viewer, note
from device_manager.core.security import Principal
from device_manager.db.models import Alert, AlertEvent, Device
from device_manager.errors import NotFound
from device_manager.schemas.alerts import AlertAction, AlertDetail, AlertEventPublic, AlertPublic, AlertStatus
from device_manager.schemas.common import Page
from device_manager.services import inventory
from device_manager.services.alerts import Notification

__all__ = ["router"]

router = APIRouter(prefix="/alerts", tags=["alerts"])


def _get(db: Session, principal: Principal, alert_id: int) -> Alert:
    alert = db.get(Alert, alert_id)
    if alert is None:
        raise NotFound("alert", alert_id)
    device = db.get(Device, alert.device_id)
    if device is None or not principal.sees_site(device.site_id):
        raise NotFound("alert", alert_id)
    return alert


def _detail(db: Session, alert: Alert) -> AlertDetail:
    events = db.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id).order_by(AlertEvent.id))
    return AlertDetail(
        **AlertPublic.model_validate(alert).model_dump(),
        history=[AlertEventPublic.model_validate(e) for e in events],
    )


async def _notify(request: Request, note_: Notification) -> None:
    service = request.app.state.polling
    await service.notify([note_])


@router.get("", response_model=Page[AlertPublic])
def list_alerts(
    db: SessionDep,
    principal: Viewer,
    status: Annotated[list[AlertStatus] | None, Query(description="firing, acknowledged, resolved")] = None,
    active: bool | None = Query(None, description="true: firing or acknowledged"),
    device_id: int | None = None,
    site_id: int | None = None,
    kind: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[AlertPublic]:
    """Current alerts and their history (resolved alerts stay), newest first."""
    query = (
        select(Alert)
        .join(Device, Device.id == Alert.device_id)
        .order_by(Alert.opened_at.desc(), Alert.id.desc())
    )
    query = inventory.scoped(query, Device.site_id, principal)
    if status:
        query = query.where(Alert.status.in_(status))
    if active is not None:
        query = query.where((Alert.status != "resolved") if active else (Alert.status == "resolved"))
    if device_id is not None:
        query = query.where(Alert.device_id == device_id)
    if site_id is not None:
        query = query.where(Device.site_id == site_id)
    if kind is not None:
        query = query.where(Alert.kind == kind)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[AlertPublic.model_validate(a) for a in rows])


def _committed(
    request: Request,
    background: BackgroundTasks,
    db: Session,
    alert: Alert,
    notification: Notification,
    what: str,
) -> AlertDetail:
    """Commit an operator's action on ``alert``, record it, and notify in the background."""
    db.commit()
    note(request, f"alert {alert.id} {what}")
    detail = _detail(db, alert)
    db.close()  # release the connection before the notification task records its deliveries
    background.add_task(_notify, request, notification)
    return detail


@router.get("/{alert_id}", response_model=AlertDetail)
def get_alert(db: SessionDep, principal: Viewer, alert_id: int) -> AlertDetail:
    return _detail(db, _get(db, principal, alert_id))


@router.post("/{alert_id}/acknowledge", response_model=AlertDetail)
def acknowledge(
    request: Request,
    background: BackgroundTasks,
    db: SessionDep,
    engine: AlertEngineDep,
    principal: Operator,
    alert_id: int,
    payload: AlertAction | None = None,
) -> AlertDetail:
    alert = _get(db, principal, alert_id)
    notification = engine.acknowledge(db, alert, principal.actor, payload.comment if payload else "")
    return _committed(request, background, db, alert, notification, "acknowledged")


@router.post("/{alert_id}/resolve", response_model=AlertDetail)
def resolve(
    request: Request,
    background: BackgroundTasks,
    db: SessionDep,
    engine: AlertEngineDep,
    principal: Operator,
    alert_id: int,
    payload: AlertAction | None = None,
) -> AlertDetail:
    alert = _get(db, principal, alert_id)
    notification = engine.resolve(db, alert, principal.actor, payload.comment if payload else "")
    return _committed(request, background, db, alert, notification, "resolved by hand")
