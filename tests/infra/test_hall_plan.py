"""Pure planning: names, placement on hosts, bridges, DHCP ranges and policies, without Pulumi or libvirt."""

from __future__ import annotations

from typing import Any

import pytest

from infra.hall_plan import plan_hall, plan_seat, seat_resource_names
from infra.spec import HallConfigError, load_spec


def two_hosts(raw: dict[str, Any]) -> dict[str, Any]:
    raw["hall:hosts"]["rack2"] = {"uri": "qemu+ssh://hv2/system"}
    raw["hall:pools"]["desktops2"] = {"host": "rack2"}
    raw["hall:images"]["hallcloud-test-x86_64"]["pools"] = ["desktops", "desktops2"]
    raw["hall:windows"][3]["host"] = "rack2"
    return raw


def test_demo_plan_names_everything_from_the_prefix(demo_raw: dict[str, Any]) -> None:
    plan = plan_hall(load_spec(demo_raw))
    assert [n.name for n in plan.networks] == ["demo-gov", "demo-internet", "demo-mgmt", "demo-storage"]
    assert {p.name: p.path for p in plan.pools} == {"demo-desktops": "/var/lib/libvirt/images/demo-desktops"}
    assert plan.storage_pool is not None and plan.storage_pool.name == "demo-backup"
    assert [i.resource for i in plan.images] == ["image-hallcloud-test-x86_64-desktops"]
    assert all(d.name.startswith("demo-") for d in plan.domains) and len(plan.domains) == 10
    seat = plan.seats[0]
    assert seat_resource_names(seat) == [
        "window-001-gov-disk",
        "window-001-gov",
        "window-001-internet-disk",
        "window-001-internet",
    ]
    assert seat.gov.disk_volume == "demo-w001-gov--hallcloud-test-x86_64.qcow2"


def test_bridges_are_named_by_the_plan_short_and_distinct(demo_raw: dict[str, Any]) -> None:
    plan = plan_hall(load_spec(demo_raw))
    bridges = [n.bridge for n in plan.networks]
    assert all(b is not None and len(b) <= 15 for b in bridges)
    assert len(set(bridges)) == len(bridges)
    gov = plan.network("local", "gov")
    assert (gov.gateway, gov.prefix, gov.dhcp_start, gov.dhcp_end) == (
        "10.218.1.1",
        24,
        "10.218.1.10",
        "10.218.1.254",
    )


def test_windows_are_placed_on_their_host_with_the_golden_image_of_that_host(
    demo_raw: dict[str, Any],
) -> None:
    plan = plan_hall(load_spec(two_hosts(demo_raw)))
    seat4 = next(s for s in plan.seats if s.number == 4)
    assert seat4.gov.host == "rack2" and seat4.gov.pool_name == "demo-desktops2"
    assert seat4.gov.image_resource == "image-hallcloud-test-x86_64-desktops2"
    assert {(n.host, n.key) for n in plan.networks} >= {("rack2", "gov"), ("rack2", "internet")}
    assert plan.seats[0].gov.host == "local" and plan.seats[0].gov.pool_name == "demo-desktops"


def test_a_window_on_a_host_without_its_image_is_refused(demo_raw: dict[str, Any]) -> None:
    raw = two_hosts(demo_raw)
    raw["hall:images"]["hallcloud-test-x86_64"]["pools"] = ["desktops"]
    with pytest.raises(
        HallConfigError,
        match=r"hall:windows\[3\]\.seat\.gov\.image: .* not imported into any pool on "
        r"host 'rack2'\. Fix: add a pool on 'rack2' to hall:images\.hallcloud-test-x86_64\.pools",
    ):
        load_spec(raw)


def test_policies_resolve_backup_pools_to_libvirt_names(demo_raw: dict[str, Any]) -> None:
    spec = load_spec(demo_raw)
    seat = plan_seat(spec, spec.window(1))
    assert seat.snapshot_policy is not None and seat.snapshot_policy["backup_pool"] == "demo-backup"
    assert plan_seat(spec, spec.window(4)).snapshot_policy == {
        "snapshot_schedule": "30 12 * * 1-5",
        "snapshot_retention": {"keep_last": 3},
        "timezone": "Asia/Shanghai",
    }


def test_start_desktops_false_plans_defined_but_stopped_domains(demo_raw: dict[str, Any]) -> None:
    demo_raw["hall:settings"]["start_desktops"] = False
    assert not any(d.running for d in plan_hall(load_spec(demo_raw)).domains)


def test_each_network_has_an_isolation_filter_against_the_other_subnets(demo_raw: dict[str, Any]) -> None:
    plan = plan_hall(load_spec(demo_raw))
    subnets = {key: str(net.subnet) for key, net in load_spec(demo_raw).networks.items()}
    for net in plan.networks:
        assert net.filter == f"{net.name}-isolation"
        assert sorted(net.isolated_from) == sorted(s for k, s in subnets.items() if k != net.key)
    gov = plan.network("local", "gov")
    assert subnets["internet"] in gov.isolated_from and subnets["gov"] not in gov.isolated_from


def test_seat_desktops_reference_their_networks_filter_and_tier_vms_do_not(demo_raw: dict[str, Any]) -> None:
    plan = plan_hall(load_spec(demo_raw))
    assert all(d.filtered for seat in plan.seats for d in seat.desktops)
    assert not any(vm.filtered for vm in plan.app_vms)
    assert plan.file_server is not None and not plan.file_server.filtered
