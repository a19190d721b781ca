"""Seats: the two desktops of one service window (一屏双机), one per network, on one host.

A seat is a named pair of domain names. The Pulumi stack is the source of truth for the hall's seats;
``hall stack seats-file`` (:func:`infra.summary.seat_directory`) writes them in the YAML form read
here. ``gov`` is the government-extranet desktop (政务外网), ``internet`` the internet desktop (互联网).
The two are never bridged, so they are always two separate domains with two separate consoles.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from vdi.conn import DEFAULT_URI
from vdi.exceptions import InvalidSpec, NotFound

__all__ = ["SIDES", "DesktopState", "Seat", "SeatDirectory", "Side", "desktop_states"]


Side = Literal["gov", "internet"]
"""A side of a seat: which network its desktop serves (政务外网 or 互联网)."""
SIDES: tuple[Side, ...] = ("gov", "internet")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


@dataclass(frozen=True)
class Seat:
    """The desktops of one window. ``site``/``window`` place the seat on the hall map (optional)."""

    name: str
    gov: str
    internet: str
    uri: str = DEFAULT_URI
    site: str | None = None
    """Slug of the site (hall) the seat's window belongs to."""
    window: int | None = None
    """Number of the service window (窗口) the seat serves."""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise InvalidSpec(
                f"seat {self.name!r}", "name must be 1-63 letters, digits, '.', '_' or '-'", "rename the seat"
            )
        if self.gov == self.internet:
            raise InvalidSpec(
                f"seat {self.name}",
                f"gov and internet are the same domain {self.gov!r}; the networks are "
                "never bridged, so a seat needs two desktops",
                "name two different domains",
            )

    def desktop(self, side: str) -> str:
        if side == "gov":
            return self.gov
        if side == "internet":
            return self.internet
        raise InvalidSpec(f"seat {self.name}", f"unknown desktop {side!r}", "use 'gov' or 'internet'")

    def desktops(self) -> Iterator[tuple[Side, str]]:
        yield "gov", self.gov
        yield "internet", self.internet


class SeatDirectory:
    """The seats this process knows, by name."""

    def __init__(self, seats: Iterable[Seat] = ()) -> None:
        self._seats: dict[str, Seat] = {}
        for seat in seats:
            if seat.name in self._seats:
                raise InvalidSpec(f"seat {seat.name}", "is listed twice", "remove the duplicate")
            self._seats[seat.name] = seat

    def get(self, name: str) -> Seat:
        seat = self._seats.get(name)
        if seat is None:
            known = ", ".join(sorted(self._seats)) or "none"
            raise NotFound(f"seat {name}", f"is not defined; defined: {known}", "check the seat name")
        return seat

    def find(self, name: str) -> Seat | None:
        return self._seats.get(name)

    def __iter__(self) -> Iterator[Seat]:
        return iter(self._seats.values())

    def __len__(self) -> int:
        return len(self._seats)

    @classmethod
    def from_data(cls, data: Any, origin: str = "seats") -> SeatDirectory:
        """From ``{"seats": [{"name", "gov", "internet", "uri", "site", "window"}, ...]}`` (mappings)."""
        rows = data.get("seats", []) if isinstance(data, Mapping) else data
        if not isinstance(rows, list):
            raise InvalidSpec(origin, "expected a list of seats under 'seats'", "see vdi/seats.py")
        seats = []
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping) or not {"name", "gov", "internet"} <= set(row):
                raise InvalidSpec(f"{origin} entry {i}", "needs name, gov and internet", "add the keys")
            extra = set(row) - {"name", "gov", "internet", "uri", "site", "window"}
            if extra:
                raise InvalidSpec(
                    f"{origin} seat {row['name']}",
                    f"unknown keys {sorted(extra)}",
                    "allowed: name, gov, internet, uri, site, window",
                )
            seats.append(Seat(**{k: v for k, v in row.items()}))
        return cls(seats)

    def to_data(self) -> dict[str, Any]:
        """The mapping :meth:`from_data` reads (optional keys only when set)."""
        rows = []
        for seat in self:
            row: dict[str, Any] = {
                "name": seat.name,
                "gov": seat.gov,
                "internet": seat.internet,
                "uri": seat.uri,
            }
            if seat.site is not None:
                row["site"] = seat.site
            if seat.window is not None:
                row["window"] = seat.window
            rows.append(row)
        return {"seats": rows}

    def write_file(self, path: Path) -> None:
        """Write the seats as YAML (what :meth:`from_file` and the device manager's seat pages read)."""
        text = yaml.safe_dump(self.to_data(), allow_unicode=True, sort_keys=False)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)

    @classmethod
    def from_file(cls, path: Path) -> SeatDirectory:
        if not path.exists():
            return cls()
        return cls.from_data(yaml.safe_load(path.read_text()) or {}, str(path))


DesktopState = Literal["running", "paused", "shutoff", "missing", "unknown"]


def desktop_states(conn: Any, seat: Seat) -> dict[Side, DesktopState]:
    """The state of each desktop of ``seat`` on ``conn`` (a libvirt connection to ``seat.uri``)."""
    import libvirt

    names = {
        libvirt.VIR_DOMAIN_RUNNING: "running",
        libvirt.VIR_DOMAIN_PAUSED: "paused",
        libvirt.VIR_DOMAIN_SHUTOFF: "shutoff",
        libvirt.VIR_DOMAIN_SHUTDOWN: "running",
        libvirt.VIR_DOMAIN_BLOCKED: "running",
    }
    states: dict[Side, DesktopState] = {}
    for side, name in seat.desktops():
        try:
            state = conn.lookupByName(name).state()[0]
            states[side] = names.get(state, "unknown")  # type: ignore[assignment]
        except libvirt.libvirtError as exc:
            states[side] = "missing" if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN else "unknown"
    return states
