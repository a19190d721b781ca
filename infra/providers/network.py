"""The Network provider: a libvirt virtual network on one host (isolated, NAT or host-bridge mode),
with its isolation filter.

The filter (:func:`vdi.nwfilter.isolation_filter`, input ``filter`` names it) keeps the guests whose NICs
reference it to this network: it drops what they send to ``isolated_from``, the subnets of the hall's
other networks. It lives and dies with its network; when the hall gains or loses a network the filter
is redefined in place (libvirt re-applies it to running NICs), so neither the network nor the desktops
on it are replaced.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, ReadResult, Resource, UpdateResult

from infra.providers.base import HallProvider, is_unknown, split_id
from vdi.exceptions import VdiError
from vdi.models import Network as NetworkModel
from vdi.models import NetworkFilter as NetworkFilterModel
from vdi.models import NetworkIP, differences
from vdi.network import delete_network, ensure_network, get_network, lookup_network
from vdi.nwfilter import delete_nwfilter, ensure_nwfilter, get_nwfilter, isolation_filter

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


def _filter(props: dict[str, Any]) -> NetworkFilterModel | None:
    if not props.get("filter"):
        return None
    return isolation_filter(props["filter"], _model(props), props.get("isolated_from") or [])


class NetworkProvider(HallProvider):
    kind = "network"
    required = ("host", "name", "forward")
    replace_fields = ("host", "name", "forward", "bridge", "gateway", "prefix", "dhcp_start", "dhcp_end")
    update_fields = ("active", "filter", "isolated_from")

    def _validate_network(self, news: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        forward = news.get("forward")
        if not is_unknown(forward) and forward not in FORWARDS:
            failures.append(CheckFailure("forward", f"network: forward {forward!r} is not one of {FORWARDS}"))
        if forward == "bridge" and not news.get("bridge"):
            failures.append(CheckFailure("bridge", "network: bridge mode needs the host bridge to join"))
        if forward in ("isolated", "nat") and not news.get("gateway"):
            failures.append(CheckFailure("gateway", f"network: an {forward} network needs a gateway address"))
        return failures

    def validate(self, news: dict[str, Any]) -> list[CheckFailure]:
        failures = self._validate_network(news)
        if not is_unknown(news) and news.get("filter") and not failures:
            try:
                _filter(news)
            except VdiError as exc:
                failures.append(CheckFailure("isolated_from", str(exc)))
        return failures

    def create(self, props: dict[str, Any]) -> CreateResult:
        guard = _filter(props)
        with self.connect(props["host"]) as conn:
            created = ensure_network(conn, _model(props)) == "created"
            try:
                if guard is not None:
                    ensure_nwfilter(conn, guard)
            except VdiError:
                if created:  # a network without its filter is not left half-created
                    delete_network(conn, props["name"])
                raise
        return CreateResult(id_=f"{props['host']}/{props['name']}", outs={**props, "active": True})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        host, name = split_id(id_)
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
            guard = _filter(outs)
            if guard is not None:
                have_guard = get_nwfilter(conn, guard.name)
                if have_guard is None or differences(guard, have_guard):
                    outs["filter"] = None  # deleted or edited behind our back: the next up puts it back
        return ReadResult(id_, outs)

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        # in place: ensure_network starts a defined network that was stopped; ensure_nwfilter redefines
        # the filter with the hall's current other subnets. The filter's name follows the network's,
        # whose change replaces the network, so an old filter never needs removing here.
        guard = _filter(news)
        with self.connect(news["host"]) as conn:
            ensure_network(conn, _model(news))
            if guard is not None:
                ensure_nwfilter(conn, guard)
        return UpdateResult(outs={**news, "active": True})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        host, name = split_id(id_)
        with self.connect(host) as conn:
            delete_network(conn, name)
            if props.get("filter"):  # its desktops were deleted before it
                delete_nwfilter(conn, props["filter"])


class Network(Resource, module="hallcloud", name="Network"):
    """A libvirt network ``name`` on host key ``host``."""

    host: pulumi.Output[str]
    name: pulumi.Output[str]
    forward: pulumi.Output[str]
    bridge: pulumi.Output[str | None]
    gateway: pulumi.Output[str | None]
    prefix: pulumi.Output[int | None]
    active: pulumi.Output[bool]
    filter: pulumi.Output[str | None]
    """the isolation filter that desktop NICs on this network reference"""

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
        filter: str | None = None,
        isolated_from: list[str] | None = None,
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
            "filter": filter,
            "isolated_from": isolated_from or [],
            "active": True,
        }
        super().__init__(NetworkProvider(), resource_name, props, opts)
