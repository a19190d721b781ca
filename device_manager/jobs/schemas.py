"""API models of jobs and their log."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["JobAccepted", "JobLogLinePublic", "JobPublic"]


class JobPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    title: str
    status: str
    progress: float
    step: str
    error: str | None
    params: dict[str, Any]
    result: dict[str, Any]
    site_id: int | None
    device_id: int | None
    window_id: int | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    cancel_requested: bool


class JobLogLinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    seq: int
    at: dt.datetime
    level: str
    text: str


class JobAccepted(BaseModel):
    job_id: int
    status_url: str
    stream_url: str
