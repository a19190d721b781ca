"""The Network provider's isolation filter on the real hypervisor: created with its network, noticed by
refresh when deleted or edited behind Pulumi's back, put back by the next update, redefined in place
when the hall's other subnets change, and deleted with its network (test:///default has no nwfilter
driver, so this runs against ``$HALLCLOUD_TEST_URI``, default ``qemu:///system``)."""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from infra.providers import NetworkProvider
from vdi.conn import connection
from vdi.nwfilter import get_nwfilter

pytestmark = pytest.mark.integration

URI = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")


def test_a_networks_isolation_filter_lives_and_dies_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI_LOCAL", raising=False)
    provider = NetworkProvider()
    provider.configure(ConfigureRequest(Config({"hall:hosts": {"local": {"uri": URI}}}, project_name="hc")))
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
