"""FastAPI dependencies: settings, database session, credential box, the authenticated principal and
role checks. A failed authentication is audited and counted against the client's stricter budget."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy.orm import Session

from device_manager.core.config import Settings
from device_manager.core.secrets import SecretBox
from device_manager.core.security import ROLE_RANK, Principal, principal_of, verify_token
from device_manager.db.models import utcnow
from device_manager.runtime import Runtime
from device_manager.services import audit
from device_manager.services.alerts import AlertEngine

__all__ = [
    "Admin",
    "AlertEngineDep",
    "BoxDep",
    "ItStaff",
    "Operator",
    "RuntimeDep",
    "SessionDep",
    "SettingsDep",
    "Viewer",
    "audit_request",
    "client_address",
    "get_alert_engine",
    "get_box",
    "get_db",
    "get_principal",
    "get_runtime",
    "get_settings",
    "note",
    "require",
]


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_db(request: Request) -> Iterator[Session]:
    with request.app.state.session_factory() as db:
        yield db


def get_box(request: Request) -> SecretBox:
    box: SecretBox = request.app.state.secret_box
    return box


def get_alert_engine(request: Request) -> AlertEngine:
    engine: AlertEngine = request.app.state.alert_engine
    return engine


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the device manager's background services are not running (serve the app with its lifespan)",
        )
    return runtime


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_db)]
BoxDep = Annotated[SecretBox, Depends(get_box)]
AlertEngineDep = Annotated[AlertEngine, Depends(get_alert_engine)]
RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def audit_request(
    request: Request, action: str, status_code: int, detail: str, principal: Principal | None = None
) -> None:
    """Write an audit entry about ``request`` (in a session of its own; never put secrets in detail)."""
    audit.record(
        request.app.state.session_factory,
        principal=principal,
        action=action,
        path=f"{request.method} {request.url.path}",
        status_code=status_code,
        client=client_address(request),
        detail=detail,
    )


def _reject(request: Request, db: Session, reason: str) -> HTTPException:
    state = request.app.state
    db.rollback()  # end this request's transaction first: on SQLite it holds the write lock
    audit_request(request, "auth.failed", 401, reason)
    request.state.audit_recorded = True
    state.auth_failures.take(client_address(request))
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=reason,
        headers={"WWW-Authenticate": "Bearer"},
    )


def get_principal(request: Request, db: SessionDep, settings: SettingsDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise _reject(request, db, "missing bearer token (Authorization: Bearer hct_...)")
    if scheme.lower() != "bearer" or not token.strip():
        raise _reject(request, db, "malformed Authorization header; expected 'Bearer <token>'")
    row = verify_token(db, settings.secret_key.get_secret_value(), token.strip())
    if row is None:
        raise _reject(request, db, "invalid, expired or revoked token")
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at > dt.timedelta(minutes=1):
        row.last_used_at = now
        db.commit()
    principal = principal_of(row)
    request.state.principal = principal
    return principal


def require(role: str) -> Callable[..., Principal]:
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role {role}")

    def dependency(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.at_least(role):
            raise HTTPException(
                status_code=status.HTTP_403_FORBIDDEN,
                detail=f"role '{principal.role}' may not do this; needs '{role}' or higher",
            )
        return principal

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[Principal, Depends(require("viewer"))]
Operator = Annotated[Principal, Depends(require("operator"))]
ItStaff = Annotated[Principal, Depends(require("it_staff"))]
Admin = Annotated[Principal, Depends(require("admin"))]


def note(request: Request, detail: str) -> None:
    """Add a human-readable detail to this request's audit entry (never put secrets here)."""
    request.state.audit_detail = detail
