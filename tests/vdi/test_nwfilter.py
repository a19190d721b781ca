"""Isolation filters: what they drop and admit (pure), and their operations on libvirt.

libvirt's ``test:///default`` driver has no network filters (checked, not assumed: the lifecycle test
runs on it if a later libvirt adds them, and is skipped otherwise); the lifecycle runs against the real
hypervisor, marked ``integration``. That the filters really stop traffic is proven with booted guests in
``test_isolation.py``.
"""

from __future__ import annotations

from collections.abc import Iterator

import libvirt
import pytest

from vdi.domain import define_domain, undefine_domain
from vdi.domain_plan import DiskSource, DomainRequest, KernelBoot, image_for, plan_domain
from vdi.exceptions import InvalidSpec, UnsupportedOperation, VdiError
from vdi.models import FilterRule, Interface, Network, NetworkIP
from vdi.nwfilter import (
    delete_nwfilter,
    ensure_nwfilter,
    get_nwfilter,
    isolation_filter,
    set_interface_filters,
)
from vdi.render import interface_xml, parse_domain

GOV = Network("gov", "isolated", ip=NetworkIP("10.231.1.1", 24, "10.231.1.10", "10.231.1.254"))
INTERNET = Network("internet", "nat", ip=NetworkIP("10.231.2.1", 24, "10.231.2.10", "10.231.2.254"))
OTHERS_OF_GOV = ["10.231.3.0/24", "10.231.2.0/24"]


def test_an_isolated_network_admits_only_its_own_subnet_after_dropping_the_other_networks() -> None:
    flt = isolation_filter("gov-isolation", GOV, OTHERS_OF_GOV)
    assert flt.rules == [
        FilterRule("drop", "out", 100, "10.231.2.0", 24),
        FilterRule("drop", "out", 100, "10.231.3.0", 24),
        FilterRule("accept", "out", 200, "10.231.1.0", 24),
        FilterRule("accept", "out", 200, "255.255.255.255", 32),  # DHCP discover
        FilterRule("accept", "out", 200, "224.0.0.0", 24),
        FilterRule("drop", "out", 900),  # the host's other addresses: an isolated network forwards nothing
    ]


def test_a_nat_network_drops_the_other_networks_and_lets_the_rest_be_forwarded() -> None:
    flt = isolation_filter("internet-isolation", INTERNET, ["10.231.1.0/24", "10.231.3.0/24"])
    assert [(r.action, r.dst_address, r.dst_prefix) for r in flt.rules] == [
        ("drop", "10.231.1.0", 24),
        ("drop", "10.231.3.0", 24),
    ]
    assert all(r.direction == "out" for r in flt.rules)


def test_a_bridge_network_without_a_subnet_only_drops_the_other_networks() -> None:
    lan = Network("gov-lan", "bridge", bridge="br-gov")
    flt = isolation_filter("gov-lan-isolation", lan, ["10.231.2.0/24"])
    assert flt.rules == [FilterRule("drop", "out", 100, "10.231.2.0", 24)]


def test_an_overlapping_or_malformed_subnet_is_refused_naming_the_filter() -> None:
    with pytest.raises(
        InvalidSpec,
        match=r"network filter gov-isolation: network gov \(10.231.1.0/24\) "
        r"overlaps 10.231.0.0/16",
    ):
        isolation_filter("gov-isolation", GOV, ["10.231.0.0/16"])
    with pytest.raises(InvalidSpec, match=r"'10.231.2/24' is not an IPv4 subnet .* Fix: give subnets as"):
        isolation_filter("gov-isolation", GOV, ["10.231.2/24"])


def test_an_interface_renders_and_parses_its_filter_reference() -> None:
    nic = Interface(source="gov", mac="52:54:00:12:34:56", filter="gov-isolation")
    xml = interface_xml(nic)
    assert '<filterref filter="gov-isolation" />' in xml
    dom = parse_domain(f"<domain><name>d</name><devices>{xml}</devices></domain>")
    assert dom.interfaces == [nic]
    assert "filterref" not in interface_xml(Interface(source="gov"))


# -- operations on libvirt ----------------------------------------------------------------------------


def _supports_nwfilter(conn: libvirt.virConnect) -> bool:
    try:
        conn.listAllNWFilters()
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:
            return False
        raise
    return True


