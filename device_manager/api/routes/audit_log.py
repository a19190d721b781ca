from __future__ import annotations

from fastapi import APIRouter, Query
from sqlalchemy import select

from device_manager.api.deps import Admin, SessionDep
from device_manager.db.models import AuditEntry
from device_manager.errors import PermissionDenied
from device_manager.schemas.auth import AuditEntryPublic
from device_manager.schemas.common import Page
from device_manager.services import inventory

__all__ = ["router"]

router = APIRouter(prefix="/audit-log", tags=["audit-log"])


@router.get("", response_model=Page[AuditEntryPublic])
def list_audit(
    db: SessionDep,
    principal: Admin,
    action: str | None = None,
    token_id: int | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[AuditEntryPublic]:
    """Every write through the API and every failed authentication, newest first."""
    if not principal.unscoped:
        raise PermissionDenied("the audit log covers every site; use a token for every site")
    query = select(AuditEntry).order_by(AuditEntry.id.desc())
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if token_id is not None:
        query = query.where(AuditEntry.token_id == token_id)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[AuditEntryPublic.model_validate(r) for r in rows])
