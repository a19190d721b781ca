"""Seat isolation on a real hypervisor: network filters keep each desktop to its own network.

Two tiny x86_64 guests under TCG, one on a gov-like isolated network and one on an internet-like NAT
network (subnets from a random octet, every object named ``hc-i-<hex>-...``), speaking the serial
protocol of images/testimage (``hc ping ADDR`` -> ``PING ADDR ok|fail``). The host answers on any of
its addresses from any bridge (weak host model), so without the filters the internet guest reaches the
gov gateway; the test first shows that hole on the unfiltered internet guest, then attaches the filter
to its running NIC and proves the hole closed, while the gov guest boots with its filter in its
definition.
"""

from __future__ import annotations

import functools
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import libvirt
import pytest

from images.catalog import testimage_name as catalog_name_of_test_image
from vdi.conn import connection
from vdi.domain import define_domain, undefine_domain
from vdi.domain_plan import DiskSource, DomainRequest, KernelBoot, image_for, plan_domain
from vdi.models import Network, NetworkIP, Pool
from vdi.network import delete_network, ensure_network
from vdi.nwfilter import delete_nwfilter, ensure_nwfilter, isolation_filter, set_interface_filters
from vdi.serial_console import SerialConsole
from vdi.storage import default_pool_path, delete_pool, ensure_pool, get_pool, linked_clone
from vdi.testguest import Cleanup, StagedImage, boot_to_marker, build_test_image, stage_test_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]

NIC_LINE = re.compile(r"^NIC (\S+) ([0-9a-f:]{17}) (\S+)\s*$", re.MULTILINE)


@dataclass
class Side:
    network: Network
    filter: str
    domain: str
    console: SerialConsole | None = None
    address: str | None = None

    @property
    def gateway(self) -> str:
        assert self.network.ip is not None
        return self.network.ip.address

    @property
    def subnet(self) -> str:
        assert self.network.ip is not None
        return f"{self.network.ip.address.rsplit('.', 1)[0]}.0/{self.network.ip.prefix}"


def _network(name: str, forward: str, base: str) -> Network:
    return Network(
        name=name,
        forward=forward,  # type: ignore[arg-type]
        ip=NetworkIP(f"{base}.1", 24, f"{base}.10", f"{base}.254"),
    )


def _define(conn: libvirt.virConnect, staged: StagedImage, side: Side, with_filter: bool) -> None:
    request = DomainRequest(
        name=side.domain,
        disks=[DiskSource(pool=staged.pool, volume=f"{side.domain}.qcow2")],
        networks=[side.network.name],
        network_filters={side.network.name: side.filter} if with_filter else {},
        kernel_boot=KernelBoot(staged.kernel, staged.initrd, staged.cmdline),
        memory_mib=192,
        vnc=False,
        description="HallCloud isolation test guest",
    )
    define_domain(conn, plan_domain(image_for(catalog_name_of_test_image("x86_64")), request))
    linked_clone(get_pool(conn, staged.pool), staged.golden_volume, f"{side.domain}.qcow2")


def _address(console: SerialConsole, timeout: float = 180) -> str:
    """The guest's IPv4 address, once its DHCP (retried in the background by the guest) got one."""
    deadline = time.monotonic() + timeout
    while True:
        start = len(console.transcript)
        console.command("hc ip", "IP-END", 30)
        lines = NIC_LINE.findall(console.transcript[start:].replace("\r", ""))
        assert len(lines) == 1, lines
        if lines[0][2] != "none":
            return str(lines[0][2])
        assert time.monotonic() < deadline, f"no DHCP address on {console.domain_name} in {timeout} s"
        time.sleep(3)


def _ping(side: Side, address: str) -> bool:
    assert side.console is not None
    answer = side.console.command(
        f"hc ping {address}", re.compile(rf"PING {re.escape(address)} (ok|fail)"), 30
    )
    return answer.group(1) == "ok"


def _shell(side: Side, line: str) -> None:
    assert side.console is not None
    side.console.command(line, re.compile(r"SH-EXIT 0"), 30)


