"""One-time console credentials for desktops, and remote-viewer ``.vv`` files for seats.

A desktop's graphics are defined with a *locked* password (:func:`locked_graphics`, and by default
every desktop :func:`vdi.domain_plan.plan_domain` plans: random, never shown or stored); QEMU only enables
password authentication when a password is present at start, so a desktop defined without one cannot
be given tickets. At request time :func:`issue_ticket` sets a fresh random
password on the running guest through libvirt (``updateDeviceFlags`` with ``passwdValidTo``), valid
for a few seconds: long enough to connect, useless afterwards. Each ticket replaces the previous one,
so a password works for at most one ticket's lifetime; a connection made in time stays up after the
password expires (QEMU checks it only at login). :func:`revoke` expires the current password at once.

VNC passwords are at most 8 characters (the RFB DES challenge uses 8 bytes); SPICE tickets are longer.
SPICE is used when the desktop has SPICE graphics and the host's QEMU supports them (Debian:
``qemu-system-modules-spice``); otherwise VNC.

The live ``<graphics>`` element is changed in place rather than rendered from :mod:`vdi.models`:
libvirt refuses an update that changes anything but the password (port, listen, autoport), so the
element must be exactly the one the running domain has. Passwords never appear in logs, exceptions or
reprs.

The ``.vv`` file for a seat: remote-viewer reads one connection from the ``[virt-viewer]`` group. A seat
file puts the government-extranet desktop (政务外网, the clerk's default) there, so a stock
``remote-viewer seat.vv`` opens it, and adds one ``[hallcloud-<side>]`` group per desktop (both,
with their own one-time credentials) that remote-viewer ignores and our thin-client launcher reads;
:func:`vv_for_desktop` turns such a group into a standalone ``.vv`` for one desktop.
"""

from __future__ import annotations

import configparser
import datetime as dt
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Literal

import libvirt

from vdi.conn import libvirt_errors
from vdi.domain import get_domain
from vdi.exceptions import ConsoleError, InvalidSpec, UnsupportedOperation
from vdi.models import CONSOLE_PASSWORD_LENGTH, Graphics, random_console_password
from vdi.seats import Seat

Protocol = Literal["vnc", "spice"]
DEFAULT_TTL_S = 30
MAX_TTL_S = 600
VNC_PASSWORD_LENGTH = CONSOLE_PASSWORD_LENGTH["vnc"]
SPICE_PASSWORD_LENGTH = CONSOLE_PASSWORD_LENGTH["spice"]
SIDE_TITLES = {"gov": "政务外网", "internet": "互联网"}


def locked_graphics(protocol: Protocol = "vnc", listen: str = "127.0.0.1") -> Graphics:
    """Graphics for a desktop definition: password auth on, with a random password nobody knows
    (what :func:`vdi.domain_plan.plan_domain` gives every desktop by default)."""
    return Graphics(type=protocol, listen=listen, passwd=random_console_password(protocol))


@dataclass(frozen=True)
class ConsoleTicket:
    """Where and how to connect to one desktop's console, once, before ``expires_at``."""

    desktop: str
    protocol: Protocol
    host: str
    """The address QEMU listens on, as the hypervisor host sees it (usually loopback)."""
    port: int
    password: str = field(repr=False)
    expires_at: dt.datetime

    @property
    def seconds_left(self) -> float:
        return (self.expires_at - dt.datetime.now(dt.UTC)).total_seconds()


def spice_supported(conn: libvirt.virConnect) -> bool:
    """True when the host's QEMU offers SPICE graphics (domain capabilities list ``spice``)."""
    try:
        caps = ET.fromstring(conn.getDomainCapabilities(None, None, None, None, 0))
    except libvirt.libvirtError:
        return False
    values = caps.findall("./devices/graphics/enum[@name='type']/value")
    return any(v.text == "spice" for v in values)


