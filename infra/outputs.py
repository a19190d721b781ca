"""The hall stack's exported outputs as typed objects: written and parsed in this one module.

The program (:meth:`infra.deploy.Hall.exports`) exports ``seats`` (``"007"`` -> the seat of window 7),
``app_tier`` (VM name -> desktop) and ``storage_tier`` (``pool``, ``file_server``). Every machine is
described the same way (:class:`DesktopOutputs`): its libvirt domain, host key, image, network keys,
consoles (VNC endpoint when running, how to reach the serial console), addresses, MACs and whether it
runs. A seat (:class:`SeatOutputs`) is its window number and name, its snapshot policy and one desktop
per side.

The components write these shapes with :meth:`DesktopOutputs.to_output` / :meth:`SeatOutputs.to_output`;
the summary, the seats file, the Automation API helpers and the device manager read them with
:meth:`HallOutputs.parse` / :meth:`SeatOutputs.parse`, which refuse a malformed output naming it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vdi.exceptions import InvalidSpec
from vdi.seats import SIDES, Seat, Side

__all__ = ["DesktopOutputs", "HallOutputs", "SeatOutputs", "seat_key"]

_FIX = "run `hall stack refresh` (or `hall stack up`) so the stack exports its outputs again"


def seat_key(number: int) -> str:
    """The key of window ``number``'s seat in the ``seats`` output (``"007"``)."""
    return f"{number:03d}"


