"""The Network provider: a libvirt virtual network on one host (isolated, NAT or host-bridge mode)."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from infra.providers.base import HallProvider, is_unknown
from vdi.models import Network as NetworkModel
from vdi.models import NetworkIP
from vdi.network import delete_network, ensure_network, get_network, lookup_network

__all__ = ["Network", "NetworkProvider"]

FORWARDS = ("isolated", "nat", "bridge")


def _model(props: dict[str, Any]) -> NetworkModel:
    ip = None
    if props.get("gateway"):
        ip = NetworkIP(
            address=props["gateway"],
            prefix=int(props["prefix"]),
            dhcp_start=props.get("dhcp_start"),
            dhcp_end=props.get("dhcp_end"),
        )
    return NetworkModel(name=props["name"], forward=props["forward"], bridge=props.get("bridge"), ip=ip)


def _split(id_: str) -> tuple[str, str]:
    host, _, name = id_.partition("/")
    return host, name


class NetworkProvider(HallProvider):
    kind = "network"
    required = ("host", "name", "forward")
    replace_fields = ("host", "name", "forward", "bridge", "gateway", "prefix", "dhcp_start", "dhcp_end")
    update_fields = ("active",)

    def validate(self, news: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        forward = news.get("forward")
        if not is_unknown(forward) and forward not in FORWARDS:
            failures.append(CheckFailure("forward", f"network: forward {forward!r} is not one of {FORWARDS}"))
        if forward == "bridge" and not news.get("bridge"):
            failures.append(CheckFailure("bridge", "network: bridge mode needs the host bridge to join"))
        if forward in ("isolated", "nat") and not news.get("gateway"):
            failures.append(CheckFailure("gateway", f"network: an {forward} network needs a gateway address"))
        return failures

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.connect(props["host"]) as conn:
            ensure_network(conn, _model(props))
        return CreateResult(id_=f"{props['host']}/{props['name']}", outs={**props, "active": True})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        host, name = _split(id_)
        with self.connect(host) as conn:
            have = get_network(conn, name)
            if have is None:
                return ReadResult(None, {})  # deleted behind our back: refresh drops it
            net = lookup_network(conn, name)
            active = bool(net is not None and net.isActive())
        outs = {**props, "host": host, "name": name, "forward": have.forward, "active": active}
        if props.get("bridge") is not None:
            outs["bridge"] = have.bridge
        if have.ip is not None:
            outs.update(
                gateway=have.ip.address,
                prefix=have.ip.prefix,
                dhcp_start=have.ip.dhcp_start,
                dhcp_end=have.ip.dhcp_end,
            )
        return ReadResult(id_, outs)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # only "active" changes in place: ensure_network starts a defined network that was stopped
        with self.connect(news["host"]) as conn:
            ensure_network(conn, _model(news))
        return UpdateResult(outs={**news, "active": True})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        host, name = _split(id_)
        with self.connect(host) as conn:
            delete_network(conn, name)


class Network(Resource, module="hallcloud", name="Network"):
    """A libvirt network ``name`` on host key ``host``."""

    host: pulumi.Output[str]
    name: pulumi.Output[str]
    forward: pulumi.Output[str]
    bridge: pulumi.Output[str | None]
    gateway: pulumi.Output[str | None]
    prefix: pulumi.Output[int | None]
    active: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        host: str,
        name: str,
        forward: str,
        bridge: str | None = None,
        gateway: str | None = None,
        prefix: int | None = None,
        dhcp_start: str | None = None,
        dhcp_end: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {
            "host": host,
            "name": name,
            "forward": forward,
            "bridge": bridge,
            "gateway": gateway,
            "prefix": prefix,
            "dhcp_start": dhcp_start,
            "dhcp_end": dhcp_end,
            "active": True,
        }
        super().__init__(NetworkProvider(), resource_name, props, opts)
