"""API tokens and the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from device_manager.schemas.common import Name, Strict

__all__ = ["AuditEntryPublic", "Role", "TokenCreate", "TokenCreated", "TokenPublic"]

Role = Literal["admin", "it_staff", "operator", "viewer"]


class TokenCreate(Strict):
    name: Name
    role: Role
    site_ids: list[int] | None = Field(default=None, description="None: every site")
    expires_days: int | None = Field(default=90, ge=1, le=3650)


class TokenPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    key_id: str
    name: str
    role: str
    site_ids: list[int] | None
    created_at: dt.datetime
    created_by: str
    expires_at: dt.datetime | None
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class TokenCreated(TokenPublic):
    token: str = Field(description="shown once; only a salted hash is stored")


class AuditEntryPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    at: dt.datetime
    actor: str
    token_id: int | None
    action: str
    path: str
    status_code: int
    client: str
    detail: str
