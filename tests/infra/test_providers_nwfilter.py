"""Isolation filters through the providers, on the real hypervisor (test:///default has no nwfilter
driver, so this runs against ``$HALLCLOUD_TEST_URI``, default ``qemu:///system``).

The Network provider's filter is created with its network, noticed by refresh when deleted behind
Pulumi's back, put back by the next update, redefined in place when the hall's other subnets change,
and deleted with its network. The Domain provider attaches filters to a desktop that was defined
before it had them (a stack deployed before filters existed) in place, without replacing it.
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from infra.providers import DomainProvider, NetworkProvider
from infra.providers.base import HallProvider
from vdi.conn import connection
from vdi.models import NetworkFilter, Pool, Volume
from vdi.nwfilter import delete_nwfilter, ensure_nwfilter, get_nwfilter
from vdi.render import parse_domain
from vdi.storage import default_pool_path, delete_pool, ensure_pool, ensure_volume, get_pool

pytestmark = pytest.mark.integration

URI = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")


@pytest.fixture(autouse=True)
def no_uri_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI_LOCAL", raising=False)


def configured(provider: HallProvider) -> HallProvider:
    provider.configure(ConfigureRequest(Config({"hall:hosts": {"local": {"uri": URI}}}, project_name="hc")))
    return provider


def test_a_networks_isolation_filter_lives_and_dies_with_it() -> None:
    provider = configured(NetworkProvider())
    prefix = f"hc-p-{secrets.token_hex(3)}"
    octet = 150 + secrets.randbelow(40)
    flt = f"{prefix}-gov-isolation"
    props: dict[str, Any] = {
        "host": "local",
        "name": f"{prefix}-gov",
        "forward": "isolated",
        "bridge": None,
        "gateway": f"10.{octet}.31.1",
        "prefix": 24,
        "dhcp_start": f"10.{octet}.31.10",
        "dhcp_end": f"10.{octet}.31.254",
        "filter": flt,
        "isolated_from": [f"10.{octet}.32.0/24"],
        "active": True,
    }
    assert provider.check({}, props).failures == []
    overlapping = {**props, "isolated_from": [f"10.{octet}.0.0/16"]}
    assert [f.property for f in provider.check({}, overlapping).failures] == ["isolated_from"]

    created = provider.create(props)
    try:
        with connection(URI) as conn:
            have = get_nwfilter(conn, flt)
            assert have is not None and [r.dst_address for r in have.rules][:1] == [f"10.{octet}.32.0"]
            assert provider.read(created.id, created.outs).outs["filter"] == flt
            conn.nwfilterLookupByName(flt).undefine()  # deleted behind Pulumi's back
        missing = provider.read(created.id, created.outs)
        assert missing.outs["filter"] is None
        diff = provider.diff(created.id, missing.outs, props)
        assert diff.changes is True and diff.replaces == []  # put back in place, the network stays
        provider.update(created.id, missing.outs, props)
        assert provider.read(created.id, created.outs).outs["filter"] == flt

        # the hall gained a network: the filter is redefined, the network is not replaced
        wider = {**props, "isolated_from": [f"10.{octet}.32.0/24", f"10.{octet}.33.0/24"]}
        diff = provider.diff(created.id, created.outs, wider)
        assert diff.changes is True and diff.replaces == []
        provider.update(created.id, created.outs, wider)
        with connection(URI) as conn:
            have = get_nwfilter(conn, flt)
            assert have is not None and len([r for r in have.rules if r.action == "drop"]) == 3
    finally:
        provider.delete(created.id, created.outs)
    with connection(URI) as conn:
        assert get_nwfilter(conn, flt) is None
    assert provider.read(created.id, created.outs).id is None


def test_a_desktop_defined_without_filters_gets_them_in_place() -> None:
    prefix = f"hc-p-{secrets.token_hex(3)}"
    domains = configured(DomainProvider())
    flt = f"{prefix}-gov-isolation"
    props: dict[str, Any] = {
        "host": "local",
        "name": f"{prefix}-d",
        "image": "hallcloud-test-x86_64",
        "pool": prefix,
        "disk": "d.qcow2",
        "networks": [f"{prefix}-gov"],  # defining (not starting) needs no network
        "memory_mib": 128,
        "vcpus": 1,
        "kernel": "/boot/vmlinuz",
        "initrd": "/boot/initrd",
        "cmdline": "console=ttyS0",
        "loader": None,
        "running": False,
        "address_wait_seconds": 0,
    }
    with connection(URI) as conn:
        ensure_pool(conn, Pool(name=prefix, target_path=default_pool_path(prefix)))
        ensure_volume(get_pool(conn, prefix), Volume(name="d.qcow2", capacity_bytes=1 << 26))
        ensure_nwfilter(conn, NetworkFilter(name=flt))
        dom = None
        try:
            dom = domains.create({**props, "filters": None})  # as deployed before filters existed
            assert dom.outs["filters"] is None
            news = {**props, "filters": [flt]}
            diff = domains.diff(dom.id, dom.outs, news)
            assert diff.changes is True and diff.replaces == []  # not replaced: its disk stays
            updated = domains.update(dom.id, dom.outs, news)
            assert updated.outs["filters"] == [flt]
            nics = parse_domain(conn.lookupByName(f"{prefix}-d").XMLDesc(0)).interfaces
            assert [n.filter for n in nics] == [flt]
            read = domains.read(dom.id, updated.outs)
            assert domains.diff(dom.id, read.outs, news).changes is False
        finally:
            if dom is not None:
                domains.delete(dom.id, dom.outs)
            delete_nwfilter(conn, flt)
            delete_pool(conn, prefix, delete_volumes=True)
