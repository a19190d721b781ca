"""``hall console``: one-time console access to desktops and seats (mounted by ``hall.py``).

``hall console ticket DESKTOP`` prints a one-time password for a running desktop's console;
``hall console vv SEAT`` writes a remote-viewer file holding both desktops of a seat. Passwords go to
stdout or the file only, never to logs.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from vdi import settings
from vdi.cli.common import uri_option
from vdi.conn import connection
from vdi.console_tickets import DEFAULT_TTL_S, MAX_TTL_S, issue_ticket, seat_vv, vv_for_desktop
from vdi.exceptions import VdiError
from vdi.seats import Seat, SeatDirectory

__all__ = ["console", "protocol_option", "ticket", "ttl_option", "vv"]


ttl_option = click.option(
    "--ttl",
    "ttl_s",
    type=click.IntRange(1, MAX_TTL_S),
    default=DEFAULT_TTL_S,
    show_default=True,
    help="seconds the password stays valid",
)
protocol_option = click.option(
    "--protocol",
    type=click.Choice(["auto", "vnc", "spice"]),
    default="auto",
    show_default=True,
    help="auto: SPICE when the desktop and host have it",
)


@click.group(help="One-time console access to desktops and seats.")
def console() -> None:
    pass


@console.command("ticket", help="Set a one-time console password on a running DESKTOP and print it.")
@click.argument("desktop")
@uri_option
@ttl_option
@protocol_option
def ticket(desktop: str, uri: str, ttl_s: int, protocol: str) -> None:
    try:
        with connection(uri) as conn:
            t = issue_ticket(conn, desktop, ttl_s=ttl_s, protocol=protocol)  # type: ignore[arg-type]
    except VdiError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"desktop   {t.desktop}")
    click.echo(f"protocol  {t.protocol}")
    click.echo(f"address   {t.host}:{t.port}")
    click.echo(f"password  {t.password}")
    click.echo(f"expires   {t.expires_at.isoformat()} ({ttl_s} s)")


@console.command("vv", help="Write a remote-viewer .vv file holding both desktops of SEAT.")
@click.argument("seat_name", metavar="SEAT")
@click.option("--gov", help="the seat's 政务外网 desktop (default: from the seats file)")
@click.option("--internet", help="the seat's 互联网 desktop (default: from the seats file)")
@click.option(
    "--seats-file",
    type=click.Path(path_type=Path),
    default=None,
    help=f"seats YAML (env: {settings.SEATS_FILE_ENV}; default {settings.DEFAULT_SEATS_FILE})",
)
@click.option("--host", default=None, help="address remote-viewer connects to, if not the listen address")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="file to write (default SEAT.vv); '-' for stdout",
)
@click.option("--split", is_flag=True, help="also write SEAT-gov.vv and SEAT-internet.vv (one desktop each)")
@uri_option
@protocol_option
@click.option(
    "--ttl",
    "ttl_s",
    type=click.IntRange(1, MAX_TTL_S),
    default=120,
    show_default=True,
    help="seconds the passwords stay valid",
)
def vv(
    seat_name: str,
    gov: str | None,
    internet: str | None,
    seats_file: Path | None,
    host: str | None,
    output: Path | None,
    split: bool,
    uri: str,
    protocol: str,
    ttl_s: int,
) -> None:
    try:
        if gov and internet:
            seat = Seat(seat_name, gov=gov, internet=internet, uri=uri)
        else:
            seat = SeatDirectory.from_file(seats_file or settings.seats_file()).get(seat_name)
        with connection(seat.uri) as conn:
            text = seat_vv(conn, seat, ttl_s=ttl_s, protocol=protocol, host=host)  # type: ignore[arg-type]
    except VdiError as exc:
        raise click.ClickException(str(exc)) from None
    if output is not None and str(output) == "-":
        click.echo(text, nl=False)
        return
    target = output or Path(f"{seat.name}.vv")
    files = {target: text}
    if split:
        for side in ("gov", "internet"):
            files[target.with_name(f"{target.stem}-{side}.vv")] = vv_for_desktop(text, side)
    for path, content in files.items():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds passwords
        with os.fdopen(fd, "w") as out:
            out.write(content)
        click.echo(f"wrote {path} (valid {ttl_s} s)")
