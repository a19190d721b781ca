"""``hall snapshots ...``: the snapshot/backup policies and the scheduler that applies them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from vdi import settings
from vdi.cancel import interruptible
from vdi.conn import DEFAULT_URI
from vdi.exceptions import VdiError

__all__ = ["snapshots"]

uri_override_option = click.option(
    "--uri",
    default=settings.libvirt_uri_from_env,
    help=f"overrides the file's uri (env: {settings.URI_ENV})",
)


@click.group(help="Snapshot and backup policies, and the scheduler that applies them.")
def snapshots() -> None:
    pass


def _load(policies: Path, uri: str | None) -> tuple[str, Any]:
    from vdi.scheduler import load_policies

    try:
        file_uri, items = load_policies(policies)
    except VdiError as exc:
        raise click.ClickException(str(exc)) from exc
    return uri or file_uri or DEFAULT_URI, items


@snapshots.command("scheduler", help="Run the scheduler: apply the policies in FILE (Ctrl-C stops it).")
@click.option("--policies", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@uri_override_option
@click.option("--interval", default=30.0, show_default=True, help="seconds between checks")
@click.option("--once", is_flag=True, help="check once and exit")
def scheduler_cmd(policies: Path, uri: str | None, interval: float, once: bool) -> None:
    from vdi.scheduler import Scheduler

    target, items = _load(policies, uri)
    sched = Scheduler(target, items, report=lambda e: click.echo(str(e)))
    click.echo(f"scheduler: {len(sched.jobs())} job(s) on {target}, state in {sched.state.path}")
    if once:
        sched.tick()
        return
    try:
        with interruptible():
            sched.run_forever(interval=interval)
    except KeyboardInterrupt:
        click.echo("scheduler stopped")


@snapshots.command("status", help="Show the scheduler's state for the policies in FILE.")
@click.option("--policies", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@uri_override_option
def status_cmd(policies: Path, uri: str | None) -> None:
    from vdi.scheduler import Scheduler

    target, items = _load(policies, uri)
    for job, state in Scheduler(target, items).status().items():
        last = state["last_slot"] or "never"
        click.echo(
            f"{job:40} last slot {last}  {state['last_status'] or '-'}  runs {state['runs']} "
            f"failures {state['failures']} missed {state['missed']}"
        )