def test_a_driver_without_nwfilter_is_a_clear_error(test_conn: libvirt.virConnect) -> None:
    if _supports_nwfilter(test_conn):
        pytest.skip("this libvirt's test driver has network filters: the lifecycle test covers it")
    with pytest.raises(UnsupportedOperation, match="install libvirt-daemon-driver-nwfilter"):
        ensure_nwfilter(test_conn, isolation_filter("hc-t-gov-isolation", GOV, OTHERS_OF_GOV))


def _lifecycle(conn: libvirt.virConnect, prefix: str) -> None:
    name = f"{prefix}-gov-isolation"
    want = isolation_filter(name, GOV, OTHERS_OF_GOV)
    try:
        assert ensure_nwfilter(conn, want) == "created"
        assert ensure_nwfilter(conn, want) == "unchanged"
        have = get_nwfilter(conn, name)
        assert have is not None and have.rules == want.rules and have.uuid
        # the hall gained a network: the same filter (same UUID) gets the new rules
        wider = isolation_filter(name, GOV, [*OTHERS_OF_GOV, "10.231.4.0/24"])
        assert ensure_nwfilter(conn, wider) == "updated"
        again = get_nwfilter(conn, name)
        assert again is not None and again.rules == wider.rules and again.uuid == have.uuid
    finally:
        assert delete_nwfilter(conn, name) is True
    assert delete_nwfilter(conn, name) is False
    assert get_nwfilter(conn, name) is None


def test_filter_lifecycle_on_the_test_driver(test_conn: libvirt.virConnect, prefix: str) -> None:
    if not _supports_nwfilter(test_conn):
        pytest.skip("libvirt's test:///default driver has no network filters (the real one is tested)")
    _lifecycle(test_conn, prefix)


@pytest.fixture
def live_filter_conn(live_conn: libvirt.virConnect) -> Iterator[libvirt.virConnect]:
    if not _supports_nwfilter(live_conn):
        pytest.fail("the hypervisor has no nwfilter driver: run `make setup` (setup.d/05-libvirt-drivers.sh)")
    yield live_conn


@pytest.mark.integration
def test_filter_lifecycle_on_the_hypervisor(live_filter_conn: libvirt.virConnect, prefix: str) -> None:
    _lifecycle(live_filter_conn, prefix)


@pytest.mark.integration
def test_filters_are_attached_to_a_defined_desktops_nics(
    live_filter_conn: libvirt.virConnect, prefix: str
) -> None:
    """A desktop defined before it had filters gets them on its NICs, by network; others stay as they are."""
    conn = live_filter_conn
    gov_filter = isolation_filter(f"{prefix}-gov-isolation", GOV, OTHERS_OF_GOV)
    name = f"{prefix}-desk"
    request = DomainRequest(
        name=name,
        disks=[DiskSource(path=f"/var/lib/libvirt/images/{name}.qcow2")],
        networks=[f"{prefix}-gov", f"{prefix}-mgmt"],  # define does not need the networks to exist
        kernel_boot=KernelBoot("/boot/vmlinuz", "/boot/initrd", "console=ttyS0"),
    )
    ensure_nwfilter(conn, gov_filter)
    try:
        define_domain(conn, plan_domain(image_for("hallcloud-test-x86_64"), request))
        assert set_interface_filters(conn, name, {f"{prefix}-gov": gov_filter.name}) == 1
        assert set_interface_filters(conn, name, {f"{prefix}-gov": gov_filter.name}) == 0
        nics = parse_domain(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).interfaces
        assert [(n.source, n.filter) for n in nics] == [
            (f"{prefix}-gov", gov_filter.name),
            (f"{prefix}-mgmt", None),
        ]
        assert set_interface_filters(conn, name, {f"{prefix}-gov": None}) == 1
        nics = parse_domain(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)).interfaces
        assert [n.filter for n in nics] == [None, None]
        with pytest.raises(VdiError, match=r"domain hc-t-nothing"):
            set_interface_filters(conn, "hc-t-nothing", {f"{prefix}-gov": gov_filter.name})
    finally:
        undefine_domain(conn, name)
        delete_nwfilter(conn, gov_filter.name)
