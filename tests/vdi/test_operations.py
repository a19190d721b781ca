"""Idempotent operations on libvirt's in-process test driver (test:///default): fast, no daemon."""

from __future__ import annotations

import libvirt
import pytest

from images.catalog import get_image
from tests.vdi.conftest import leftovers
from vdi.conn import connect, libvirt_errors
from vdi.domain import define_domain, start_domain, stop_domain, undefine_domain
from vdi.domain_plan import DiskSource, DomainRequest, plan_domain
from vdi.exceptions import Conflict, ConnectionFailed, InvalidSpec, NotFound, VdiError
from vdi.models import Network, NetworkIP, Pool, PoolAuth, PoolHost, PoolSource, Volume
from vdi.network import delete_network, ensure_network, get_network
from vdi.storage import (
    delete_pool,
    delete_volume,
    ensure_pool,
    ensure_volume,
    full_copy,
    get_pool,
    get_volume,
    linked_clone,
    volume_names,
)

# -- networks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "net",
    [
        Network(name="iso"),
        Network(
            name="nat", forward="nat", ip=NetworkIP("192.168.201.1", 24, "192.168.201.10", "192.168.201.20")
        ),
        Network(name="br", forward="bridge", bridge="br-hall"),
    ],
    ids=["isolated", "nat", "bridge"],
)
def test_ensure_network_creates_then_accepts_the_same_definition(test_conn, prefix, net: Network) -> None:
    net.name = f"{prefix}-{net.name}"
    assert ensure_network(test_conn, net) == "created"
    assert test_conn.networkLookupByName(net.name).isActive()
    assert ensure_network(test_conn, net) == "unchanged"
    got = get_network(test_conn, net.name)
    assert got is not None and got.forward == net.forward
    assert delete_network(test_conn, net.name) is True
    assert delete_network(test_conn, net.name) is False
    assert leftovers(test_conn, prefix) == {}


def test_ensure_network_refuses_a_different_definition_and_keeps_the_existing_one(test_conn, prefix) -> None:
    name = f"{prefix}-gov"
    ensure_network(test_conn, Network(name=name, forward="nat", ip=NetworkIP("192.168.202.1", 24)))
    wanted = rf"^network {name}: exists with a different definition \(forward: nat, wanted isolated.*Fix: "
    with pytest.raises(Conflict, match=wanted):
        ensure_network(test_conn, Network(name=name, forward="isolated"))
    assert get_network(test_conn, name).forward == "nat"  # type: ignore[union-attr]
    delete_network(test_conn, name)


# -- pools and volumes ----------------------------------------------------------------------------------


def test_pool_and_volume_lifecycle(test_conn, prefix) -> None:
    pool_name = f"{prefix}-pool"
    spec = Pool(name=pool_name, target_path=f"/var/lib/libvirt/images/{pool_name}")
    assert ensure_pool(test_conn, spec) == "created"
    assert ensure_pool(test_conn, spec) == "unchanged"
    pool = get_pool(test_conn, pool_name)
    golden = Volume(name=f"{prefix}-golden.qcow2", capacity_bytes=1024**3)
    assert ensure_volume(pool, golden) == "created"
    assert ensure_volume(pool, golden) == "unchanged"
    with pytest.raises(Conflict, match=r"capacity_bytes: 1073741824, wanted 2147483648"):
        ensure_volume(pool, Volume(name=golden.name, capacity_bytes=2 * 1024**3))

    assert linked_clone(pool, golden.name, f"{prefix}-desk1.qcow2") == "created"
    assert linked_clone(pool, golden.name, f"{prefix}-desk1.qcow2") == "unchanged"
    clone = get_volume(pool, f"{prefix}-desk1.qcow2")
    assert clone.backing is not None and clone.backing.path == get_volume(pool, golden.name).path
    assert full_copy(pool, golden.name, f"{prefix}-desk2.qcow2") == "created"
    assert get_volume(pool, f"{prefix}-desk2.qcow2").backing is None
    assert volume_names(pool) == sorted([golden.name, f"{prefix}-desk1.qcow2", f"{prefix}-desk2.qcow2"])

    assert delete_volume(pool, f"{prefix}-desk2.qcow2") is True
    assert delete_volume(pool, f"{prefix}-desk2.qcow2") is False
    assert delete_pool(test_conn, pool_name, delete_volumes=True) is True
    assert delete_pool(test_conn, pool_name) is False
    assert leftovers(test_conn, prefix) == {}