def _mapping(value: Any, label: str, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidSpec(label, f"{what} is not a mapping (got {type(value).__name__})", _FIX)
    return value


def _text(data: Mapping[str, Any], key: str, label: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise InvalidSpec(label, f"has no '{key}'", _FIX)
    return value


@dataclass(frozen=True)
class DesktopOutputs:
    """One machine (seat desktop, app-tier VM, file server) as the stack exports it."""

    domain: str
    host: str
    """The host key (``hall:hosts``), never a URI."""
    image: str
    networks: tuple[str, ...] = ()
    """Network keys (``hall:networks``), one per NIC."""
    vnc: str | None = None
    """``listen:port`` of the VNC console; None while the desktop does not run."""
    serial: str | None = None
    """How to reach the serial console, for people (``host local: virsh console NAME``)."""
    addresses: tuple[str, ...] = ()
    macs: tuple[str, ...] = ()
    running: bool = False

    @property
    def vnc_endpoint(self) -> tuple[str, int] | None:
        """``(listen address, port)`` of the VNC console, or None when the output has none."""
        host, _, port = (self.vnc or "").rpartition(":")
        return (host, int(port)) if host and port.isdigit() else None

    @classmethod
    def parse(cls, data: Any, label: str = "desktop output") -> DesktopOutputs:
        data = _mapping(data, label, "the desktop")
        console = _mapping(data.get("console") or {}, label, "its console")
        return cls(
            domain=_text(data, "domain", label),
            host=_text(data, "host", label),
            image=str(data.get("image") or ""),
            networks=tuple(data.get("networks") or ()),
            vnc=console.get("vnc") or None,
            serial=console.get("serial") or None,
            addresses=tuple(a for a in data.get("addresses") or () if a),
            macs=tuple(data.get("macs") or ()),
            running=bool(data.get("running")),
        )

    def to_output(self) -> dict[str, Any]:
        """The exported mapping (what :meth:`parse` reads)."""
        return {
            "domain": self.domain,
            "host": self.host,
            "image": self.image,
            "networks": list(self.networks),
            "console": {"vnc": self.vnc, "serial": self.serial},
            "addresses": list(self.addresses),
            "macs": list(self.macs),
            "running": self.running,
        }


@dataclass(frozen=True)
class SeatOutputs:
    """One window's seat (一屏双机) as the stack exports it: a desktop per side."""

    window: int
    name: str
    gov: DesktopOutputs
    internet: DesktopOutputs
    snapshot_policy: dict[str, Any] | None = None
    """The window's policy as :meth:`vdi.policy.Policy.from_mapping` reads it (None: no snapshots)."""

    def side(self, side: str) -> DesktopOutputs:
        if side not in SIDES:
            raise InvalidSpec(f"window {self.window}", f"has no {side!r} desktop", "use 'gov' or 'internet'")
        desktop: DesktopOutputs = getattr(self, side)
        return desktop

    def desktops(self) -> Iterator[tuple[Side, DesktopOutputs]]:
        for side in SIDES:
            yield side, self.side(side)

    @property
    def host(self) -> str:
        """The host both desktops run on; a seat split over two hosts is refused."""
        hosts = {d.host for _, d in self.desktops()}
        if len(hosts) != 1:
            raise InvalidSpec(
                f"window {self.window}",
                f"its desktops are on different hosts ({', '.join(sorted(hosts))})",
                "place both desktops of a seat on one host (hall:windows[].host)",
            )
        return hosts.pop()

    def seat(self, name: str, uri: str, site: str | None = None) -> Seat:
        """The seat as :mod:`vdi.seats` knows it (the seats file the device manager's seat pages read)."""
        return Seat(
            name=name,
            gov=self.gov.domain,
            internet=self.internet.domain,
            uri=uri,
            site=site,
            window=self.window,
        )

    @classmethod
    def parse(cls, data: Any, label: str = "seat output") -> SeatOutputs:
        data = _mapping(data, label, "the seat")
        window = data.get("window")
        if isinstance(window, bool) or not (isinstance(window, int) or str(window).isdigit()):
            raise InvalidSpec(label, f"has no window number (got {window!r})", _FIX)
        label = f"seat output of window {int(window)}"
        policy = data.get("snapshot_policy")
        return cls(
            window=int(window),
            name=str(data.get("name") or ""),
            gov=DesktopOutputs.parse(data.get("gov"), f"{label}: gov desktop"),
            internet=DesktopOutputs.parse(data.get("internet"), f"{label}: internet desktop"),
            snapshot_policy=dict(policy) if isinstance(policy, Mapping) else None,
        )

    def to_output(self) -> dict[str, Any]:
        return {
            "window": self.window,
            "name": self.name,
            "snapshot_policy": self.snapshot_policy,
            "gov": self.gov.to_output(),
            "internet": self.internet.to_output(),
        }


@dataclass(frozen=True)
class HallOutputs:
    """Every output of a hall stack that people and tools read."""

    name: str | None = None
    prefix: str | None = None
    seats: dict[int, SeatOutputs] = field(default_factory=dict)
    """By window number, in window order."""
    app_tier: dict[str, DesktopOutputs] = field(default_factory=dict)
    storage_pool: str | None = None
    file_server: DesktopOutputs | None = None

    @classmethod
    def parse(cls, outputs: Mapping[str, Any]) -> HallOutputs:
        """From the stack outputs (``{name: value}``, e.g. :meth:`infra.automation.HallStack.outputs`)."""
        raw_seats = _mapping(outputs.get("seats") or {}, "stack output seats", "it")
        seats = [SeatOutputs.parse(value, f"stack output seats.{key}") for key, value in raw_seats.items()]
        raw_apps = _mapping(outputs.get("app_tier") or {}, "stack output app_tier", "it")
        storage = _mapping(outputs.get("storage_tier") or {}, "stack output storage_tier", "it")
        server = storage.get("file_server")
        return cls(
            name=outputs.get("hall"),
            prefix=outputs.get("prefix"),
            seats={s.window: s for s in sorted(seats, key=lambda s: s.window)},
            app_tier={
                name: DesktopOutputs.parse(vm, f"stack output app_tier.{name}")
                for name, vm in sorted(raw_apps.items())
            },
            storage_pool=storage.get("pool"),
            file_server=DesktopOutputs.parse(server, "stack output storage_tier.file_server")
            if server
            else None,
        )
