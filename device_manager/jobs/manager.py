"""The job runner: jobs are rows in ``jobs``; their work runs on a bounded thread pool (SSH and
ansible-runner block); every log line is a row in ``job_log_lines`` so history and the live stream read
the same data. Cancel sets a flag the work checks (SSH channels close, ansible-runner's cancel callback
stops the playbook).

A job's work is a callable ``work(ctx) -> dict`` (its result). Raising :class:`JobFailed` (or anything)
fails the job with that message; the message is what a person reads, so it names the object and step.
"""

from __future__ import annotations

import logging
import re
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from device_manager.db.job_models import JOB_FINAL, Job, JobLogLine
from device_manager.db.models import utcnow

__all__ = ["MAX_LINE", "JobCancelled", "JobContext", "JobFailed", "JobManager", "Work", "log_lines", "redact"]

log = logging.getLogger(__name__)

MAX_LINE = 4000
# private keys must never reach a log line, whatever printed them
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)


def redact(text: str) -> str:
    return _PRIVATE_KEY.sub("[redacted private key]", text)


class JobFailed(Exception):
    """Fails the job with a message meant for a person; ``step`` names where it failed."""

    def __init__(self, message: str, step: str | None = None, result: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.step = step
        self.result = result or {}


class JobCancelled(Exception):
    pass


@dataclass
class JobContext:
    job_id: int
    session_factory: sessionmaker[Session]
    cancel_event: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _seq: int = 0

    def log(self, text: str, level: str = "info") -> None:
        lines = redact(text).splitlines() or [""]
        with self._lock, self.session_factory() as db, db.begin():
            for line in lines:
                self._seq += 1
                db.add(JobLogLine(job_id=self.job_id, seq=self._seq, level=level, text=line[:MAX_LINE]))

    def progress(self, fraction: float | None = None, step: str | None = None) -> None:
        values: dict[str, Any] = {}
        if fraction is not None:
            values["progress"] = max(0.0, min(1.0, fraction))
        if step is not None:
            values["step"] = step[:60]
        if values:
            with self.session_factory() as db, db.begin():
                db.execute(update(Job).where(Job.id == self.job_id).values(**values))

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancel_event.is_set():
            raise JobCancelled()


Work = Callable[[JobContext], dict[str, Any]]


class JobManager:
    def __init__(self, session_factory: sessionmaker[Session], workers: int = 4) -> None:
        self.session_factory = session_factory
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hall-job")
        self._contexts: dict[int, JobContext] = {}
        self._futures: dict[int, Future[None]] = {}
        self._lock = threading.Lock()
        self._mark_interrupted()

    def _mark_interrupted(self) -> None:
        """Jobs left running by a previous process can never finish: say so instead of lying."""
        try:
            with self.session_factory() as db, db.begin():
                db.execute(
                    update(Job)
                    .where(Job.status.in_(("queued", "running")))
                    .values(
                        status="failed",
                        error="interrupted: the device manager restarted",
                        finished_at=utcnow(),
                    )
                )
        except Exception:  # the tables may not exist yet (migrations run at startup)
            log.debug("could not mark interrupted jobs", exc_info=True)

    def submit(
        self,
        kind: str,
        title: str,
        work: Work,
        *,
        params: dict[str, Any] | None = None,
        created_by: str = "",
        site_id: int | None = None,
        device_id: int | None = None,
        window_id: int | None = None,
        on_finish: Callable[[int, str], None] | None = None,
    ) -> int:
        with self.session_factory() as db, db.begin():
            job = Job(
                kind=kind,
                title=title[:200],
                status="queued",
                params=params or {},
                result={},
                created_by=created_by,
                site_id=site_id,
                device_id=device_id,
                window_id=window_id,
            )
            db.add(job)
            db.flush()
            job_id = job.id
        ctx = JobContext(job_id, self.session_factory)
        with self._lock:
            self._contexts[job_id] = ctx
            self._futures[job_id] = self._pool.submit(self._run, ctx, work, on_finish)
        return job_id

    def _run(self, ctx: JobContext, work: Work, on_finish: Callable[[int, str], None] | None) -> None:
        status, error, result, step = "succeeded", None, {}, None
        try:
            with self.session_factory() as db, db.begin():
                job = db.get(Job, ctx.job_id)
                assert job is not None
                if job.cancel_requested:
                    ctx.cancel_event.set()
                job.status, job.started_at = "running", utcnow()
            ctx.check_cancelled()
            result = work(ctx) or {}
            ctx.check_cancelled()
        except JobCancelled:
            status, error = "cancelled", "cancelled by request"
        except JobFailed as exc:
            status, error, result, step = "failed", exc.message, exc.result, exc.step
            if ctx.cancelled:
                status, error = "cancelled", f"cancelled by request ({exc.message})"
        except Exception as exc:
            log.error("job %s crashed: %s", ctx.job_id, traceback.format_exc())
            status, error = "failed", f"internal error: {type(exc).__name__}: {exc}"
            if ctx.cancelled:
                status, error = "cancelled", "cancelled by request"
        if error:
            ctx.log(error, "error")
        with self.session_factory() as db, db.begin():
            values: dict[str, Any] = {
                "status": status,
                "error": redact(error) if error else None,
                "result": result,
                "finished_at": utcnow(),
            }
            if status == "succeeded":
                values["progress"] = 1.0
            if step:
                values["step"] = step
            db.execute(update(Job).where(Job.id == ctx.job_id).values(**values))
        with self._lock:
            self._contexts.pop(ctx.job_id, None)
            self._futures.pop(ctx.job_id, None)
        if on_finish is not None:
            try:
                on_finish(ctx.job_id, status)
            except Exception:
                log.exception("job %s: on_finish failed", ctx.job_id)

    def cancel(self, job_id: int) -> bool:
        """Request cancellation; False when the job already finished."""
        with self.session_factory() as db, db.begin():
            job = db.get(Job, job_id)
            if job is None or job.status in JOB_FINAL:
                return False
            job.cancel_requested = True
        with self._lock:
            ctx = self._contexts.get(job_id)
        if ctx is not None:
            ctx.cancel_event.set()
        return True

    def wait(self, job_id: int, timeout: float | None = None) -> str:
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)
        with self.session_factory() as db:
            job = db.get(Job, job_id)
            return job.status if job else "unknown"

    def shutdown(self) -> None:
        with self._lock:
            contexts = list(self._contexts.values())
        for ctx in contexts:
            ctx.cancel_event.set()
        self._pool.shutdown(wait=True, cancel_futures=True)


def log_lines(db: Session, job_id: int, after: int = 0, limit: int = 1000) -> list[JobLogLine]:
    return list(
        db.scalars(
            select(JobLogLine)
            .where(JobLogLine.job_id == job_id, JobLogLine.seq > after)
            .order_by(JobLogLine.seq)
            .limit(limit)
        )
    )