def _live_graphics(dom: libvirt.virDomain, label: str) -> dict[str, ET.Element]:
    with libvirt_errors(label, "read the running definition"):
        if not dom.isActive():
            raise ConsoleError(
                label, "is not running; consoles exist only for running desktops", "start the desktop first"
            )
        root = ET.fromstring(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
    found: dict[str, ET.Element] = {}
    for el in root.findall("./devices/graphics"):
        found.setdefault(el.get("type", ""), el)
    return found


def _choose(
    graphics: dict[str, ET.Element], protocol: Protocol | Literal["auto"], spice_ok: bool, label: str
) -> tuple[Protocol, ET.Element]:
    if not graphics:
        raise ConsoleError(label, "has no graphics device", "define the desktop with VNC or SPICE graphics")
    if protocol == "auto":
        if "spice" in graphics and spice_ok:
            return "spice", graphics["spice"]
        if "vnc" in graphics:
            return "vnc", graphics["vnc"]
        if "spice" in graphics:
            raise UnsupportedOperation(
                label,
                "has only SPICE graphics and the host's QEMU lacks SPICE",
                "install qemu-system-modules-spice on the host",
            )
    if protocol not in ("vnc", "spice"):
        raise InvalidSpec(label, f"unknown console protocol {protocol!r}", "use vnc, spice or auto")
    if protocol not in graphics:
        have = ", ".join(sorted(graphics)) or "none"
        raise ConsoleError(
            label,
            f"has no {protocol} graphics (has: {have})",
            "ask for a protocol the desktop has, or 'auto'",
        )
    if protocol == "spice" and not spice_ok:
        raise UnsupportedOperation(label, "the host's QEMU lacks SPICE", "install qemu-system-modules-spice")
    chosen: Protocol = "spice" if protocol == "spice" else "vnc"
    return chosen, graphics[chosen]


def _set_password(
    dom: libvirt.virDomain, el: ET.Element, password: str, valid_to: dt.datetime, label: str
) -> None:
    if el.get("passwd") is None:
        raise ConsoleError(
            label,
            f"its {el.get('type')} console has no password authentication (defined without a password)",
            "redefine the desktop with password auth (vdi.domain_plan.plan_domain does so by default, or "
            "vdi.console_tickets.locked_graphics()) and restart it",
        )
    el.set("passwd", password)
    el.set("passwdValidTo", valid_to.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    if el.get("type") == "spice":
        el.set("connected", "keep")  # a clerk already connected keeps the session
    try:
        dom.updateDeviceFlags(ET.tostring(el, encoding="unicode"), libvirt.VIR_DOMAIN_AFFECT_LIVE)
    except libvirt.libvirtError as exc:
        # libvirt's message names the QEMU command, never the password; keep it that way
        raise ConsoleError(
            label,
            f"cannot set the console password: {exc.get_error_message()}",
            "check that the desktop is running and the QEMU log",
        ) from None


def issue_ticket(
    conn: libvirt.virConnect,
    desktop: str,
    *,
    ttl_s: int = DEFAULT_TTL_S,
    protocol: Protocol | Literal["auto"] = "vnc",
) -> ConsoleTicket:
    """Set a fresh one-time password on ``desktop``'s running console, valid for ``ttl_s`` seconds."""
    label = f"desktop {desktop}"
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise InvalidSpec(
            label, f"ticket validity {ttl_s} s is outside 1..{MAX_TTL_S} s", "ask for a short validity"
        )
    dom = get_domain(conn, desktop)
    graphics = _live_graphics(dom, label)
    spice_ok = "spice" in graphics and spice_supported(conn)
    chosen, el = _choose(graphics, protocol, spice_ok, label)
    port = el.get("port")
    if not port or port == "-1":
        raise ConsoleError(
            label,
            f"its {chosen} console listens on no TCP port",
            "define the graphics with a TCP listen address",
        )
    host = (
        el.get("listen")
        or next((x.get("address") for x in el.findall("listen") if x.get("address")), None)
        or "127.0.0.1"
    )
    password = random_console_password(chosen)
    expires = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=ttl_s)
    _set_password(dom, el, password, expires, label)
    return ConsoleTicket(desktop, chosen, host, int(port), password, expires)


def revoke(conn: libvirt.virConnect, desktop: str) -> None:
    """Expire every console password of ``desktop`` now (open connections stay)."""
    label = f"desktop {desktop}"
    dom = get_domain(conn, desktop)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    for el in _live_graphics(dom, label).values():
        if el.get("passwd") is not None:
            kind: Protocol = "spice" if el.get("type") == "spice" else "vnc"
            _set_password(dom, el, random_console_password(kind), past, label)


# -- remote-viewer files ----------------------------------------------------------------------------

VV_GROUP = "virt-viewer"


def _vv_fields(ticket: ConsoleTicket, title: str, host: str | None) -> dict[str, str]:
    return {
        "type": ticket.protocol,
        "host": host or ticket.host,
        "port": str(ticket.port),
        "password": ticket.password,
        "title": title,
        "delete-this-file": "1",
        "fullscreen": "0",
        "release-cursor": "shift+f12",
    }


def seat_vv(
    conn: libvirt.virConnect,
    seat: Seat,
    *,
    ttl_s: int = 120,
    protocol: Protocol | Literal["auto"] = "auto",
    host: str | None = None,
) -> str:
    """A ``.vv`` file holding one-time credentials for both desktops of ``seat`` (gov first).

    ``host``: the address remote-viewer should connect to when it differs from the listen address
    (e.g. the hypervisor's name on the clerks' network, with a TCP forward in front of QEMU).
    """
    tickets = {
        side: issue_ticket(conn, name, ttl_s=ttl_s, protocol=protocol) for side, name in seat.desktops()
    }
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    gov_title = f"{seat.name} {SIDE_TITLES['gov']} ({seat.gov})"
    parser[VV_GROUP] = _vv_fields(tickets["gov"], gov_title, host)
    parser["hallcloud-seat"] = {
        "seat": seat.name,
        "desktops": "gov,internet",
        "default": "gov",
        "expires": min(t.expires_at for t in tickets.values()).isoformat(),
    }
    for side, ticket in tickets.items():
        title = f"{seat.name} {SIDE_TITLES[side]} ({ticket.desktop})"
        parser[f"hallcloud-{side}"] = {**_vv_fields(ticket, title, host), "desktop": ticket.desktop}
    out = io.StringIO()
    parser.write(out, space_around_delimiters=False)
    return out.getvalue()


def vv_for_desktop(seat_file: str, side: str) -> str:
    """A standalone remote-viewer ``.vv`` for one desktop (``gov``/``internet``) of a seat file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(seat_file)
    group = f"hallcloud-{side}"
    if group not in parser:
        sides = [s.removeprefix("hallcloud-") for s in parser.sections() if s.startswith("hallcloud-")]
        raise InvalidSpec(
            "seat .vv file", f"has no desktop {side!r} (has: {', '.join(sides)})", "use gov or internet"
        )
    fields = {k: v for k, v in parser[group].items() if k != "desktop"}
    single = configparser.ConfigParser(interpolation=None)
    single.optionxform = str  # type: ignore[assignment,method-assign]
    single[VV_GROUP] = fields
    out = io.StringIO()
    single.write(out, space_around_delimiters=False)
    return out.getvalue()


__all__ = [
    "DEFAULT_TTL_S",
    "MAX_TTL_S",
    "SIDE_TITLES",
    "SPICE_PASSWORD_LENGTH",
    "VNC_PASSWORD_LENGTH",
    "ConsoleTicket",
    "Protocol",
    "issue_ticket",
    "locked_graphics",
    "revoke",
    "seat_vv",
    "spice_supported",
    "vv_for_desktop",
]