@pytest.fixture(scope="module")
def seat(live_uri: str) -> Iterator[tuple[Side, Side]]:
    run = f"hc-i-{secrets.token_hex(3)}"
    octet = 150 + secrets.randbelow(40)
    gov_net = _network(f"{run}-gov", "isolated", f"10.{octet}.11")
    internet_net = _network(f"{run}-internet", "nat", f"10.{octet}.12")
    gov = Side(gov_net, f"{run}-gov-isolation", f"{run}-gov")
    internet = Side(internet_net, f"{run}-internet-isolation", f"{run}-internet")
    cleanup = Cleanup()
    conn = libvirt.open(live_uri)
    try:
        for side, other in ((gov, internet), (internet, gov)):
            assert ensure_network(conn, side.network) == "created"
            cleanup.push(side.network.name, functools.partial(delete_network, conn, side.network.name))
            flt = isolation_filter(side.filter, side.network, [other.subnet])
            assert ensure_nwfilter(conn, flt) == "created"
            cleanup.push(side.filter, functools.partial(delete_nwfilter, conn, side.filter))
        assert ensure_pool(conn, Pool(name=run, target_path=default_pool_path(run))) == "created"
        cleanup.push(run, functools.partial(delete_pool, conn, run, delete_volumes=True))
        staged = stage_test_image(conn, run, build_test_image("x86_64"))
        # the gov guest has its filter from the start; the internet guest gets it later, while running
        for side, with_filter in ((gov, True), (internet, False)):
            _define(conn, staged, side, with_filter)
            cleanup.push(side.domain, functools.partial(undefine_domain, conn, side.domain))
        for side in (gov, internet):
            _result, side.console = boot_to_marker(conn, side.domain, "x86_64", timeout=300)
            cleanup.push(f"console {side.domain}", side.console.close)
        for side in (gov, internet):
            assert side.console is not None
            side.address = _address(side.console)
        yield gov, internet
    finally:
        errors = cleanup.run()
        conn.close()
        assert not errors, errors


def test_filters_keep_each_desktop_to_its_own_network(seat: tuple[Side, Side], live_uri: str) -> None:
    gov, internet = seat
    assert gov.address is not None and internet.address is not None
    # the hole this closes: unfiltered, the internet guest reaches the host's address on the gov bridge
    assert _ping(internet, internet.gateway) is True
    assert _ping(internet, gov.gateway) is True, "no weak-host hole to close: the test proves nothing here"

    with connection(live_uri) as conn:
        assert set_interface_filters(conn, internet.domain, {internet.network.name: internet.filter}) == 1
        assert set_interface_filters(conn, internet.domain, {internet.network.name: internet.filter}) == 0

    # each desktop reaches its own gateway ...
    assert _ping(gov, gov.gateway) is True
    assert _ping(internet, internet.gateway) is True
    # ... neither reaches the other desktop ...
    assert _ping(gov, internet.address) is False
    assert _ping(internet, gov.address) is False
    # ... and neither reaches the other network's gateway (the hypervisor's address there), even when
    # the guest routes to it explicitly, as a user with admin rights on the desktop could
    assert _ping(internet, gov.gateway) is False
    _shell(gov, f"ip route add {internet.subnet} via {gov.gateway}")
    assert _ping(gov, internet.gateway) is False
    # an isolated network forwards nothing: beyond its subnet the gov guest reaches no host address,
    # such as the hypervisor's own address on its uplink
    uplink = _host_address()
    if uplink is not None:
        _shell(gov, f"ip route add default via {gov.gateway}")
        assert _ping(gov, uplink) is False, uplink
    assert _ping(gov, gov.gateway) is True  # the filters left the own networks alone
    assert _ping(internet, internet.gateway) is True


def _host_address() -> str | None:
    """An IPv4 address of this machine outside the test's networks (None when it has none)."""
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True, check=True
    ).stdout
    for match in re.finditer(r"^\d+: (\S+)\s+inet ([0-9.]+)/", out, re.MULTILINE):
        if not match.group(1).startswith(("virbr", "hc")):
            return match.group(2)
    return None
