"""``make demo`` / ``make demo-down`` for now: a seat-like pair of tiny test desktops.

``python -m vdi.demo up`` makes sure two x86_64 test guests run, each alone on its own isolated network
(``demo-gov``, the government extranet, and ``demo-internet``; never bridged), both booted from linked
clones of one golden image, waits until each answers on its serial console, and prints how to reach
them. ``python -m vdi.demo down`` removes everything ``up`` created. Both are idempotent.

The URI is ``$HALLCLOUD_URI`` or ``qemu:///system``.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import libvirt

from vdi.conn import DEFAULT_URI, connection
from vdi.console import SerialConsole
from vdi.domain import lookup_domain, resume_domain, running_definition, start_domain, undefine_domain
from vdi.exceptions import VdiError
from vdi.models import Network, Pool
from vdi.network import delete_network, ensure_network
from vdi.storage import default_pool_path, delete_pool, ensure_pool
from vdi.testguest import (
    NIC_LINE,
    READY_TIMEOUT,
    build_test_image,
    define_test_guest,
    stage_test_image,
)

ARCH = "x86_64"
POOL = "hallcloud-demo"


@dataclass(frozen=True)
class DemoDesktop:
    name: str
    network: str
    role: str


DESKTOPS = (
    DemoDesktop("demo-gov-desktop", "demo-gov", "government extranet (政务外网)"),
    DemoDesktop("demo-internet-desktop", "demo-internet", "internet (互联网)"),
)


def up(uri: str) -> int:
    print(f"demo: building or reusing the {ARCH} test image", flush=True)
    image = build_test_image(ARCH)
    with connection(uri) as conn:
        for desk in DESKTOPS:
            ensure_network(conn, Network(name=desk.network, forward="isolated"))
        ensure_pool(conn, Pool(name=POOL, type="dir", target_path=default_pool_path(POOL)))
        staged = stage_test_image(conn, POOL, image)
        for desk in DESKTOPS:
            define_test_guest(conn, desk.name, staged, [desk.network])
        _boot_or_check(conn)
        print()
        print("seat 'demo': one screen, two machines")
        for desk in DESKTOPS:
            _print_access(conn, uri, desk)
    print("\nremove it with: make demo-down")
    return 0


def _boot_or_check(conn: libvirt.virConnect) -> None:
    """Boot the stopped desktops side by side; ask the running ones to answer on their consoles."""
    booting: list[tuple[DemoDesktop, SerialConsole]] = []
    try:
        for desk in DESKTOPS:
            dom = lookup_domain(conn, desk.name)
            if dom is not None and dom.isActive():
                # already running: prove it still answers instead of rebooting it
                with SerialConsole(conn, desk.name) as console:
                    console.command("hc ip", "IP-END", timeout=30)
                print(f"{desk.name}: already running, answers on its console", flush=True)
                continue
            start_domain(conn, desk.name, paused=True)
            booting.append((desk, SerialConsole(conn, desk.name).open()))
        started = time.monotonic()
        for desk, _console in booting:
            resume_domain(conn, desk.name)
        for desk, console in booting:
            console.wait_for(f"GUEST-READY {ARCH}", READY_TIMEOUT)
            nics = NIC_LINE.findall(console.transcript.replace("\r", ""))
            print(
                f"{desk.name}: GUEST-READY {ARCH} after {time.monotonic() - started:.1f} s, "
                f"NICs {[(n[0], n[1]) for n in nics]}",
                flush=True,
            )
    finally:
        for _desk, console in booting:
            console.close()


def _print_access(conn: libvirt.virConnect, uri: str, desk: DemoDesktop) -> None:
    live = running_definition(conn, desk.name)
    pty = live.serials[0].path if live.serials else None
    vnc = next((g for g in live.graphics if g.type == "vnc"), None)
    print(f"  {desk.name}  [{desk.role}, network {desk.network}]")
    print(f"    serial console: virsh -c {uri} console {desk.name}   (pty {pty})")
    if vnc is not None and vnc.port is not None:
        print(f"    VNC: {vnc.listen}:{vnc.port}  (display :{vnc.port - 5900})")


def down(uri: str) -> int:
    with connection(uri) as conn:
        for desk in DESKTOPS:
            removed = undefine_domain(conn, desk.name)
            print(f"{desk.name}: {'removed' if removed else 'absent'}")
        print(f"pool {POOL}: {'removed' if delete_pool(conn, POOL, delete_volumes=True) else 'absent'}")
        for desk in DESKTOPS:
            print(f"network {desk.network}: {'removed' if delete_network(conn, desk.network) else 'absent'}")
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("up", "down"):
        print("usage: python -m vdi.demo up|down", file=sys.stderr)
        return 2
    uri = os.environ.get("HALLCLOUD_URI", DEFAULT_URI)
    try:
        return up(uri) if argv[0] == "up" else down(uri)
    except VdiError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
