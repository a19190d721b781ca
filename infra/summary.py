"""The hall's summary for people: seats with their consoles and addresses, app and storage tiers; and the
stack's seats as a :class:`vdi.seats.SeatDirectory` (the device manager's seat pages read its YAML file).

Addresses are read live (the stack's outputs hold what was known when a desktop was created): from the
networks' DHCP leases, and for test-image desktops from the guest itself over the serial console.
"""

from __future__ import annotations

from typing import Any

from images.catalog import get_image
from infra.guests import ensure_addresses
from infra.providers.base import uri_override
from infra.spec import HallSpec
from vdi.conn import connection
from vdi.exceptions import InvalidSpec, VdiError
from vdi.seats import Seat, SeatDirectory

__all__ = ["host_uri", "live_addresses", "render_summary", "seat_directory"]


def host_uri(spec: HallSpec, host: str) -> str:
    """The URI of ``host`` as the providers resolve it (environment override first, then the config)."""
    return uri_override(host) or spec.hosts[host].uri


def live_addresses(spec: HallSpec, desktop: dict[str, Any], ask_guest: bool = True) -> list[str]:
    """IPv4 addresses of a desktop described in the stack outputs (empty when it has none yet)."""
    known = [a for a in desktop.get("addresses") or [] if a]
    if known or not desktop.get("running"):
        return known
    if not ask_guest or get_image(desktop["image"]).source.kind != "test-image":
        return []
    try:
        with connection(host_uri(spec, desktop["host"])) as conn:
            return [n.address for n in ensure_addresses(conn, desktop["domain"], timeout=90) if n.address]
    except VdiError:
        return []


def _desktop_line(spec: HallSpec, label: str, desktop: dict[str, Any], ask_guest: bool) -> str:
    console = desktop.get("console") or {}
    addresses = ", ".join(live_addresses(spec, desktop, ask_guest)) or "no address yet"
    state = "running" if desktop.get("running") else "STOPPED"
    return (
        f"    {label:<9} {desktop['domain']:<24} {state:<8} net {','.join(desktop['networks']):<14} "
        f"ip {addresses:<16} vnc {console.get('vnc') or '-':<16} serial: {console.get('serial')}"
    )


def render_summary(spec: HallSpec, outputs: dict[str, Any], ask_guest: bool = True) -> str:
    lines = [f"{outputs.get('hall', spec.name)}  (prefix {spec.prefix})", "", "seats (一屏双机):"]
    seats = outputs.get("seats") or {}
    for key in sorted(seats):
        seat = seats[key]
        schedule = (seat.get("snapshot_policy") or {}).get("snapshot_schedule") or "none"
        lines.append(f"  window {seat['window']:>3}  {seat['name']}  [snapshots: {schedule}]")
        for side in ("gov", "internet"):
            lines.append(_desktop_line(spec, side, seat[side], ask_guest))
    if not seats:
        lines.append("  (no windows)")
    lines += ["", "app tier:"]
    for name, vm in sorted((outputs.get("app_tier") or {}).items()):
        lines.append(_desktop_line(spec, name, vm, ask_guest))
    storage = outputs.get("storage_tier") or {}
    lines += ["", f"storage tier: backup pool {storage.get('pool')}"]
    if storage.get("file_server"):
        lines.append(_desktop_line(spec, "files", storage["file_server"], ask_guest))
    lines += [
        "",
        "consoles ask for a one-time password: `hall console ticket DESKTOP` (one desktop),",
        "`hall console vv SEAT` (remote-viewer file), or the seat page /seat/SEAT of `hall serve`",
        "(seats: `hall stack seats-file -o FILE`, then HALLCLOUD_SEATS_FILE=FILE)",
    ]
    return "\n".join(lines)


def seat_directory(spec: HallSpec, outputs: dict[str, Any], site: str | None = None) -> SeatDirectory:
    """The seats of the stack outputs: seat ``<prefix>-w<NNN>`` of window NNN, its two desktops' domains
    and the URI of their host as the providers resolve it; ``site`` is the device manager's site slug
    (the hall map shows a seat only on its site)."""
    seats = []
    for key in sorted(outputs.get("seats") or {}):
        seat = outputs["seats"][key]
        hosts = {seat[side]["host"] for side in ("gov", "internet")}
        if len(hosts) != 1:
            raise InvalidSpec(
                f"window {seat['window']}",
                f"its desktops are on different hosts ({', '.join(sorted(hosts))})",
                "place both desktops of a seat on one host (hall:windows[].host)",
            )
        seats.append(
            Seat(
                name=f"{spec.prefix}-w{int(seat['window']):03d}",
                gov=seat["gov"]["domain"],
                internet=seat["internet"]["domain"],
                uri=host_uri(spec, hosts.pop()),
                site=site,
                window=int(seat["window"]),
            )
        )
    return SeatDirectory(seats)
