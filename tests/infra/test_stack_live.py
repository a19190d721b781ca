"""The hall stack on the real Pulumi engine and real libvirt (tiny test images under TCG).

One small stack (2 windows, prefix ``hc-p-<hex>``, private subnets derived from a random byte) goes
through: preview (nothing created), up, an idempotent up, seat isolation proven through the serial
consoles (own gateway yes; the other desktop and the other network's gateway no), a changed window
image replacing only that seat, refresh noticing a desktop stopped and one undefined behind Pulumi's
back, adding and removing a window through ``infra.automation``, and destroy leaving nothing. The
host's URI is in the stack config (``hall:hosts.local.uri``), which is where the providers read it
from. ``$HALLCLOUD_TEST_URI`` selects the hypervisor (default ``qemu:///system``).

The tests of this module run in order on one stack.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt
import pytest

from infra import guests
from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.spec import HallSpec, load_spec
from infra.testing.halls import small_hall_config
from infra.windows import add_window, remove_window
from vdi.conn import connect, connection
from vdi.render import parse_domain
from vdi.serial_console import SerialConsole

pytestmark = [pytest.mark.integration, pytest.mark.slow]

URI = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")
X86 = "hallcloud-test-x86_64"
ARM = "hallcloud-test-aarch64"


def window(number: int, image: str = X86, memory: int = 192) -> dict[str, Any]:
    return {
        "number": number,
        "name": f"test window {number}",
        "seat": {
            "gov": {"image": image, "memory_mib": memory},
            "internet": {"image": image, "memory_mib": memory},
        },
        "snapshot_policy": "hourly",
    }


def hall_config(prefix: str, octet: int, windows: list[dict[str, Any]]) -> dict[str, Any]:
    return small_hall_config(
        name="test hall",
        prefix=prefix,
        uri=URI,
        octet=octet,
        image=X86,
        windows=windows,
        snapshot_policies={"hourly": {"snapshot_schedule": "0 * * * *", "backup_pool": "backup"}},
    )


def changes(result: Any) -> dict[str, int]:
    return dict(result.changes)


class Live:
    def __init__(self, hall: HallStack, spec: HallSpec) -> None:
        self.hall = hall
        self.spec = spec
        self.prefix = spec.prefix

    def uuid(self, name: str) -> str:
        with connection(URI) as conn:
            return str(conn.lookupByName(name).UUIDString())

    def domains(self) -> list[str]:
        with connection(URI) as conn:
            return sorted(d.name() for d in conn.listAllDomains() if d.name().startswith(f"{self.prefix}-"))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    try:
        conn = connect(URI)
        conn.listAllStoragePools()
        conn.close()
    except Exception as exc:
        pytest.fail(f"the stack tests need libvirt with a storage driver at {URI}: {exc} (run `make setup`)")
    prefix = f"hc-p-{secrets.token_hex(3)}"
    octet = 200 + secrets.randbelow(50)
    raw = hall_config(prefix, octet, [window(1), window(2)])
    work = tmp_path_factory.mktemp("hall")
    hall = HallStack("live", work / "state", project_dir=scratch_project(work / "project"))
    spec = hall.write_config(raw)
    yield Live(hall, spec)
    # whatever happened, leave nothing behind
    try:
        hall.destroy()
    finally:
        left = leftovers(spec)
        assert not left, f"left behind: {left}"


def test_preview_then_up_then_an_up_that_changes_nothing(live: Live) -> None:
    preview = live.hall.preview()
    assert changes(preview) == {"create": 21}
    assert not leftovers(live.spec)  # a preview touches nothing

    up = live.hall.up()
    assert changes(up) == {"create": 21}
    assert live.domains() == [f"{live.prefix}-w00{n}-{side}" for n in (1, 2) for side in ("gov", "internet")]
    seat = up.outputs["seats"]["001"]
    assert seat["gov"]["running"] is True and seat["gov"]["console"]["vnc"].startswith("127.0.0.1:")
    assert seat["gov"]["networks"] == ["gov"] and seat["internet"]["networks"] == ["internet"]
    assert seat["snapshot_policy"]["backup_pool"] == f"{live.prefix}-backup"

    again = live.hall.up()
    assert changes(again) == {"same": 21}
    # a converged stack previews as unchanged (no output reported unknown forces a replacement)
    assert changes(live.hall.preview()) == {"same": 21}


def test_each_desktop_reaches_its_own_gateway_and_nothing_of_the_other_network(live: Live) -> None:
    octets = live.spec.networks["gov"].subnet
    assert octets is not None
    gov_gateway = str(next(octets.hosts()))
    internet_subnet = live.spec.networks["internet"].subnet
    assert internet_subnet is not None
    internet_gateway = str(next(internet_subnet.hosts()))
    gov, internet = f"{live.prefix}-w001-gov", f"{live.prefix}-w001-internet"
    with connection(URI) as conn:
        (gov_nic,) = guests.ensure_addresses(conn, gov)
        (internet_nic,) = guests.ensure_addresses(conn, internet)
        assert gov_nic.address is not None and internet_nic.address is not None, (gov_nic, internet_nic)
        assert gov_nic.address.startswith(gov_gateway.rsplit(".", 1)[0] + ".")
        assert internet_nic.address.startswith(internet_gateway.rsplit(".", 1)[0] + ".")
        # each desktop reaches its own network's gateway ...
        assert guests.ping(conn, gov, gov_gateway) is True
        assert guests.ping(conn, internet, internet_gateway) is True
        # ... and neither reaches the other desktop ...
        assert guests.ping(conn, gov, internet_nic.address) is False
        assert guests.ping(conn, internet, gov_nic.address) is False
        # ... nor the other network's gateway, the hypervisor's own address on that bridge (the host
        # answers on any of its addresses from any bridge; the networks' isolation filters stop it),
        # even when the desktop routes there itself, as a user with admin rights could
        assert guests.ping(conn, internet, gov_gateway) is False
        with SerialConsole(conn, gov) as console:
            console.command(f"ip route add {internet_subnet} via {gov_gateway}", "SH-EXIT 0", 30)
        assert guests.ping(conn, gov, internet_gateway) is False
        assert guests.ping(conn, gov, gov_gateway) is True
        for desktop, key in ((gov, "gov"), (internet, "internet")):
            nics = parse_domain(conn.lookupByName(desktop).XMLDesc(0)).interfaces
            assert [n.filter for n in nics] == [f"{live.prefix}-{key}-isolation"], desktop


def test_changing_one_windows_image_replaces_only_that_seat(live: Live) -> None:
    before = {name: live.uuid(name) for name in live.domains()}
    config = live.spec.to_config()
    config["hall:images"][ARM] = {"pools": ["desktops"]}
    config["hall:windows"][1] = window(2, image=ARM, memory=256)
    live.spec = live.hall.write_config(config)
    result = live.hall.up()
    # the new golden image is created; window 2's two disks and two desktops are replaced
    assert changes(result) == {"same": 17, "create": 1, "replace": 4}
    after = {name: live.uuid(name) for name in live.domains()}
    assert after[f"{live.prefix}-w001-gov"] == before[f"{live.prefix}-w001-gov"]
    assert after[f"{live.prefix}-w001-internet"] == before[f"{live.prefix}-w001-internet"]
    assert after[f"{live.prefix}-w002-gov"] != before[f"{live.prefix}-w002-gov"]
    assert result.outputs["seats"]["002"]["gov"]["image"] == ARM


def test_refresh_notices_desktops_stopped_or_undefined_behind_pulumis_back(live: Live) -> None:
    stopped, undefined = f"{live.prefix}-w001-gov", f"{live.prefix}-w001-internet"
    with connection(URI) as conn:
        conn.lookupByName(stopped).destroy()
    virsh = ["virsh", "-c", URI]
    subprocess.run([*virsh, "destroy", undefined], check=True, capture_output=True)
    subprocess.run([*virsh, "undefine", "--nvram", undefined], check=True, capture_output=True)

    refresh = live.hall.refresh()
    assert changes(refresh) == {"same": 20, "update": 1, "delete": 1}
    seat = live.hall.outputs()["seats"]["001"]
    assert seat["gov"]["running"] is True  # stack outputs are only rewritten by the next up

    up = live.hall.up()
    assert changes(up) == {"same": 20, "update": 1, "create": 1}
    with connection(URI) as conn:
        assert conn.lookupByName(stopped).isActive() and conn.lookupByName(undefined).isActive()


def test_add_and_remove_a_window_through_the_automation_api(live: Live) -> None:
    added = add_window(live.hall, window(3))
    assert added.changes == {"same": 22, "create": 5}
    assert added.seat is not None and added.seat["gov"]["domain"] == f"{live.prefix}-w003-gov"
    assert [w.number for w in live.hall.spec().windows] == [1, 2, 3]
    with connection(URI) as conn:
        assert conn.lookupByName(f"{live.prefix}-w003-internet").isActive()

    removed = remove_window(live.hall, 3)
    assert removed.changes == {"same": 22, "delete": 5}
    assert f"{live.prefix}-w003-gov" not in live.domains()


def test_destroy_leaves_nothing(live: Live) -> None:
    result = live.hall.destroy()
    assert changes(result) == {"delete": 22}
    assert leftovers(live.spec) == {}
    with connection(URI) as conn:
        with pytest.raises(libvirt.libvirtError):
            conn.networkLookupByName(f"{live.prefix}-gov")
        # the networks' isolation filters went with them
        assert not [f.name() for f in conn.listAllNWFilters() if f.name().startswith(f"{live.prefix}-")]


def test_spec_round_trip_of_the_live_config(live: Live) -> None:
    assert load_spec(live.hall.spec().to_config()) == live.hall.spec()
    assert Path(live.hall.config_file).exists()


def test_the_engine_refuses_an_invalid_hall_before_creating_anything(tmp_path: Path) -> None:
    import yaml

    from infra.spec import HallConfigError

    prefix = f"hc-p-{secrets.token_hex(3)}"
    raw = hall_config(prefix, 199, [window(1)])
    hall = HallStack("bad", tmp_path / "state", project_dir=scratch_project(tmp_path / "project"))
    spec = hall.write_config(raw)
    hall.ensure_stack()
    # edit the stack's config behind write_config's back, as an operator editing the file would
    raw["hall:windows"][0]["seat"]["internet"]["network"] = "gov"
    raw["hall:windows"][0]["seat"]["gov"]["image"] = "uos-21"
    document = yaml.safe_load(hall.config_file.read_text())
    document["config"] = raw
    hall.config_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    expected = [
        "hall:windows[0].seat.gov.image: 'uos-21' is not in the image catalog",
        "hall:windows[0].seat.internet.network: both desktops of window 1 would be on network 'gov'",
    ]
    # hall stack refuses it before the engine runs ...
    with pytest.raises(HallConfigError) as caught:
        hall.preview()
    assert all(line in str(caught.value) for line in expected)
    # ... and the program itself refuses it when an operator runs the plain CLI
    proc = hall._cli("preview", "--stack", hall.name, check=False)
    assert proc.returncode != 0
    message = proc.stdout + proc.stderr
    assert all(line in message for line in expected), message
    assert "Traceback" not in message  # a clean error for people, not a stack trace
    assert not leftovers(spec)
