"""The hall's Pulumi program under Pulumi mocks: seat desktops reference their network's isolation
filter (see ``vdi.nwfilter``), which the Network resources carry; infrastructure VMs do not."""

from __future__ import annotations

from typing import Any

from tests.infra.test_program import (  # the fixtures are used by name
    HallMocks,
    _event_loop_for_mocks,
    _type_name,
    mocks,
    registered,
    run,
)

__all__ = ["_event_loop_for_mocks", "mocks"]


def test_seat_desktops_reference_the_isolation_filter_of_their_network(
    mocks: HallMocks, demo_raw: dict[str, Any]
) -> None:
    run(demo_raw)
    states = {_type_name(u): r.state for u, r in registered().items()}
    networks = {name: s for (kind, name), s in states.items() if kind.endswith(":Network")}
    assert networks["networks-local-gov"]["filter"] == "demo-gov-isolation"
    assert sorted(networks["networks-local-gov"]["isolated_from"]) == [
        "10.218.2.0/24",
        "10.218.3.0/24",
        "10.218.4.0/24",
    ]
    domains = {name: s for (kind, name), s in states.items() if kind.endswith(":Domain")}
    for n in range(1, 5):
        assert domains[f"window-{n:03d}-gov"]["filters"] == ["demo-gov-isolation"]
        assert domains[f"window-{n:03d}-internet"]["filters"] == ["demo-internet-isolation"]
    # infrastructure VMs are not desktops: their NICs are left as they are
    assert domains["app-tier-queue"].get("filters") is None
    assert domains["storage-tier-files"].get("filters") is None
