"""The audit log: every write through the API and every failed authentication, in its own transaction
so that a rolled-back request still leaves its trace. Bodies are never recorded (they may carry secrets)."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session, sessionmaker

from device_manager.core.security import Principal
from device_manager.db.models import AuditEntry

__all__ = ["record"]

log = logging.getLogger(__name__)


def record(
    session_factory: sessionmaker[Session],
    *,
    principal: Principal | None,
    action: str,
    path: str,
    status_code: int,
    client: str,
    detail: str = "",
) -> None:
    try:
        with session_factory() as db, db.begin():
            db.add(
                AuditEntry(
                    actor=principal.actor if principal else "anonymous",
                    token_id=principal.token_id if principal else None,
                    action=action,
                    path=path[:300],
                    status_code=status_code,
                    client=client[:64],
                    site_ids=sorted(principal.site_ids)
                    if principal and principal.site_ids is not None
                    else None,
                    detail=detail,
                )
            )
    except Exception:  # the audit log must never turn a served request into a 500
        log.exception("could not write audit entry for %s %s", action, path)
