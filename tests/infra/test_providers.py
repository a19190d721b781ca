"""The dynamic providers called directly: check/diff logic, and CRUD + read (refresh) against libvirt's
in-process ``test:///default`` driver. Hosts are keys resolved from provider configuration."""

from __future__ import annotations

import json
import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import libvirt
import pytest
from pulumi.dynamic import ConfigureRequest
from pulumi.dynamic.config import Config

from infra.providers import DomainProvider, NetworkProvider, StoragePoolProvider, VolumeProvider
from infra.providers.base import UNKNOWN, HallProvider, HostNotConfigured
from infra.providers.domain import _request
from vdi.conn import connection
from vdi.domain import define_domain
from vdi.domain_plan import image_for, plan_domain
from vdi.models import Volume
from vdi.storage import ensure_volume, get_pool

URI = "test:///default"


def configured(provider: HallProvider, hosts: dict[str, Any] | None = None) -> HallProvider:
    provider.configure(
        ConfigureRequest(Config({"hall:hosts": hosts or {"local": {"uri": URI}}}, project_name="hallcloud"))
    )
    return provider


@pytest.fixture
def prefix() -> str:
    return f"hc-p-{secrets.token_hex(3)}"


@pytest.fixture(autouse=True)
def test_driver(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Hold one connection open: test:///default keeps its objects only while a connection is open,
    and the providers open and close their own in every method."""
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI_LOCAL", raising=False)
    with connection(URI):
        yield


def test_hosts_come_from_provider_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = configured(NetworkProvider(), {"local": {"uri": "qemu+ssh://hv1/system"}})
    assert provider.uri("local") == "qemu+ssh://hv1/system"
    with pytest.raises(HostNotConfigured, match=r"host 'rack-2' .* Fix: add hall:hosts.rack-2.uri"):
        provider.uri("rack-2")
    # structured config reaches the provider as JSON text from the engine
    provider.configure(ConfigureRequest(Config({"hall:hosts": '{"local": {"uri": "test:///default"}}'}, "x")))
    assert provider.uri("local") == URI
    monkeypatch.setenv("HALLCLOUD_LIBVIRT_URI", "qemu:///system?socket=/tmp/sock")
    assert provider.uri("anything") == "qemu:///system?socket=/tmp/sock"


def test_check_tolerates_unknowns_and_reports_missing_inputs() -> None:
    provider = configured(DomainProvider())
    news = {
        "host": "local",
        "name": "d",
        "image": UNKNOWN,
        "pool": UNKNOWN,
        "disk": UNKNOWN,
        "networks": UNKNOWN,
        "memory_mib": 128,
        "vcpus": 1,
    }
    assert provider.check({}, news).failures == []
    failures = provider.check({}, {**news, "name": "", "image": "uos-21", "networks": ["a", "a"]}).failures
    reasons = {f.property: f.reason for f in failures}
    assert reasons["name"] == "domain: 'name' is required"
    assert "uos-21" in reasons["image"] and "not in the catalog" in reasons["image"]
    assert "listed twice" in reasons["networks"]
    net = configured(NetworkProvider())
    bad = net.check({}, {"host": "local", "name": "n", "forward": "bridged"}).failures
    assert [f.property for f in bad] == ["forward"]


def test_diff_names_the_fields_that_force_replacement() -> None:
    provider = configured(DomainProvider())
    olds = {
        "host": "local",
        "name": "d",
        "image": "hallcloud-test-x86_64",
        "pool": "p",
        "disk": "d.qcow2",
        "networks": ["n-gov"],
        "memory_mib": 128,
        "vcpus": 1,
        "running": True,
    }
    same = provider.diff("local/d", olds, dict(olds))
    assert same.changes is False and same.replaces == []
    image = provider.diff("local/d", olds, {**olds, "image": "hallcloud-test-aarch64", "disk": UNKNOWN})
    assert image.changes is True and image.replaces == ["image", "disk"] and image.delete_before_replace
    started = provider.diff("local/d", {**olds, "running": False}, olds)
    assert started.changes is True and started.replaces == []  # a stopped desktop is started in place


def test_network_and_pool_lifecycle_with_refresh(prefix: str) -> None:
    nets, pools = configured(NetworkProvider()), configured(StoragePoolProvider())
    props = {
        "host": "local",
        "name": f"{prefix}-gov",
        "forward": "isolated",
        "bridge": None,
        "gateway": "10.231.77.1",
        "prefix": 24,
        "dhcp_start": "10.231.77.10",
        "dhcp_end": "10.231.77.254",
        "active": True,
    }
    created = nets.create(props)
    assert created.id == f"local/{prefix}-gov"
    try:
        read = nets.read(created.id, created.outs)
        assert read.id == created.id and read.outs["active"] is True and read.outs["gateway"] == "10.231.77.1"
        with connection(URI) as conn:
            conn.networkLookupByName(f"{prefix}-gov").destroy()  # stopped behind Pulumi's back
        stopped = nets.read(created.id, created.outs)
        assert stopped.outs["active"] is False
        assert nets.diff(created.id, stopped.outs, props).changes is True
        assert nets.update(created.id, stopped.outs, props).outs["active"] is True
    finally:
        nets.delete(created.id, created.outs)
    assert nets.read(created.id, created.outs).id is None  # gone: refresh drops it

    pool_props = {
        "host": "local",
        "name": f"{prefix}-pool",
        "type": "dir",
        "path": f"/{prefix}-pool",
        "active": True,
    }
    pool = pools.create(pool_props)
    assert pools.read(pool.id, pool.outs).outs["active"] is True
    pools.delete(pool.id, pool.outs)
    assert pools.read(pool.id, pool.outs).id is None


@pytest.fixture
def pool_with_golden(prefix: str) -> Iterator[tuple[str, str]]:
    pools = configured(StoragePoolProvider())
    pool_props = {
        "host": "local",
        "name": f"{prefix}-pool",
        "type": "dir",
        "path": f"/{prefix}-pool",
        "active": True,
    }
    pool = pools.create(pool_props)
    with connection(URI) as conn:
        ensure_volume(get_pool(conn, f"{prefix}-pool"), Volume(name="golden.qcow2", capacity_bytes=1 << 30))
    try:
        yield f"{prefix}-pool", "golden.qcow2"
    finally:
        pools.delete(pool.id, pool.outs)


def test_clone_and_domain_lifecycle_with_refresh(prefix: str, pool_with_golden: tuple[str, str]) -> None:
    pool, golden = pool_with_golden
    volumes, domains = configured(VolumeProvider()), configured(DomainProvider())
    disk = volumes.create({"host": "local", "pool": pool, "name": f"{prefix}-d.qcow2", "golden": golden})
    assert disk.outs["path"].endswith(f"{prefix}-d.qcow2")
    props = {
        "host": "local",
        "name": f"{prefix}-d",
        "image": "hallcloud-test-x86_64",
        "pool": pool,
        "disk": f"{prefix}-d.qcow2",
        "networks": ["default"],
        "memory_mib": 128,
        "vcpus": 1,
        "kernel": "/boot/vmlinuz",
        "initrd": "/boot/initrd",
        "cmdline": "console=ttyS0",
        "loader": None,
        "running": True,
        "address_wait_seconds": 0,
    }
    dom = domains.create(props)
    try:
        assert dom.id == f"local/{prefix}-d"
        assert dom.outs["running"] is True and len(dom.outs["macs"]) == 1
        with connection(URI) as conn:
            conn.lookupByName(f"{prefix}-d").destroy()  # stopped behind Pulumi's back
        stopped = domains.read(dom.id, dom.outs)
        assert stopped.outs["running"] is False
        diff = domains.diff(dom.id, stopped.outs, props)
        assert diff.changes is True and diff.replaces == []
        assert domains.update(dom.id, stopped.outs, props).outs["running"] is True
        with connection(URI) as conn:
            conn.lookupByName(f"{prefix}-d").destroy()
            conn.lookupByName(f"{prefix}-d").undefine()  # deleted behind Pulumi's back
        assert domains.read(dom.id, dom.outs).id is None
    finally:
        domains.delete(dom.id, dom.outs)
        volumes.delete(disk.id, disk.outs)
    assert volumes.read(disk.id, disk.outs).id is None


def test_domain_console_password_is_in_no_output_and_a_second_define_is_unchanged(
    prefix: str, pool_with_golden: tuple[str, str]
) -> None:
    """Desktops get password auth on (so clerks can get console tickets) with a random password made in
    ``create``: it is in no input, output or refreshed state, and planning the desktop again (another
    random password) is still the same desktop."""
    pool, golden = pool_with_golden
    volumes, domains = configured(VolumeProvider()), configured(DomainProvider())
    disk = volumes.create({"host": "local", "pool": pool, "name": f"{prefix}-d.qcow2", "golden": golden})
    props = {
        "host": "local",
        "name": f"{prefix}-d",
        "image": "hallcloud-test-x86_64",
        "pool": pool,
        "disk": f"{prefix}-d.qcow2",
        "networks": ["default"],
        "memory_mib": 128,
        "vcpus": 1,
        "kernel": "/boot/vmlinuz",
        "initrd": "/boot/initrd",
        "cmdline": "console=ttyS0",
        "loader": None,
        "running": True,
        "address_wait_seconds": 0,
    }
    dom = domains.create(props)
    try:
        with connection(URI) as conn:
            secure = conn.lookupByName(f"{prefix}-d").XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
            graphics = ET.fromstring(secure).find("./devices/graphics[@type='vnc']")
            assert graphics is not None
            locked = graphics.get("passwd")
            assert locked, "the desktop must be defined with console password auth on"
            assert define_domain(conn, plan_domain(image_for(props["image"]), _request(props))) == "unchanged"
        refreshed = domains.read(dom.id, dom.outs)
        for state in (props, dom.outs, refreshed.outs):
            assert locked not in json.dumps(state)
        assert not any("passw" in key for key in {**dom.outs, **refreshed.outs})
        assert domains.diff(dom.id, refreshed.outs, props).changes is False
    finally:
        domains.delete(dom.id, dom.outs)
        volumes.delete(disk.id, disk.outs)
