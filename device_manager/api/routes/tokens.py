from __future__ import annotations

from fastapi import APIRouter, Request, status
from sqlalchemy import select

from device_manager.api.deps import Admin, SessionDep, SettingsDep, note
from device_manager.core.security import issue_token
from device_manager.db.models import ApiToken, Site, utcnow
from device_manager.errors import Invalid, NotFound, PermissionDenied
from device_manager.schemas.auth import TokenCreate, TokenCreated, TokenPublic
from device_manager.schemas.common import Page

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])


@router.get("", response_model=Page[TokenPublic])
def list_tokens(db: SessionDep, principal: Admin) -> Page[TokenPublic]:
    rows = [
        r
        for r in db.scalars(select(ApiToken).order_by(ApiToken.id))
        if principal.unscoped or (r.site_ids is not None and set(r.site_ids) <= set(principal.site_ids or ()))
    ]
    return Page(count=len(rows), results=[TokenPublic.model_validate(r) for r in rows])


@router.post("", response_model=TokenCreated, status_code=status.HTTP_201_CREATED)
def create_token(
    request: Request, db: SessionDep, settings: SettingsDep, principal: Admin, payload: TokenCreate
) -> TokenCreated:
    """Issue a token. The response carries it once; only a salted hash is stored."""
    if not principal.unscoped and (
        payload.site_ids is None or not set(payload.site_ids) <= set(principal.site_ids or ())
    ):
        raise PermissionDenied("a site-scoped admin can only issue tokens for its own sites")
    if payload.site_ids is not None:
        known = set(db.scalars(select(Site.id).where(Site.id.in_(payload.site_ids))))
        missing = sorted(set(payload.site_ids) - known)
        if missing:
            raise Invalid.field("site_ids", f"unknown site id(s): {', '.join(map(str, missing))}")
    row, token = issue_token(
        db,
        settings.secret_key.get_secret_value(),
        name=payload.name,
        role=payload.role,
        site_ids=payload.site_ids,
        expires_days=payload.expires_days,
        created_by=principal.actor,
    )
    db.commit()
    note(request, f"token {row.id} '{row.name}' role {row.role}")
    return TokenCreated(**TokenPublic.model_validate(row).model_dump(), token=token)


@router.delete("/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_token(db: SessionDep, principal: Admin, token_id: int) -> None:
    row = db.get(ApiToken, token_id)
    visible = row is not None and (
        principal.unscoped
        or (row.site_ids is not None and set(row.site_ids) <= set(principal.site_ids or ()))
    )
    if row is None or not visible:
        raise NotFound("token", token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
    db.commit()
