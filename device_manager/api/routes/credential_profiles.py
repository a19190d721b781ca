from __future__ import annotations

from fastapi import APIRouter, Query, Request, status
from sqlalchemy import select

from device_manager.api.deps import BoxDep, ItStaff, SessionDep, note
from device_manager.db.models import CredentialProfile
from device_manager.errors import PermissionDenied
from device_manager.schemas.common import Page
from device_manager.schemas.credentials import (
    CredentialProfileCreate,
    CredentialProfilePublic,
    CredentialProfileUpdate,
)
from device_manager.services import credentials, inventory

__all__ = ["router"]

router = APIRouter(prefix="/credential-profiles", tags=["credential-profiles"])


def _unscoped(principal: ItStaff) -> None:
    if not principal.unscoped:
        raise PermissionDenied("credential profiles are shared by every site; use a token for every site")


@router.get("", response_model=Page[CredentialProfilePublic])
def list_profiles(
    db: SessionDep,
    _principal: ItStaff,
    kind: str | None = None,
    limit: int = Query(50, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> Page[CredentialProfilePublic]:
    query = select(CredentialProfile).order_by(CredentialProfile.id)
    if kind is not None:
        query = query.where(CredentialProfile.kind == kind)
    count, rows = inventory.page(db, query, limit, offset)
    return Page(count=count, results=[credentials.to_public(r) for r in rows])


@router.post("", response_model=CredentialProfilePublic, status_code=status.HTTP_201_CREATED)
def create_profile(
    request: Request, db: SessionDep, box: BoxDep, principal: ItStaff, payload: CredentialProfileCreate
) -> CredentialProfilePublic:
    _unscoped(principal)
    row = credentials.create(db, box, payload)
    db.commit()
    note(request, f"credential profile {row.id} '{row.name}' ({row.kind})")
    return credentials.to_public(row)


@router.get("/{profile_id}", response_model=CredentialProfilePublic)
def get_profile(db: SessionDep, _principal: ItStaff, profile_id: int) -> CredentialProfilePublic:
    return credentials.to_public(credentials.get(db, profile_id))


@router.patch("/{profile_id}", response_model=CredentialProfilePublic)
def update_profile(
    request: Request,
    db: SessionDep,
    box: BoxDep,
    principal: ItStaff,
    profile_id: int,
    payload: CredentialProfileUpdate,
) -> CredentialProfilePublic:
    _unscoped(principal)
    row = credentials.get(db, profile_id)
    credentials.update(db, box, row, payload)
    db.commit()
    changed = sorted(payload.model_fields_set)
    note(request, f"credential profile {row.id} '{row.name}': changed {', '.join(changed)}")
    return credentials.to_public(row)


@router.delete("/{profile_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_profile(db: SessionDep, principal: ItStaff, profile_id: int) -> None:
    _unscoped(principal)
    credentials.delete(db, credentials.get(db, profile_id))
    db.commit()
