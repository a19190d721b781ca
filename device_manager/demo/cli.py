"""``hall demo up`` / ``hall demo down`` (``make demo`` / ``make demo-down``)."""

from __future__ import annotations

import click

from infra.cli import run_reporting
from infra.demo import stack_down, stack_up
from infra.summary import render_summary

__all__ = ["demo"]


def _say(line: str) -> None:
    click.echo(line.rstrip("\n"))


@click.group(help="The demo hall on this machine: stack, controller, inventory, simulated devices.")
def demo() -> None:
    pass


@demo.command(help="Bring the demo hall up (again: changes nothing, resumes after a failure).")
@click.option("--quiet", is_flag=True, help="no line per resource")
@click.option("--debug", is_flag=True, help="show tracebacks")
def up(quiet: bool, debug: bool) -> None:
    with run_reporting(debug):
        hall, outputs = stack_up(_say, quiet=quiet)
        click.echo("")
        click.echo(render_summary(hall.spec(), outputs))


@demo.command(help="Remove everything the demo created.")
@click.option("--quiet", is_flag=True, help="no line per resource")
@click.option("--debug", is_flag=True, help="show tracebacks")
def down(quiet: bool, debug: bool) -> None:
    with run_reporting(debug):
        stack_down(_say, quiet=quiet)
