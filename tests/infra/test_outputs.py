"""The stack's outputs as typed objects: malformed outputs are refused naming them, seats come in window
order, the VNC endpoint is read in one place (what the program exports: tests/infra/test_program.py)."""

from __future__ import annotations

from typing import Any

import pytest

from infra.outputs import DesktopOutputs, HallOutputs, seat_key
from vdi.exceptions import InvalidSpec


def _desktop(domain: str, host: str = "local", vnc: str | None = "127.0.0.1:5901") -> dict[str, Any]:
    return {
        "domain": domain,
        "host": host,
        "image": "hallcloud-test-x86_64",
        "networks": ["gov"],
        "console": {"vnc": vnc, "serial": f"host {host}: virsh console {domain}"},
        "addresses": ["10.218.1.20"],
        "macs": ["52:54:00:00:00:01"],
        "running": vnc is not None,
    }


def test_vnc_endpoint_is_none_without_a_listen_address_and_port() -> None:
    assert DesktopOutputs.parse(_desktop("d", vnc=None)).vnc_endpoint is None
    assert DesktopOutputs.parse(_desktop("d", vnc="127.0.0.1:")).vnc_endpoint is None
    assert DesktopOutputs.parse(_desktop("d", vnc="[::1]:5902")).vnc_endpoint == ("[::1]", 5902)


def test_seats_come_in_window_order_with_their_sides() -> None:
    raw = {
        "seats": {
            seat_key(n): {
                "window": n,
                "name": f"w{n}",
                "gov": _desktop(f"w{n}-gov"),
                "internet": _desktop(f"w{n}-internet"),
            }
            for n in (12, 3)
        }
    }
    seats = HallOutputs.parse(raw).seats
    assert list(seats) == [3, 12]
    assert [(side, d.domain) for side, d in seats[12].desktops()] == [
        ("gov", "w12-gov"),
        ("internet", "w12-internet"),
    ]
    with pytest.raises(InvalidSpec, match=r"^window 3: has no 'dmz' desktop"):
        seats[3].side("dmz")


@pytest.mark.parametrize(
    ("seat", "message"),
    [
        (
            {"name": "x", "gov": _desktop("g"), "internet": _desktop("i")},
            r"^stack output seats\.007: has no window number \(got None\)",
        ),
        (
            {"window": 7, "gov": _desktop("g")},
            r"^seat output of window 7: internet desktop: the desktop is not a mapping \(got NoneType\)",
        ),
        (
            {"window": 7, "gov": {**_desktop("g"), "domain": ""}, "internet": _desktop("i")},
            r"^seat output of window 7: gov desktop: has no 'domain'\. Fix: run `hall stack refresh`",
        ),
        (
            {"window": 7, "gov": {**_desktop("g"), "console": "vnc"}, "internet": _desktop("i")},
            r"^seat output of window 7: gov desktop: its console is not a mapping",
        ),
    ],
)
def test_a_malformed_seat_output_is_refused_naming_it(seat: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidSpec, match=message):
        HallOutputs.parse({"seats": {"007": seat}})
