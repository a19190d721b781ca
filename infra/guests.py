"""Talking to HallCloud *test-image* desktops over their serial console (protocol in images/testimage).

The tiny test guests answer ``hc ip`` with ``NIC <name> <mac> <ipv4|none>`` lines and ``hc ping ADDR``
with ``PING ADDR ok|fail``, and run any other line as a shell command (``SH-EXIT <status>``). A guest
asks DHCP only briefly at boot (two tries of a second), which a loaded TCG host can miss:
:func:`ensure_addresses` asks again for every NIC still without an address.
"""

from __future__ import annotations

import re
import time

import libvirt

from vdi.serial_console import SerialConsole

__all__ = ["GuestNic", "ensure_addresses", "nics", "ping"]

NIC_LINE = re.compile(r"^NIC (\S+) ([0-9a-f:]{17}) (\S+)\s*$", re.MULTILINE)
DHCP_AGAIN = "udhcpc -i {nic} -f -q -n -t 5 -T 2 -s /etc/hallcloud/udhcpc.script >/dev/null 2>&1"


class GuestNic(tuple[str, str, str | None]):
    """(guest interface, MAC, IPv4 address or None)."""

    @property
    def name(self) -> str:
        return self[0]

    @property
    def mac(self) -> str:
        return self[1]

    @property
    def address(self) -> str | None:
        return self[2]


def _nics(console: SerialConsole, timeout: float) -> list[GuestNic]:
    start = len(console.transcript)
    console.command("hc ip", "IP-END", timeout)
    text = console.transcript[start:].replace("\r", "")
    return [GuestNic((m[0], m[1], None if m[2] == "none" else m[2])) for m in NIC_LINE.findall(text)]


def wait_ready(console: SerialConsole, timeout: float) -> None:
    """Wait until the guest answers the serial protocol (it may still be booting)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            console.command("hc sync", "SYNCED", timeout=5)
            return
        except Exception:
            if time.monotonic() >= deadline:
                raise


def nics(conn: libvirt.virConnect, domain: str, timeout: float = 60) -> list[GuestNic]:
    with SerialConsole(conn, domain) as console:
        wait_ready(console, timeout)
        return _nics(console, 30)


def ensure_addresses(conn: libvirt.virConnect, domain: str, timeout: float = 120) -> list[GuestNic]:
    """The guest's NICs, after asking DHCP again for each one without an address (until ``timeout``)."""
    deadline = time.monotonic() + timeout
    with SerialConsole(conn, domain) as console:
        wait_ready(console, timeout)
        while True:
            found = _nics(console, 30)
            missing = [n for n in found if n.address is None]
            if not missing or time.monotonic() >= deadline:
                return found
            for nic in missing:
                console.command(
                    DHCP_AGAIN.format(nic=nic.name),
                    "SH-EXIT",
                    timeout=60,
                )


def ping(conn: libvirt.virConnect, domain: str, address: str, timeout: float = 30) -> bool:
    """True when ``domain`` gets an answer from ``address`` (one ICMP echo, 1 s wait)."""
    with SerialConsole(conn, domain) as console:
        wait_ready(console, timeout)
        match = console.command(
            f"hc ping {address}", re.compile(rf"PING {re.escape(address)} (ok|fail)"), timeout
        )
        return match.group(1) == "ok"
