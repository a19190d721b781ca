"""The hall as Pulumi resources: a validated spec -> plan -> components, in dependency order.

:func:`deploy` is what ``infra/__main__.py`` runs; tests run it under Pulumi mocks. It touches nothing
itself: the engine calls the providers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pulumi

from infra.components import (
    AppTier,
    AppTierArgs,
    HallNetworks,
    HallNetworksArgs,
    Seat,
    SeatArgs,
    StorageTier,
    StorageTierArgs,
)
from infra.hall_plan import HallPlan, plan_hall
from infra.outputs import seat_key
from infra.providers import GoldenImage, StoragePool
from infra.spec import HallSpec

__all__ = ["Hall", "deploy"]


@dataclass
class Hall:
    plan: HallPlan
    networks: HallNetworks
    pools: dict[str, StoragePool]
    images: dict[str, GoldenImage]
    seats: dict[int, Seat] = field(default_factory=dict)
    app_tier: AppTier | None = None
    storage_tier: StorageTier | None = None

    def exports(self) -> dict[str, Any]:
        assert self.storage_tier is not None and self.app_tier is not None
        return {
            "hall": self.plan.name,
            "prefix": self.plan.prefix,
            "networks": self.networks.summary,
            "seats": pulumi.Output.all(**{seat_key(n): s.outputs for n, s in sorted(self.seats.items())})
            if self.seats
            else {},
            "app_tier": self.app_tier.outputs,
            "storage_tier": self.storage_tier.outputs,
        }


def deploy(spec: HallSpec) -> Hall:
    plan = plan_hall(spec)
    networks = HallNetworks("networks", HallNetworksArgs(plan.networks))
    assert plan.storage_pool is not None
    storage = StorageTier(
        "storage-tier",
        StorageTierArgs(plan.storage_pool, plan.file_server, networks.networks, {}),
    )
    pools = {plan.storage_pool.key: storage.pool}
    for pool in plan.pools:
        pools[pool.key] = StoragePool(pool.resource, host=pool.host, name=pool.name, path=pool.path)
    images = {
        image.resource: GoldenImage(
            image.resource,
            host=image.host,
            pool=pools[image.pool].name,
            image=image.image,
            file=image.file,
            sha256=image.sha256,
        )
        for image in plan.images
    }
    storage.add_file_server(images)
    hall = Hall(plan=plan, networks=networks, pools=pools, images=images, storage_tier=storage)
    hall.app_tier = AppTier("app-tier", AppTierArgs(plan.app_vms, networks.networks, images))
    wait = spec.settings.address_wait_seconds
    for seat in plan.seats:
        hall.seats[seat.number] = Seat(seat.resource, SeatArgs(seat, networks.networks, images, wait))
    return hall
