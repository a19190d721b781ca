"""The hall's Pulumi program under Pulumi mocks: the demo stack's resource graph, names, parents,
outputs, and the isolation refusals of the components (no engine, no libvirt)."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from typing import Any

import pulumi
import pytest
from pulumi.runtime import settings

from infra.components import IsolationError, Seat, SeatArgs, check_network_isolation
from infra.deploy import Hall, deploy
from infra.hall_plan import plan_hall
from infra.outputs import DesktopOutputs, HallOutputs, SeatOutputs, seat_key
from infra.providers.storage import boot_of
from infra.spec import load_spec
from infra.windows import seat_urns

DYN = "pulumi-python:dynamic/hallcloud"


class HallMocks(pulumi.runtime.Mocks):
    """Echo inputs as outputs and fill in what the providers would compute."""

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        outs = dict(args.inputs)
        kind = args.typ.rsplit(":", 1)[-1]
        if kind == "GoldenImage":
            outs.update(
                volume=f"{args.inputs['image']}-0123456789ab.qcow2",
                path="/pool/golden.qcow2",
                kernel="/pool/vmlinuz",
                initrd="/pool/initrd",
                cmdline="console=ttyS0",
            )
            outs["boot"] = boot_of(outs)
        elif kind == "Volume":
            outs["path"] = f"/pool/{args.inputs['name']}"
        elif kind == "Domain":
            outs.update(
                running=True,
                macs=["52:54:00:00:00:01"],
                addresses=["10.218.1.20"],
                vnc_listen="127.0.0.1",
                vnc_port=5900,
                uuid="00000000-0000-0000-0000-000000000001",
            )
        return f"{args.name}-id", outs

    def call(self, args: pulumi.runtime.MockCallArgs) -> dict[str, Any]:
        return {}


@pytest.fixture(scope="module")
def _event_loop_for_mocks() -> None:
    # Pulumi's mocks run on the main thread's current event loop; async tests that ran earlier in the
    # session leave the thread without one. The loop stays current (Pulumi keeps resources on it).
    try:
        asyncio.get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture
def mocks(_event_loop_for_mocks: None) -> HallMocks:
    hall_mocks = HallMocks()
    pulumi.runtime.set_mocks(hall_mocks, project="hallcloud", stack="test", preview=False)
    return hall_mocks


def registered() -> dict[str, Any]:
    """URN -> registration of everything the program registered. The mock monitor puts the stack's type
    in front of top-level resources' types, which the real engine does not: normalise to the engine's."""
    monitor = settings.get_monitor()
    found = monitor.get_registered_resources()  # type: ignore[union-attr]
    return {urn.replace("::pulumi:pulumi:Stack$", "::"): reg for urn, reg in found.items()}


def _type_name(urn: str) -> tuple[str, str]:
    parts = urn.split("::")
    return parts[2], parts[3]


def run(spec_raw: dict[str, Any]) -> tuple[Hall, dict[str, Any]]:
    """Deploy under mocks, wait for every output; returns the hall and the resolved exports."""
    result: dict[str, Any] = {}
    holder: list[Hall] = []

    @pulumi.runtime.test
    def program() -> pulumi.Output[Any]:
        hall = deploy(load_spec(spec_raw))
        holder.append(hall)
        exports = hall.exports()
        return pulumi.Output.all(**exports).apply(lambda v: result.update(v))

    program()
    return holder[0], result


def test_demo_stack_resource_graph(mocks: HallMocks, demo_raw: dict[str, Any]) -> None:
    _hall, _exports = run(demo_raw)
    urns = list(registered())
    kinds = Counter(_type_name(u)[0].split("$")[-1] for u in urns)
    assert kinds == {
        "hallcloud:hall:HallNetworks": 1,
        "hallcloud:hall:StorageTier": 1,
        "hallcloud:hall:AppTier": 1,
        "hallcloud:hall:Seat": 4,
        f"{DYN}:Network": 4,
        f"{DYN}:StoragePool": 2,
        f"{DYN}:GoldenImage": 1,
        f"{DYN}:Volume": 10,
        f"{DYN}:Domain": 10,
    }
    # children are named from their component and parented to it
    for urn in urns:
        qualified, name = _type_name(urn)
        chain = qualified.split("$")
        if chain[0] == "hallcloud:hall:Seat":
            assert name.startswith("window-")
            if len(chain) == 2:  # a seat's child: named from its seat
                assert any(name.startswith(f"window-{n:03d}-") for n in range(1, 5))
        if chain[-1] in (f"{DYN}:Domain", f"{DYN}:Volume"):
            assert chain[0] in ("hallcloud:hall:Seat", "hallcloud:hall:AppTier", "hallcloud:hall:StorageTier")
        if chain[-1] == f"{DYN}:Network":
            assert chain[0] == "hallcloud:hall:HallNetworks" and name.startswith("networks-local-")
    seat_children = sorted(
        _type_name(u)[1] for u in urns if _type_name(u)[0].startswith("hallcloud:hall:Seat$")
    )
    assert seat_children == sorted(
        f"window-{n:03d}-{side}{suffix}"
        for n in range(1, 5)
        for side in ("gov", "internet")
        for suffix in ("", "-disk")
    )
    assert any(
        _type_name(u) == ("hallcloud:hall:StorageTier$" + f"{DYN}:Domain", "storage-tier-files") for u in urns
    )
    assert any(_type_name(u) == ("hallcloud:hall:AppTier$" + f"{DYN}:Domain", "app-tier-queue") for u in urns)


def test_demo_domains_are_prefixed_and_each_desktop_has_one_nic_on_its_side(
    mocks: HallMocks, demo_raw: dict[str, Any]
) -> None:
    _hall, _exports = run(demo_raw)
    domains = {
        _type_name(u)[1]: r.state for u, r in registered().items() if _type_name(u)[0].endswith(":Domain")
    }
    assert all(state["name"].startswith("demo-") for state in domains.values())
    for n in range(1, 5):
        gov, internet = domains[f"window-{n:03d}-gov"], domains[f"window-{n:03d}-internet"]
        assert gov["name"] == f"demo-w{n:03d}-gov" and gov["networks"] == ["demo-gov"]
        assert internet["name"] == f"demo-w{n:03d}-internet" and internet["networks"] == ["demo-internet"]
        assert gov["disk"] == f"demo-w{n:03d}-gov--hallcloud-test-x86_64.qcow2"
        assert gov["kernel"] == "/pool/vmlinuz"  # boot files come from the golden image's outputs
        assert gov["memory_mib"] == 192 and gov["running"] is True
    assert domains["storage-tier-files"]["networks"] == ["demo-storage", "demo-mgmt"]
    # no URI or credential in any resource's inputs: hosts are keys the providers resolve
    for urn, reg in registered().items():
        assert "qemu:" not in repr(reg.state), urn


def test_demo_exports_seats_with_consoles_and_addresses(mocks: HallMocks, demo_raw: dict[str, Any]) -> None:
    _hall, exports = run(demo_raw)
    seats = exports["seats"]
    assert sorted(seats) == ["001", "002", "003", "004"]
    seat = seats["001"]
    assert seat["name"] == "企业开办 company registration"
    assert seat["gov"]["console"] == {
        "vnc": "127.0.0.1:5900",
        "serial": "host local: virsh console demo-w001-gov",
    }
    assert seat["internet"]["addresses"] == ["10.218.1.20"]
    assert seat["gov"]["networks"] == ["gov"] and seat["internet"]["networks"] == ["internet"]
    assert seat["snapshot_policy"]["backup_pool"] == "demo-backup"
    assert seats["004"]["snapshot_policy"]["snapshot_schedule"] == "30 12 * * 1-5"
    assert exports["storage_tier"]["pool"] == "demo-backup"
    assert exports["storage_tier"]["file_server"]["domain"] == "demo-files"
    assert exports["app_tier"]["queue"]["domain"] == "demo-app-queue"
    assert exports["networks"]["local/gov"]["gateway"] == "10.218.1.1"


def test_window_urns_of_the_automation_helpers_match_the_program(
    mocks: HallMocks, demo_raw: dict[str, Any]
) -> None:
    run(demo_raw)
    urns = set(registered())
    for n in range(1, 5):
        assert set(seat_urns("test", n)) <= urns
    assert not set(seat_urns("test", 9)) & urns


def test_a_seat_sharing_one_network_is_refused_by_the_component(
    mocks: HallMocks, demo_raw: dict[str, Any]
) -> None:
    plan = plan_hall(load_spec(demo_raw))
    seat = plan.seats[0]
    shared = replace(seat, internet=replace(seat.internet, network_keys=("gov",), networks=("demo-gov",)))
    with pytest.raises(IsolationError, match="both desktops would be on network 'gov'"):
        Seat("window-001", SeatArgs(shared, {}, {}))
    two_nics = replace(seat, gov=replace(seat.gov, network_keys=("gov", "mgmt")))
    with pytest.raises(IsolationError, match="exactly one business NIC"):
        Seat("window-001", SeatArgs(two_nics, {}, {}))
    swapped = replace(
        seat,
        gov=replace(seat.gov, network_keys=("internet",)),
        internet=replace(seat.internet, network_keys=("mgmt",)),
    )
    with pytest.raises(IsolationError, match="other side's network"):
        Seat("window-001", SeatArgs(swapped, {}, {}))


def test_networks_sharing_a_bridge_are_refused_by_the_component(demo_raw: dict[str, Any]) -> None:
    plan = plan_hall(load_spec(demo_raw))
    gov = next(n for n in plan.networks if n.key == "gov")
    internet = next(n for n in plan.networks if n.key == "internet")
    with pytest.raises(IsolationError, match="share bridge"):
        check_network_isolation([gov, replace(internet, bridge=gov.bridge)])
    check_network_isolation(plan.networks)  # the demo's own networks pass


def test_an_invalid_config_creates_nothing(mocks: HallMocks, demo_raw: dict[str, Any]) -> None:
    demo_raw["hall:windows"][0]["seat"]["internet"]["network"] = "gov"
    from infra.spec import HallConfigError

    with pytest.raises(HallConfigError):
        run(demo_raw)
    assert registered() == {}


def test_hall_stack_command_is_mounted_and_refuses_a_bad_config(
    tmp_path: Any, demo_raw: dict[str, Any]
) -> None:
    import yaml
    from click.testing import CliRunner

    import hall
    from infra.automation import scratch_project

    demo_raw["hall:windows"][0]["seat"]["gov"]["image"] = "uos-21"
    project = scratch_project(tmp_path / "project")
    (project / "Pulumi.bad.yaml").write_text(yaml.safe_dump({"config": demo_raw}, allow_unicode=True))
    result = CliRunner().invoke(
        hall.main,
        ["stack", "-s", "bad", "--state", str(tmp_path / "state"), "--project-dir", str(project), "preview"],
    )
    assert result.exit_code != 0
    assert "hall:windows[0].seat.gov.image: 'uos-21' is not in the image catalog" in result.output
    assert not (tmp_path / "state" / "pulumi").exists()  # refused before anything was touched


def test_scheduler_policies_of_the_demo_are_valid_vdi_policies(demo_raw: dict[str, Any]) -> None:
    from infra.hall_plan import scheduler_policies
    from vdi.policy import Policy

    data = scheduler_policies(load_spec(demo_raw))
    assert sorted(data["desktops"]) == [
        f"demo-w00{n}-{side}" for n in range(1, 5) for side in ("gov", "internet")
    ]
    first = Policy.from_mapping(data["desktops"]["demo-w001-gov"], "demo-w001-gov")
    assert first.backup_pool == "demo-backup" and first.snapshot_schedule == "0 */2 * * *"
    assert Policy.from_mapping(data["desktops"]["demo-w004-internet"]).snapshot_schedule == "30 12 * * 1-5"


def test_what_the_program_exports_parses_into_typed_seats(mocks: HallMocks, demo_raw: dict[str, Any]) -> None:
    _hall, exports = run(demo_raw)
    outputs = HallOutputs.parse(exports)
    assert list(outputs.seats) == [1, 2, 3, 4]
    seat = outputs.seats[1]
    assert (seat.window, seat.name, seat.host) == (1, "企业开办 company registration", "local")
    assert seat.gov == DesktopOutputs(
        domain="demo-w001-gov",
        host="local",
        image="hallcloud-test-x86_64",
        networks=("gov",),
        vnc="127.0.0.1:5900",
        serial="host local: virsh console demo-w001-gov",
        addresses=("10.218.1.20",),
        macs=("52:54:00:00:00:01",),
        running=True,
    )
    assert seat.internet.domain == "demo-w001-internet" and seat.internet.networks == ("internet",)
    assert seat.gov.vnc_endpoint == ("127.0.0.1", 5900)
    assert outputs.seats[4].snapshot_policy is not None
    assert outputs.seats[4].snapshot_policy["snapshot_schedule"] == "30 12 * * 1-5"
    assert outputs.app_tier["queue"].domain == "demo-app-queue"
    assert outputs.storage_pool == "demo-backup"
    assert outputs.file_server is not None and outputs.file_server.networks == ("storage", "mgmt")
    # the exported mapping is exactly what the typed object writes
    for key, raw in exports["seats"].items():
        assert SeatOutputs.parse(raw).to_output() == raw
        assert key == seat_key(raw["window"])
