"""The live log of a job as Server-Sent Events: ``log`` events (id = line seq, so a reconnecting
client resumes with Last-Event-ID), ``status`` events when status/progress/step change, and a final
``end`` event once the job is finished and every line was sent. Reads the database, so it works for
jobs run by any worker and for finished jobs (history) alike."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from device_manager.db.job_models import JOB_FINAL, Job
from device_manager.jobs.manager import log_lines

__all__ = ["POLL_S", "events"]

POLL_S = 0.2


def _read(
    session_factory: sessionmaker[Session], job_id: int, after: int
) -> tuple[dict[str, Any], list[Any]]:
    with session_factory() as db:
        job = db.get(Job, job_id)
        if job is None:
            return {}, []
        lines = [
            (line.seq, line.level, line.text, line.at.isoformat()) for line in log_lines(db, job_id, after)
        ]
        status = {"status": job.status, "progress": job.progress, "step": job.step, "error": job.error}
        return status, lines


async def events(
    session_factory: sessionmaker[Session], job_id: int, after: int = 0, poll_s: float = POLL_S
) -> AsyncIterator[dict[str, Any]]:
    last_status: dict[str, Any] | None = None
    while True:
        status, lines = await asyncio.to_thread(_read, session_factory, job_id, after)
        if not status:
            return
        for seq, level, text, at in lines:
            after = seq
            yield {
                "event": "log",
                "id": str(seq),
                "data": json.dumps({"level": level, "text": text, "at": at}),
            }
        if status != last_status:
            last_status = status
            yield {"event": "status", "data": json.dumps(status)}
        if status["status"] in JOB_FINAL and not lines:
            yield {"event": "end", "data": json.dumps(status)}
            return
        if not lines:
            await asyncio.sleep(poll_s)
