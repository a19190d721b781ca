"""API tokens, roles and site scopes.

A token reads ``hct_<key_id>_<secret>``: ``key_id`` finds the row, the secret is checked against
``HMAC-SHA256(pepper, salt || secret)``. Only the salt and the hash are stored; the token is shown once.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.db.models import ApiToken, utcnow

__all__ = [
    "ROLES",
    "ROLE_RANK",
    "TOKEN_PREFIX",
    "Principal",
    "issue_token",
    "principal_of",
    "split_token",
    "verify_token",
]

ROLES = ("viewer", "operator", "it_staff", "admin")
ROLE_RANK = {role: rank for rank, role in enumerate(ROLES)}
TOKEN_PREFIX = "hct"


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: str
    site_ids: frozenset[int] | None  # None: every site

    def at_least(self, role: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[role]

    @property
    def unscoped(self) -> bool:
        return self.site_ids is None

    def sees_site(self, site_id: int | None) -> bool:
        if self.site_ids is None:
            return True
        return site_id is not None and site_id in self.site_ids

    @property
    def actor(self) -> str:
        return f"{self.name} (token {self.token_id})"


def _hash(pepper: str, salt: bytes, secret: str) -> bytes:
    return hmac.new(pepper.encode(), salt + secret.encode(), hashlib.sha256).digest()


def split_token(token: str) -> tuple[str, str] | None:
    parts = token.split("_")
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def issue_token(
    db: Session,
    pepper: str,
    *,
    name: str,
    role: str,
    site_ids: list[int] | None,
    expires_days: int | None,
    created_by: str,
) -> tuple[ApiToken, str]:
    """Create a token row; returns it and the clear token (never stored)."""
    if role not in ROLE_RANK:
        raise ValueError(f"unknown role '{role}'; roles: {', '.join(ROLES)}")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32).replace("_", "-")
    salt = secrets.token_bytes(16)
    row = ApiToken(
        key_id=key_id,
        name=name,
        role=role,
        site_ids=sorted(set(site_ids)) if site_ids is not None else None,
        salt=salt,
        token_hash=_hash(pepper, salt, secret),
        created_by=created_by,
        expires_at=utcnow() + dt.timedelta(days=expires_days) if expires_days else None,
    )
    db.add(row)
    db.flush()
    return row, f"{TOKEN_PREFIX}_{key_id}_{secret}"


def verify_token(db: Session, pepper: str, token: str, now: dt.datetime | None = None) -> ApiToken | None:
    """The live token row for ``token``, or None (unknown, wrong secret, expired or revoked)."""
    parts = split_token(token)
    if parts is None:
        return None
    key_id, secret = parts
    row = db.scalar(select(ApiToken).where(ApiToken.key_id == key_id))
    if row is None:
        _hash(pepper, b"0" * 16, secret)  # same work whether or not the key id exists
        return None
    if not hmac.compare_digest(row.token_hash, _hash(pepper, row.salt, secret)):
        return None
    now = now or utcnow()
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    return row


def principal_of(row: ApiToken) -> Principal:
    return Principal(
        token_id=row.id,
        name=row.name,
        role=row.role,
        site_ids=frozenset(row.site_ids) if row.site_ids is not None else None,
    )
