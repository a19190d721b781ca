"""The hall's summary for people: seats with their consoles and addresses, app and storage tiers; and the
stack's seats as a :class:`vdi.seats.SeatDirectory` (the device manager's seat pages read its YAML file).

Both read the stack outputs through :class:`infra.outputs.HallOutputs`. Addresses are read live (the
outputs hold what was known when a desktop was created): from the networks' DHCP leases, and for
test-image desktops from the guest itself over the serial console.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from images.catalog import get_image
from infra.guests import ensure_addresses
from infra.outputs import DesktopOutputs, HallOutputs
from infra.settings import libvirt_uri_override
from infra.spec import SIDES, HallSpec
from vdi.conn import connection
from vdi.exceptions import VdiError
from vdi.seats import SeatDirectory

__all__ = ["host_uri", "live_addresses", "render_summary", "seat_directory"]


def host_uri(spec: HallSpec, host: str) -> str:
    """The URI of ``host`` as the providers resolve it (environment override first, then the config)."""
    return libvirt_uri_override(host) or spec.hosts[host].uri


def live_addresses(spec: HallSpec, desktop: DesktopOutputs, ask_guest: bool = True) -> list[str]:
    """IPv4 addresses of a desktop described in the stack outputs (empty when it has none yet)."""
    known = list(desktop.addresses)
    if known or not desktop.running:
        return known
    if not ask_guest or get_image(desktop.image).source.kind != "test-image":
        return []
    try:
        with connection(host_uri(spec, desktop.host)) as conn:
            return [n.address for n in ensure_addresses(conn, desktop.domain, timeout=90) if n.address]
    except VdiError:
        return []


def _desktop_line(spec: HallSpec, label: str, desktop: DesktopOutputs, ask_guest: bool) -> str:
    addresses = ", ".join(live_addresses(spec, desktop, ask_guest)) or "no address yet"
    state = "running" if desktop.running else "STOPPED"
    return (
        f"    {label:<9} {desktop.domain:<24} {state:<8} net {','.join(desktop.networks):<14} "
        f"ip {addresses:<16} vnc {desktop.vnc or '-':<16} serial: {desktop.serial}"
    )


def render_summary(spec: HallSpec, outputs: Mapping[str, Any], ask_guest: bool = True) -> str:
    hall = HallOutputs.parse(outputs)
    lines = [f"{hall.name or spec.name}  (prefix {spec.prefix})", "", "seats (一屏双机):"]
    for seat in hall.seats.values():
        schedule = (seat.snapshot_policy or {}).get("snapshot_schedule") or "none"
        lines.append(f"  window {seat.window:>3}  {seat.name}  [snapshots: {schedule}]")
        for side in SIDES:
            lines.append(_desktop_line(spec, side, seat.side(side), ask_guest))
    if not hall.seats:
        lines.append("  (no windows)")
    lines += ["", "app tier:"]
    for name, vm in hall.app_tier.items():
        lines.append(_desktop_line(spec, name, vm, ask_guest))
    lines += ["", f"storage tier: backup pool {hall.storage_pool}"]
    if hall.file_server is not None:
        lines.append(_desktop_line(spec, "files", hall.file_server, ask_guest))
    lines += [
        "",
        "consoles ask for a one-time password: `hall console ticket DESKTOP` (one desktop),",
        "`hall console vv SEAT` (remote-viewer file), or the seat page /seat/SEAT of `hall serve`",
        "(seats: `hall stack seats-file -o FILE`, then HALLCLOUD_SEATS_FILE=FILE)",
    ]
    return "\n".join(lines)


def seat_directory(spec: HallSpec, outputs: Mapping[str, Any], site: str | None = None) -> SeatDirectory:
    """The seats of the stack outputs: seat ``<prefix>-w<NNN>`` of window NNN, its two desktops' domains
    and the URI of their host as the providers resolve it; ``site`` is the device manager's site slug
    (the hall map shows a seat only on its site)."""
    return SeatDirectory(
        seat.seat(f"{spec.prefix}-w{number:03d}", host_uri(spec, seat.host), site)
        for number, seat in HallOutputs.parse(outputs).seats.items()
    )