def test_ensure_pool_refuses_a_different_path(test_conn, prefix) -> None:
    name = f"{prefix}-pool"
    ensure_pool(test_conn, Pool(name=name, target_path="/srv/a"))
    with pytest.raises(Conflict, match=rf"^pool {name}: .*target_path: /srv/a, wanted /srv/b"):
        ensure_pool(test_conn, Pool(name=name, target_path="/srv/b"))
    delete_pool(test_conn, name)


def test_netfs_pool_is_defined_without_mounting(test_conn, prefix) -> None:
    pool = Pool(
        name=f"{prefix}-nfs",
        type="netfs",
        target_path="/mnt/hall-nfs",
        source=PoolSource(hosts=[PoolHost("nas.hall.local")], dir="/export/vdi", format="nfs"),
    )
    assert ensure_pool(test_conn, pool, start=False) == "created"
    assert ensure_pool(test_conn, pool, start=False) == "unchanged"
    delete_pool(test_conn, pool.name)
    assert leftovers(test_conn, prefix) == {}


def test_rbd_pool_is_defined_and_compared_without_connecting_to_ceph(test_conn, prefix) -> None:
    pool = Pool(
        name=f"{prefix}-ceph",
        type="rbd",
        source=PoolSource(
            hosts=[PoolHost("ceph-mon1.hall.local", 6789)],
            name="vdi",
            auth=PoolAuth(username="libvirt", secret_uuid="2a5b3c4d-1e2f-4a5b-9c8d-7e6f5a4b3c2d"),
        ),
    )
    assert ensure_pool(test_conn, pool, start=False) == "created"
    assert ensure_pool(test_conn, pool, start=False) == "unchanged"
    moved = Pool(
        name=pool.name,
        type="rbd",
        source=PoolSource(hosts=[PoolHost("ceph-mon9.hall.local", 6789)], name="vdi", auth=pool.source.auth),
    )  # type: ignore[union-attr]
    with pytest.raises(Conflict, match=r"source\.hosts\[0\]\.name: ceph-mon1\.hall\.local, wanted ceph-mon9"):
        ensure_pool(test_conn, moved, start=False)
    delete_pool(test_conn, pool.name)
    assert leftovers(test_conn, prefix) == {}


def test_missing_golden_volume_is_a_clear_not_found(test_conn, prefix) -> None:
    ensure_pool(test_conn, Pool(name=f"{prefix}-p", target_path="/srv/p"))
    pool = get_pool(test_conn, f"{prefix}-p")
    with pytest.raises(NotFound, match=rf"^volume {prefix}-p/nope.qcow2: does not exist"):
        linked_clone(pool, "nope.qcow2", "x.qcow2")
    delete_pool(test_conn, f"{prefix}-p", delete_volumes=True)
    with pytest.raises(NotFound, match=r"^pool nope: does not exist"):
        get_pool(test_conn, "nope")


# -- domains ---------------------------------------------------------------------------------------------


def _domain(name: str, networks: list[str], memory: int | None = None):
    # test:///default knows only its own architectures; i686/x86_64 'pc' style machines
    manifest = get_image("hallcloud-test-x86_64")
    dom = plan_domain(
        manifest,
        DomainRequest(
            name=name,
            disks=[DiskSource(path="/dev/null", format="raw")],
            networks=networks,
            memory_mib=memory,
        ),
    )
    dom.os.machine = "pc"
    dom.cpu = None
    dom.type = "test"
    dom.inputs = []
    dom.controllers = []
    dom.video = None
    return dom


def test_domain_define_start_stop_undefine_are_idempotent(test_conn, prefix) -> None:
    ensure_network(test_conn, Network(name=f"{prefix}-a"))
    dom = _domain(f"{prefix}-desk", [f"{prefix}-a"])
    assert define_domain(test_conn, dom) == "created"
    assert define_domain(test_conn, dom) == "unchanged"
    assert start_domain(test_conn, dom.name) is True
    assert start_domain(test_conn, dom.name) is False
    assert test_conn.lookupByName(dom.name).isActive()
    assert stop_domain(test_conn, dom.name) is True
    assert stop_domain(test_conn, dom.name) is False
    assert undefine_domain(test_conn, dom.name) is True
    assert undefine_domain(test_conn, dom.name) is False
    delete_network(test_conn, f"{prefix}-a")
    assert leftovers(test_conn, prefix) == {}


