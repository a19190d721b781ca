"""``hall window ...``: set up, tear down and inspect service windows from the command line.

Runs the same workflow as ``POST /api/v1/windows/{window_id}/setup`` in this process (the job and its log
land in the controller database like any other job) and prints the job's log as it goes. The hall stack
comes from ``--stack`` / ``--state-dir``, the settings (``HALLCLOUD_OPS_STACK`` / ``..._PULUMI_STATE_DIR``),
or is the only stack in HallCloud's state directory. Ctrl-C or SIGTERM cancel the job (its seat step stops
the engine run and removes what it was creating), wait for it to end, and exit 130 / 143; running the
command again resumes from the step that did not finish.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from vdi.cancel import EXIT_CODES, deferred, interruptible, signal_of

__all__ = ["window"]


@contextmanager
def _runtime(stack: str | None, state_dir: str | None) -> Iterator[Any]:
    from device_manager.core.config import Settings
    from device_manager.core.secrets import SecretBox, load_master_key
    from device_manager.db import migrate
    from device_manager.db.session import make_engine, make_session_factory
    from device_manager.jobs.manager import JobManager
    from device_manager.runtime import Runtime
    from device_manager.windows.service import seat_backend

    try:
        updates = {k: v for k, v in (("stack", stack), ("pulumi_state_dir", state_dir)) if v}
        settings = Settings().model_copy(update=updates)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    engine = make_engine(settings.sqlalchemy_url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    jobs = JobManager(factory, 1)
    try:
        box = SecretBox(load_master_key(settings))
        yield Runtime(settings, factory, box, jobs, seat_backend=seat_backend(settings))
    finally:
        jobs.shutdown()
        engine.dispose()


def _follow(runtime: Any, job_id: int, deadline: float | None = None) -> dict[str, Any]:
    """Print the job's log as it grows until the job ends (or ``deadline`` passes)."""
    from device_manager.db.job_models import JOB_FINAL, Job
    from device_manager.jobs.manager import log_lines

    seen = 0
    while True:
        with runtime.session_factory() as db:
            for line in log_lines(db, job_id, seen):
                seen = line.seq
                click.echo(line.text, err=line.level == "error")
            job = db.get(Job, job_id)
            assert job is not None
            done = job.status in JOB_FINAL and not log_lines(db, job_id, seen, 1)
            if done or (deadline is not None and time.monotonic() > deadline):
                return {"status": job.status, "error": job.error, "result": job.result, "step": job.step}
        time.sleep(0.2)


def _run(number: int, site: str | None, stack: str | None, state_dir: str | None, teardown: bool) -> None:
    from sqlalchemy import select

    from device_manager.db.models import Site
    from device_manager.errors import DomainError
    from device_manager.windows.service import window_setup
    from device_manager.windows.workflow import find_window

    with _runtime(stack, state_dir) as runtime:
        try:
            with runtime.session_factory() as db:
                site_id = None
                if site:
                    site_id = db.scalar(select(Site.id).where(Site.slug == site))
                    if site_id is None:
                        raise click.ClickException(f"unknown site '{site}'")
                window = find_window(db, number, site_id, lambda _s: True)
                job_id = window_setup(runtime).submit(db, window, "hall window (cli)", teardown=teardown)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        click.echo(f"job {job_id}: {'teardown' if teardown else 'setup'} of window {number}", err=True)
        try:
            with interruptible():
                done = _follow(runtime, job_id)
        except KeyboardInterrupt as exc:
            # cancel the job (the seat step stops its engine run, playbooks stop), wait for it to end
            with deferred():
                runtime.jobs.cancel(job_id)
                done = _follow(runtime, job_id, deadline=time.monotonic() + 30)
            click.echo(
                f"interrupted; job {job_id} is {done['status']} at step {done['step'] or '-'}; "
                f"`hall window {'teardown' if teardown else 'setup'} {number}` resumes it",
                err=True,
            )
            sys.exit(EXIT_CODES.get(signal_of(exc), 130))
    timings = (done["result"] or {}).get("timings") or {}
    if timings:
        click.echo("steps: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), err=True)
    if done["status"] != "succeeded":
        raise click.ClickException(done["error"] or done["status"])


_site = click.option("--site", help="site slug, when several halls have this window number")
_stack = click.option("--stack", help="hall stack name (default: $HALLCLOUD_OPS_STACK)")
_state = click.option("--state-dir", help="infra state directory (default: $HALLCLOUD_OPS_PULUMI_STATE_DIR)")


@click.group(help="Service windows: one-call setup (desktop pair, thin client, calling display), teardown.")
def window() -> None:
    pass


@window.command(help="Set up window NUMBER: seat, devices, playbooks, verification (idempotent; retries).")
@click.argument("number", type=int)
@_site
@_stack
@_state
def setup(number: int, site: str | None, stack: str | None, state_dir: str | None) -> None:
    _run(number, site, stack, state_dir, teardown=False)


@window.command(help="Tear window NUMBER down: device configuration, then the seat.")
@click.argument("number", type=int)
@_site
@_stack
@_state
def teardown(number: int, site: str | None, stack: str | None, state_dir: str | None) -> None:
    _run(number, site, stack, state_dir, teardown=True)


@window.command(help="Where window NUMBER's setup stands (and the failed step, if any).")
@click.argument("number", type=int)
@_site
def status(number: int, site: str | None) -> None:
    import json

    from sqlalchemy import select

    from device_manager.db.job_models import WindowSetupState
    from device_manager.db.models import Site
    from device_manager.errors import DomainError
    from device_manager.windows.workflow import find_window

    with _runtime(None, None) as runtime, runtime.session_factory() as db:
        site_id = db.scalar(select(Site.id).where(Site.slug == site)) if site else None
        try:
            found = find_window(db, number, site_id, lambda _s: True)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
        state = db.get(WindowSetupState, found.id)
        data = {"number": number, "status": state.status if state else "absent"}
        if state is not None:
            data.update(
                failed_step=state.failed_step,
                error=state.error,
                steps=state.steps,
                outputs=state.outputs,
                last_job_id=state.last_job_id,
            )
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
