"""Credential profiles: encrypt on the way in, expose only ``has_secret`` on the way out, decrypt only
to build poll targets. The purpose string binds each ciphertext to its profile kind."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from device_manager.core.secrets import SecretBox
from device_manager.db.models import CredentialProfile, Device
from device_manager.errors import Conflict, Invalid, NotFound
from device_manager.schemas.credentials import (
    SECRET_FIELDS,
    CredentialProfileCreate,
    CredentialProfilePublic,
    CredentialProfileUpdate,
)

__all__ = ["create", "decrypt", "delete", "get", "purpose", "to_public", "update"]


def purpose(kind: str) -> str:
    return f"hallcloud/credential/{kind}"


def to_public(row: CredentialProfile) -> CredentialProfilePublic:
    v3 = row.kind == "snmp_v3"
    return CredentialProfilePublic(
        id=row.id,
        name=row.name,
        kind=row.kind,  # type: ignore[arg-type]
        username=row.username,
        has_secret=bool(row.secret),
        auth_protocol="SHA-256" if v3 else None,
        priv_protocol="AES-128" if v3 else None,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _secret_values(payload: Any, fields: tuple[str, ...]) -> dict[str, str]:
    values = {}
    for field in fields:
        value = getattr(payload, field, None)
        if isinstance(value, SecretStr):
            values[field] = value.get_secret_value()
    return values


def get(db: Session, profile_id: int) -> CredentialProfile:
    row = db.get(CredentialProfile, profile_id)
    if row is None:
        raise NotFound("credential profile", profile_id)
    return row


def _name_taken(db: Session, name: str, exclude_id: int | None = None) -> bool:
    query = select(CredentialProfile.id).where(CredentialProfile.name == name)
    if exclude_id is not None:
        query = query.where(CredentialProfile.id != exclude_id)
    return db.scalar(query) is not None


def create(db: Session, box: SecretBox, payload: CredentialProfileCreate) -> CredentialProfile:
    if _name_taken(db, payload.name):
        raise Conflict.field("name", f"a credential profile named '{payload.name}' already exists")
    secret = _secret_values(payload, SECRET_FIELDS[payload.kind])
    row = CredentialProfile(
        name=payload.name,
        kind=payload.kind,
        username=getattr(payload, "username", "") or "",
        secret=box.encrypt(secret, purpose(payload.kind)),
    )
    db.add(row)
    try:
        db.flush()
    except IntegrityError as exc:
        raise Conflict.field("name", f"a credential profile named '{payload.name}' already exists") from exc
    return row


def update(db: Session, box: SecretBox, row: CredentialProfile, payload: CredentialProfileUpdate) -> None:
    given = payload.model_fields_set
    allowed = set(SECRET_FIELDS[row.kind])
    errors: dict[str, list[str]] = {}
    for fields in SECRET_FIELDS.values():
        for field in fields:
            if field in given and field not in allowed:
                errors[field] = [f"not a field of a '{row.kind}' profile"]
    if "username" in given and row.kind == "snmp_v2c":
        errors["username"] = ["SNMP v2c profiles have no user name"]
    if errors:
        raise Invalid("credential profile update does not match its kind", errors)
    if payload.name is not None and payload.name != row.name:
        if _name_taken(db, payload.name, exclude_id=row.id):
            raise Conflict.field("name", f"a credential profile named '{payload.name}' already exists")
        row.name = payload.name
    if payload.username is not None:
        row.username = payload.username
    new_values = _secret_values(payload, tuple(allowed))
    if new_values:
        current = box.decrypt(row.secret, purpose(row.kind))
        current.update(new_values)
        row.secret = box.encrypt(current, purpose(row.kind))
    db.flush()


def delete(db: Session, row: CredentialProfile) -> None:
    users = db.scalar(
        select(func.count(Device.id)).where(
            or_(Device.snmp_credential_id == row.id, Device.ssh_credential_id == row.id)
        )
    )
    if users:
        raise Conflict.field("id", f"credential profile '{row.name}' is used by {users} device(s)")
    db.delete(row)
    db.flush()


def decrypt(box: SecretBox, row: CredentialProfile) -> dict[str, str]:
    return box.decrypt(row.secret, purpose(row.kind))
