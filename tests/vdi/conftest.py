"""Fixtures for vdi tests: an in-process ``test:///default`` connection and a real hypervisor URI.

Integration tests use ``$HALLCLOUD_TEST_URI`` (default ``qemu:///system``). Every object a test
creates carries a unique ``hc-t-<hex>`` prefix, so tests never touch objects they did not create.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import libvirt
import pytest

from vdi.conn import connect


@pytest.fixture
def test_conn() -> Iterator[libvirt.virConnect]:
    conn = connect("test:///default")
    try:
        yield conn
    finally:
        conn.close()


@pytest.fixture
def prefix() -> str:
    return f"hc-t-{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def live_uri() -> str:
    """The real hypervisor for integration tests, checked once: reachable, with a storage driver."""
    uri = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")
    try:
        conn = connect(uri)
    except Exception as exc:
        pytest.fail(f"integration tests need libvirt at {uri}: {exc} (run `make setup`)")
    try:
        conn.listAllStoragePools()
    except libvirt.libvirtError as exc:
        pytest.fail(
            f"libvirt at {uri} has no storage driver ({exc.get_error_message()}); install "
            "libvirt-daemon-driver-storage and restart libvirtd (`make setup` does both)"
        )
    finally:
        conn.close()
    return uri


@pytest.fixture
def live_conn(live_uri: str) -> Iterator[libvirt.virConnect]:
    conn = connect(live_uri)
    try:
        yield conn
    finally:
        conn.close()


def leftovers(conn: libvirt.virConnect, prefix: str) -> dict[str, list[str]]:
    """Every domain, network, pool and volume whose name starts with ``prefix``."""
    volumes = []
    for pool in conn.listAllStoragePools():
        if pool.isActive():
            pool.refresh(0)
            volumes += [f"{pool.name()}/{v}" for v in pool.listVolumes() if v.startswith(prefix)]
    found = {
        "domains": [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)],
        "networks": [n.name() for n in conn.listAllNetworks() if n.name().startswith(prefix)],
        "pools": [p.name() for p in conn.listAllStoragePools() if p.name().startswith(prefix)],
        "volumes": volumes,
    }
    return {kind: names for kind, names in found.items() if names}