def test_define_refuses_a_domain_of_the_same_name_with_another_definition(test_conn, prefix) -> None:
    dom = _domain(f"{prefix}-desk", [], memory=256)
    define_domain(test_conn, dom)
    other = _domain(f"{prefix}-desk", [], memory=512)
    with pytest.raises(
        Conflict,
        match=rf"^domain {prefix}-desk: exists with a different definition "
        r"\(memory_mib: 256, wanted 512\)",
    ):
        define_domain(test_conn, other)
    assert test_conn.lookupByName(dom.name).maxMemory() == 256 * 1024
    undefine_domain(test_conn, dom.name)


def test_planned_desktops_have_console_password_auth_on_and_redefine_unchanged(test_conn, prefix) -> None:
    first, again = _domain(f"{prefix}-desk", []), _domain(f"{prefix}-desk", [])
    locked = first.graphics[0].passwd
    assert locked and again.graphics[0].passwd and locked != again.graphics[0].passwd  # random each time
    assert locked not in repr(first)
    assert define_domain(test_conn, first) == "created"
    secure = test_conn.lookupByName(first.name).XMLDesc(libvirt.VIR_DOMAIN_XML_SECURE)
    assert f"passwd='{locked}'" in secure
    assert locked not in test_conn.lookupByName(first.name).XMLDesc(0)
    assert define_domain(test_conn, again) == "unchanged"  # another random password: the same desktop
    undefine_domain(test_conn, first.name)


def test_define_refuses_a_desktop_defined_without_console_password_auth(test_conn, prefix) -> None:
    unlocked = _domain(f"{prefix}-desk", [])
    unlocked.graphics[0].passwd = None
    define_domain(test_conn, unlocked)
    wanted = _domain(f"{prefix}-desk", [])
    shown = r"graphics\[0\]\.passwd: none, wanted one \(the value is not shown\)"
    with pytest.raises(Conflict, match=shown) as exc:
        define_domain(test_conn, wanted)
    assert str(wanted.graphics[0].passwd) not in str(exc.value)
    undefine_domain(test_conn, unlocked.name)


def test_starting_a_missing_domain_is_not_found(test_conn) -> None:
    with pytest.raises(NotFound, match=r"^domain hc-t-none: does not exist"):
        start_domain(test_conn, "hc-t-none")


def test_libvirt_errors_are_converted_at_the_boundary(test_conn, prefix) -> None:
    with (
        pytest.raises(InvalidSpec, match=rf"(?s)^network {prefix}: cannot define the network: .*Fix: "),
        libvirt_errors(f"network {prefix}", "define the network"),
    ):
        test_conn.networkDefineXML("<network><name>")
    with (
        pytest.raises(NotFound, match=rf"^network {prefix}-x: cannot look it up: .*Fix: "),
        libvirt_errors(f"network {prefix}-x", "look it up"),
    ):
        test_conn.networkLookupByName(f"{prefix}-x")
    with pytest.raises(ConnectionFailed, match=r"^hypervisor qemu\+tcp://127.0.0.9:1/system: cannot connect"):
        connect("qemu+tcp://127.0.0.9:1/system")
    assert issubclass(InvalidSpec, VdiError) and issubclass(NotFound, VdiError)


def test_the_cgroup_failure_of_a_fresh_host_names_its_fix() -> None:
    import libvirt as lv

    from vdi.conn import convert

    err = lv.libvirtError("x")
    err.err = (
        lv.VIR_ERR_SYSTEM_ERROR,
        0,
        "Unable to write to '/sys/fs/cgroup/cpuset/machine/qemu-4-demo-files.libvirt-qemu/emulator/tasks': "
        "No space left on device",
        0,
        "",
        None,
        None,
        0,
        0,
    )
    converted = convert(err, "domain demo-files", "start the domain")
    assert "No space left on device" in str(converted) and "run `make setup` on the host" in str(converted)
