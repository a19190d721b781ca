"""``hall stack``: the hall's Pulumi stack from the command line (up, preview, refresh, destroy, summary,
seats-file).

Each stack has a workspace and a file backend under the state directory (``--state``, default
:func:`infra.settings.state_dir`). The stack's config lives in its workspace, where window setup
(:mod:`infra.automation`) changes it; the first use seeds it from the repository's ``Pulumi.<stack>.yaml``
and ``--config FILE`` replaces it. Operators may equally run the ``pulumi`` CLI in the workspace.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from infra.automation import HallStack
from infra.config import spec_from_stack_file
from infra.settings import stack_config_file, state_dir
from infra.spec import HallConfigError
from infra.summary import render_summary, seat_directory

__all__ = ["stack"]


def _echo(line: str) -> None:
    click.echo(line.rstrip("\n"))


def _hall(ctx: click.Context) -> HallStack:
    """The stack; its config is the workspace's (window setup changes it there), seeded from
    ``Pulumi.<stack>.yaml`` the first time, or replaced by an explicit ``--config``."""
    obj = ctx.obj
    hall = HallStack(obj["stack"], obj["state"])
    config: Path | None = obj["config"]
    if config is None and not hall.config_file.exists() and stack_config_file(hall.name).exists():
        config = stack_config_file(hall.name)
    if config is not None:
        try:
            hall.write_config(spec_from_stack_file(config))
        except HallConfigError as exc:
            raise click.ClickException(f"{config}: {exc}") from None
    return hall


@click.group()
@click.option("--stack", "-s", "stack_name", default="demo", show_default=True, help="stack name")
@click.option(
    "--config",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="stack config to apply ",
)
@click.option(
    "--state",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="state directory (default: $HALLCLOUD_STATE_DIR or ~/.local/state/hallcloud)",
)
@click.pass_context
def stack(ctx: click.Context, stack_name: str, config: Path | None, state: Path | None) -> None:
    """The hall as a Pulumi stack."""
    ctx.obj = {"stack": stack_name, "config": config, "state": state or state_dir()}


@stack.command()
@click.pass_context
def preview(ctx: click.Context) -> None:
    """Show what up would change."""
    result = _hall(ctx).preview(on_output=_echo)
    click.echo(f"changes: {result.change_summary}")


@stack.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Create or update the hall."""
    hall = _hall(ctx)
    started = time.monotonic()
    result = hall.up(on_output=_echo)
    click.echo(f"done in {time.monotonic() - started:.1f} s: {result.summary.resource_changes}")


@stack.command()
@click.pass_context
def refresh(ctx: click.Context) -> None:
    """Read the real state of every resource into the stack (drift)."""
    result = _hall(ctx).refresh(on_output=_echo)
    click.echo(f"refreshed: {result.summary.resource_changes}")


@stack.command()
@click.option("--yes", is_flag=True, help="do not ask")
@click.pass_context
def destroy(ctx: click.Context, yes: bool) -> None:
    """Delete every resource of the hall."""
    hall = _hall(ctx)
    if not yes:
        click.confirm(f"destroy every resource of stack {hall.name}?", abort=True)
    result = hall.destroy(on_output=_echo)
    click.echo(f"destroyed: {result.summary.resource_changes}")


@stack.command()
@click.option("--no-guest", is_flag=True, help="do not ask test-image guests for addresses")
@click.pass_context
def summary(ctx: click.Context, no_guest: bool) -> None:
    """Seats with consoles and addresses, app and storage tiers."""
    hall = HallStack(ctx.obj["stack"], ctx.obj["state"])
    if not hall.exists():
        raise click.ClickException(
            f"stack {hall.name} does not exist under {hall.state_dir}; run `hall stack up`"
        )
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
    hall = HallStack(ctx.obj["stack"], ctx.obj["state"])
    if not hall.exists():
        raise click.ClickException(
            f"stack {hall.name} does not exist under {hall.state_dir}; run `hall stack up`"
        )
    seats = seat_directory(hall.spec(), hall.outputs(), site=site)
    seats.write_file(output)
    click.echo(f"{output}: {len(seats)} seats of stack {hall.name}")


@stack.command()
@click.pass_context
def policies(ctx: click.Context) -> None:
    """Print the snapshot scheduler's policy file for the stack's desktops (YAML)."""
    import yaml

    from infra.hall_plan import scheduler_policies

    spec = _hall(ctx).spec()
    data = scheduler_policies(spec)
    if len(spec.hosts) == 1:
        data = {"uri": next(iter(spec.hosts.values())).uri, **data}
    click.echo(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), nl=False)
