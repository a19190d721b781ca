"""A seat desktop built by the Domain provider (the way ``pulumi up`` builds them) takes console tickets.

The desktop is planned the normal way (:func:`vdi.domain_plan.plan_domain` inside the provider's ``create``),
on the real hypervisor, from the x86_64 test image staged into a fresh pool and a linked clone made by
the Volume provider. A one-time VNC password from :func:`vdi.console_tickets.issue_ticket` must log a real RFB
client (vncdotool) in, and a wrong one must not. Everything is named ``hc-g-<hex>`` and removed.
"""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from infra.providers import DomainProvider, VolumeProvider
from infra.providers.domain import _request
from tests.guests import hypervisor_uri
from tests.vdi.test_console_tickets import vnc_login
from vdi.conn import connect
from vdi.console_tickets import issue_ticket
from vdi.domain import define_domain, undefine_domain
from vdi.domain_plan import image_for, plan_domain
from vdi.models import Network, Pool
from vdi.network import delete_network, ensure_network
from vdi.storage import default_pool_path, delete_pool, ensure_pool
from vdi.testguest import StagedImage, build_test_image, stage_test_image

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[str, str, StagedImage]]:
    """The hypervisor URI, a run prefix, and the x86_64 test image staged into a fresh pool."""
    uri = hypervisor_uri()
    run = f"hc-g-{secrets.token_hex(3)}"
    conn = connect(uri)
    pool = f"{run}-pool"
    try:
        ensure_pool(conn, Pool(name=pool, target_path=default_pool_path(pool)))
        ensure_network(conn, Network(name=f"{run}-gov"))
        yield uri, run, stage_test_image(conn, pool, build_test_image("x86_64"))
    finally:
        delete_network(conn, f"{run}-gov")
        delete_pool(conn, pool, delete_volumes=True)
        conn.close()


def _configured(provider: Any, uri: str) -> Any:
    provider.configure(
        ConfigureRequest(Config({"hall:hosts": {"local": {"uri": uri}}}, project_name="hallcloud"))
    )
    return provider


def test_a_provider_built_desktop_accepts_tickets_and_a_real_vnc_login(
    live: tuple[str, str, StagedImage], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, run, staged = live
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI_LOCAL", raising=False)
    volumes, domains = _configured(VolumeProvider(), uri), _configured(DomainProvider(), uri)
    name = f"{run}-w001-gov"
    disk = volumes.create(
        {"host": "local", "pool": staged.pool, "name": f"{name}.qcow2", "golden": staged.golden_volume}
    )
    props = {
        "host": "local",
        "name": name,
        "image": "hallcloud-test-x86_64",
        "pool": staged.pool,
        "disk": f"{name}.qcow2",
        "networks": [f"{run}-gov"],
        "memory_mib": 128,
        "vcpus": 1,
        "kernel": staged.kernel,
        "initrd": staged.initrd,
        "cmdline": staged.cmdline,
        "loader": None,
        "running": True,
        "address_wait_seconds": 0,
    }
    conn = connect(uri)
    try:
        dom = domains.create(props)
        assert dom.outs["running"] is True
        secure = ET.fromstring(conn.lookupByName(name).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE))
        vnc = secure.find("./devices/graphics[@type='vnc']")
        assert vnc is not None and vnc.get("passwd"), "the desktop must be defined with password auth on"
        locked = vnc.get("passwd", "")
        assert locked not in json.dumps(dom.outs)  # nor in the state Pulumi keeps

        ticket = issue_ticket(conn, name, ttl_s=60)
        assert vnc_login(ticket.port, "wrong123", tmp_path / "x.png", timeout=20).returncode != 0
        assert vnc_login(ticket.port, locked, tmp_path / "x.png", timeout=20).returncode != 0
        done = vnc_login(ticket.port, ticket.password, tmp_path / "ok.png", timeout=30)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "ok.png").stat().st_size > 0

        # the same desktop planned again (another random password) is the same desktop
        assert define_domain(conn, plan_domain(image_for(props["image"]), _request(props))) == "unchanged"
        refreshed = domains.read(dom.id, dom.outs)
        assert domains.diff(dom.id, refreshed.outs, props).changes is False
        assert ticket.password not in json.dumps(refreshed.outs)
    finally:
        undefine_domain(conn, name)
        volumes.delete(disk.id, disk.outs)
        conn.close()
