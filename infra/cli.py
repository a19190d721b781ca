"""``hall stack``: the hall's Pulumi stack from the command line (up, preview, refresh, destroy, summary,
seats-file, policies).

A stack is the project's ``Pulumi.<stack>.yaml`` (``--project-dir``, default the checkout) with its state
under HallCloud's state directory (``--state``, default :func:`vdi.paths.state_dir`): the same stack the
plain ``pulumi`` CLI in ``.venv/bin`` and window setup use (see :mod:`infra.automation`).

Engine operations print one line per finished resource; when one fails the command prints a short
summary (which resource, the provider's message with its fix, where the full log is) and exits 1,
without a traceback unless ``--debug`` is given. Ctrl-C or SIGTERM stop it within about two seconds:
finished resources are kept, the interrupted one removes what it made, and the exit status is 130
(SIGINT) or 143 (SIGTERM); running the command again resumes.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from infra.automation import HallStack
from infra.engine import StackCommandFailed, StackInterrupted
from infra.settings import project_dir
from infra.spec import HallConfigError
from infra.stack_config import StackBusy
from infra.summary import render_summary, seat_directory
from vdi.cancel import EXIT_CODES, interruptible, signal_of
from vdi.exceptions import VdiError
from vdi.paths import state_dir

__all__ = ["fail", "run_reporting", "stack"]

T = TypeVar("T")


def _echo(line: str) -> None:
    click.echo(line.rstrip("\n"))


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@contextmanager
def run_reporting(debug: bool) -> Iterator[None]:
    """Turn the stack's errors into the short text a person reads (a traceback only with --debug) and
    Ctrl-C / SIGTERM into exit 130 / 143."""
    try:
        with interruptible():
            yield
    except StackInterrupted as exc:
        click.echo(str(exc), err=True)
        timed_out = exc.run.signum == signal.SIGALRM
        sys.exit(1 if timed_out else EXIT_CODES.get(exc.run.signum or signal.SIGINT, 130))
    except KeyboardInterrupt as exc:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_CODES.get(signal_of(exc), 130))
    except (StackCommandFailed, HallConfigError, StackBusy, VdiError) as exc:
        if debug:
            raise
        fail(str(exc))


def _hall(ctx: click.Context) -> HallStack:
    obj = ctx.obj
    return HallStack(obj["stack"], obj["state"], project_dir=obj["project_dir"])


def _progress(ctx: click.Context) -> Callable[[str], None] | None:
    return None if ctx.obj["quiet"] else _echo


@click.group()
@click.option("--stack", "-s", "stack_name", default="demo", show_default=True, help="stack name")
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=project_dir,
    show_default="$HALLCLOUD_PROJECT_DIR or the checkout",
    help="the Pulumi project: Pulumi.yaml and the stacks' Pulumi.<stack>.yaml",
)
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="state directory (default: $HALLCLOUD_STATE_DIR or ~/.local/state/hallcloud)",
)
@click.option("--quiet", "-q", is_flag=True, help="no line per resource")
@click.option("--debug", is_flag=True, help="show tracebacks")
@click.pass_context
def stack(
    ctx: click.Context, stack_name: str, project_dir: Path, state: Path | None, quiet: bool, debug: bool
) -> None:
    """The hall as a Pulumi stack (the same stack `pulumi` in the project directory works on)."""
    ctx.obj = {
        "stack": stack_name,
        "project_dir": project_dir,
        "state": state or state_dir(),
        "quiet": quiet,
        "debug": debug,
    }


def _changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{n} {op}" for op, n in sorted(changes.items())) or "nothing"


@stack.command()
@click.pass_context
def preview(ctx: click.Context) -> None:
    """Show what up would change."""
    with run_reporting(ctx.obj["debug"]):
        result = _hall(ctx).preview(_progress(ctx))
    click.echo(f"preview: {_changes(result.changes)} ({result.seconds:.1f} s; log {result.run.log_file})")


@stack.command()
@click.option("--timeout", type=click.FloatRange(min=1), default=None, help="give up after this many seconds")
@click.pass_context
def up(ctx: click.Context, timeout: float | None) -> None:
    """Create or update the hall."""
    with run_reporting(ctx.obj["debug"]):
        result = _hall(ctx).up(progress=_progress(ctx), timeout=timeout)
    click.echo(f"up: {_changes(result.changes)} in {result.seconds:.1f} s")


@stack.command()
@click.pass_context
def refresh(ctx: click.Context) -> None:
    """Read the real state of every resource into the stack (drift)."""
    with run_reporting(ctx.obj["debug"]):
        result = _hall(ctx).refresh(_progress(ctx))
    click.echo(f"refresh: {_changes(result.changes)} in {result.seconds:.1f} s")


@stack.command()
@click.option("--yes", is_flag=True, help="do not ask")
@click.pass_context
def destroy(ctx: click.Context, yes: bool) -> None:
    """Delete every resource of the hall."""
    hall = _hall(ctx)
    if not yes:
        click.confirm(f"destroy every resource of stack {hall.name}?", abort=True)
    with run_reporting(ctx.obj["debug"]):
        result = hall.destroy(_progress(ctx))
    click.echo(f"destroy: {_changes(result.changes)} in {result.seconds:.1f} s")


def _existing(ctx: click.Context) -> HallStack:
    hall = _hall(ctx)
    if not hall.exists():
        fail(f"stack {hall.name} does not exist under {hall.state_dir}; run `hall stack -s {hall.name} up`")
    return hall


@stack.command()
@click.option("--no-guest", is_flag=True, help="do not ask test-image guests for addresses")
@click.pass_context
def summary(ctx: click.Context, no_guest: bool) -> None:
    """Seats with consoles and addresses, app and storage tiers."""
    hall = _existing(ctx)
    with run_reporting(ctx.obj["debug"]):
        click.echo(render_summary(hall.spec(), hall.outputs(), ask_guest=not no_guest))


@stack.command("seats-file")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="the YAML file to write (the device manager reads $HALLCLOUD_SEATS_FILE or <data_dir>/seats.yaml)",
)
@click.option("--site", default=None, help="the device manager's site slug of this hall (for the hall map)")
@click.pass_context
def seats_file(ctx: click.Context, output: Path, site: str | None) -> None:
    """Write the stack's seats for the device manager's seat pages."""
    hall = _existing(ctx)
    with run_reporting(ctx.obj["debug"]):
        seats = seat_directory(hall.spec(), hall.outputs(), site=site)
    seats.write_file(output)
    click.echo(f"{output}: {len(seats)} seats of stack {hall.name}")


@stack.command()
@click.pass_context
def policies(ctx: click.Context) -> None:
    """Print the snapshot scheduler's policy file for the stack's desktops (YAML)."""
    import yaml

    from infra.hall_plan import scheduler_policies

    with run_reporting(ctx.obj["debug"]):
        spec = _hall(ctx).spec()
    data = scheduler_policies(spec)
    if len(spec.hosts) == 1:
        data = {"uri": next(iter(spec.hosts.values())).uri, **data}
    click.echo(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), nl=False)
