"""Models of jobs: a job (SSH operation, playbook run, window setup), its log lines, and where each
window's setup stands. Kept apart from ``models.py`` (inventory, credentials, polling, alerts, auth) and
registered on the same ``Base``, so one metadata and one Alembic history cover both."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from device_manager.db.models import Base, UTCDateTime, utcnow

__all__ = ["JOB_FINAL", "JOB_STATES", "Job", "JobLogLine", "WindowSetupState"]

JOB_STATES = ("queued", "running", "succeeded", "failed", "cancelled")
JOB_FINAL = ("succeeded", "failed", "cancelled")


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # ssh_operation | ssh_command | playbook | window_setup ...
    title: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(15), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)  # 0..1
    step: Mapped[str] = mapped_column(String(60), default="")
    error: Mapped[str | None] = mapped_column(Text)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="SET NULL"))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id", ondelete="SET NULL"))
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(default=False)


class JobLogLine(Base):
    __tablename__ = "job_log_lines"
    __table_args__ = (UniqueConstraint("job_id", "seq"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="info")  # info | warning | error | output
    text: Mapped[str] = mapped_column(Text)


class WindowSetupState(Base):
    """Where a window's setup stands: per-step status and the inputs each step last applied, so a
    re-run skips steps whose inputs did not change and a failure names its step."""

    __tablename__ = "window_setups"
    window_id: Mapped[int] = mapped_column(ForeignKey("windows.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="absent")  # absent|running|ready|failed|...
    failed_step: Mapped[str | None] = mapped_column(String(40))
    error: Mapped[str | None] = mapped_column(Text)
    steps: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # step -> {status, digest, at, s}
    outputs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # consoles, bound devices
    last_job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
