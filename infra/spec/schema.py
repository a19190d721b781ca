"""The hall's stack configuration as a typed spec, validated before anything is touched.

The stack config (``Pulumi.<stack>.yaml``, namespace ``hall``) *is* the hall: hosts (libvirt URIs),
networks, pools, golden images from the catalog, the app tier, the storage tier, snapshot policies and
the service windows with their seats. :func:`load_spec` turns the raw config into a :class:`HallSpec`
or raises :class:`HallConfigError`, whose every line names the config path, the problem and the fix::

    hall:windows[3].seat.internet.image: 'uos-21' is not in the image catalog; known: ... Fix: ...

Validation has two layers: the shape (pydantic: types, unknown keys, ranges) and the hall's own rules
(references between sections, unique window numbers and names, and *isolation*: nothing may bridge the
``gov`` extranet and the ``internet`` network, see :func:`isolation_issues`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from images.catalog import CatalogError, load_catalog
from vdi.policy import Policy, PolicyError

__all__ = [
    "CONFIG_KEYS",
    "NAMESPACE",
    "REQUIRED_NETWORKS",
    "SIDES",
    "AppTierSpec",
    "DesktopSpec",
    "HallConfigError",
    "HallSpec",
    "HostSpec",
    "ImageSpec",
    "Issue",
    "NetworkSpec",
    "PolicyConfig",
    "PoolSpec",
    "SeatSpec",
    "SettingsSpec",
    "StorageTierSpec",
    "VmSpec",
    "WindowSpec",
    "isolation_issues",
    "load_spec",
]

NAMESPACE = "hall"
REQUIRED_NETWORKS = ("gov", "internet", "mgmt", "storage")
SIDES = ("gov", "internet")
"""The two sides of a seat; each side's desktop sits on the network of the same name by default."""
ISOLATED_PAIR = ("gov", "internet")
"""The two networks that must never be bridged (一屏双机)."""

_KEY = re.compile(r"^[a-z][a-z0-9-]{0,22}$")
_KEY_RULE = "lowercase letters, digits and '-', starting with a letter, at most 23 characters"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _key(value: str) -> str:
    if not _KEY.match(value):
        raise ValueError(f"{value!r} is not a valid name: use {_KEY_RULE}")
    return value


class HostSpec(_Strict):
    """A hypervisor host. Its URI is read again by the providers from this config, never passed to them."""

    uri: str = "qemu:///system"
    bridges: dict[str, str] = Field(default_factory=dict)
    """network key -> the host bridge device this host uses for that bridge-mode network."""


class NetworkSpec(_Strict):
    forward: Literal["isolated", "nat", "bridge"] = "isolated"
    subnet: ipaddress.IPv4Network | None = None
    """The network's /N; the first address is the gateway (the host side), DHCP hands out the rest."""
    bridge: str | None = None
    """isolated/nat: the bridge libvirt creates (libvirt picks ``virbrN`` when unset); bridge mode: the
    host bridge the network joins (a host may override it in ``hosts.<h>.bridges``)."""
    dhcp: bool = True
    hosts: list[str] | None = None
    """The hosts that carry this network; default: every host."""

    @field_validator("bridge")
    @classmethod
    def _bridge_name(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", value):
            raise ValueError(f"{value!r} is not a Linux bridge name (1-15 letters, digits, '_', '.', '-')")
        return value


class PoolSpec(_Strict):
    host: str | None = None
    """Default: the first host."""
    type: Literal["dir"] = "dir"
    path: str | None = None
    """Default: ``/var/lib/libvirt/images/<prefix>-<key>``."""


class ImageSpec(_Strict):
    """A catalog image imported as a golden volume into each listed pool."""

    pools: list[str]
    file: str | None = None
    """A local copy of the disk (vendor-ISO images, or a download fetched beforehand)."""
    sha256: str | None = None


PolicyConfig = dict[str, Any]
"""A snapshot policy as :meth:`vdi.policy.Policy.from_mapping` reads it (snapshot_schedule,
snapshot_retention, backup_schedule, backup_retention, backup_pool, quiesce, timezone); here
``backup_pool`` names a key of ``hall:pools`` (normally the storage tier's)."""


class DesktopSpec(_Strict):
    image: str
    network: str | None = None
    """Default: the network named like the side (``gov`` or ``internet``)."""
    memory_mib: int | None = Field(default=None, ge=64, le=262144)
    vcpus: int | None = Field(default=None, ge=1, le=64)


class SeatSpec(_Strict):
    gov: DesktopSpec
    internet: DesktopSpec

    def side(self, name: str) -> DesktopSpec:
        desktop: DesktopSpec = getattr(self, name)
        return desktop

    def network_of(self, side: str) -> str:
        return self.side(side).network or side


class WindowSpec(_Strict):
    number: int = Field(ge=1, le=999)
    name: str = Field(min_length=1, max_length=64)
    host: str | None = None
    seat: SeatSpec
    snapshot_policy: str | PolicyConfig | None = None
    """A name in ``hall:snapshot_policies`` or an inline policy."""


class VmSpec(_Strict):
    name: str
    image: str
    networks: list[str] = Field(min_length=1)
    memory_mib: int | None = Field(default=None, ge=64, le=262144)
    vcpus: int | None = Field(default=None, ge=1, le=64)
    host: str | None = None

    _name = field_validator("name")(_key)


class AppTierSpec(_Strict):
    vms: list[VmSpec] = Field(default_factory=list)


class StorageTierSpec(_Strict):
    pool: str
    """A key of ``hall:pools``: the backup target of snapshot policies."""
    file_server: VmSpec | None = None


class SettingsSpec(_Strict):
    start_desktops: bool = True
    """Start every domain after defining it (False: define only, e.g. for a quick benchmark)."""
    address_wait_seconds: float = Field(default=0, ge=0, le=600)
    """How long creating a running domain waits for its DHCP addresses (0: report what is known)."""


class HallSpec(_Strict):
    name: str = Field(min_length=1)
    prefix: str
    """Every libvirt object of the stack is named ``<prefix>-...`` (the demo uses ``demo``)."""
    hosts: dict[str, HostSpec] = Field(min_length=1)
    networks: dict[str, NetworkSpec]
    pools: dict[str, PoolSpec] = Field(min_length=1)
    images: dict[str, ImageSpec] = Field(min_length=1)
    app_tier: AppTierSpec = Field(default_factory=AppTierSpec)
    storage_tier: StorageTierSpec
    snapshot_policies: dict[str, PolicyConfig] = Field(default_factory=dict)
    windows: list[WindowSpec] = Field(default_factory=list)
    settings: SettingsSpec = Field(default_factory=SettingsSpec)

    _prefix = field_validator("prefix")(_key)

    @field_validator("hosts", "networks", "pools", "snapshot_policies")
    @classmethod
    def _keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            _key(key)
        return value

    @property
    def default_host(self) -> str:
        return next(iter(self.hosts))

    def host_of_pool(self, key: str) -> str:
        return self.pools[key].host or self.default_host

    def hosts_of_network(self, key: str) -> list[str]:
        return list(self.networks[key].hosts or self.hosts)

    def window(self, number: int) -> WindowSpec:
        for window in self.windows:
            if window.number == number:
                return window
        raise KeyError(number)

    def to_config(self) -> dict[str, Any]:
        """The spec as stack config values (``{"hall:windows": [...], ...}``), for the Automation API."""
        data = self.model_dump(mode="json", exclude_none=True)
        return {f"{NAMESPACE}:{key}": value for key, value in data.items()}


CONFIG_KEYS = tuple(HallSpec.model_fields)


# -- errors ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    path: str
    """``hall:windows[3].seat.internet.image``"""
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}. Fix: {self.fix}"


class HallConfigError(ValueError):
    """The stack config does not describe a valid hall; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"the hall's stack config is invalid ({len(issues)} problem(s)):\n{lines}")


def config_path(loc: tuple[int | str, ...]) -> str:
    """``("windows", 3, "seat")`` -> ``hall:windows[3].seat``."""
    out = NAMESPACE
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += (":" if i == 0 else ".") + part
    return out


_FIXES = {
    "missing": "add it (see Pulumi.demo.yaml for a complete hall)",
    "extra_forbidden": "remove it or correct its spelling",
    "literal_error": "use one of the listed values",
}


def _pydantic_issues(exc: ValidationError) -> list[Issue]:
    issues = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.endswith("]")))
        # union members (str | dict) appear as loc parts named after the type: drop them
        loc = tuple(p for p in loc if p not in ("str", "dict[str,any]"))
        message = error["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(error["type"], "correct the value")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        issues.append(Issue(config_path(loc), message, fix))
    return _dedupe(issues)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[str] = set()
    out = []
    for issue in issues:
        if str(issue) not in seen:
            seen.add(str(issue))
            out.append(issue)
    return out


def load_spec(raw: Mapping[str, Any]) -> HallSpec:
    """The :class:`HallSpec` of a stack config (keys with or without the ``hall:`` namespace).

    Raises :class:`HallConfigError` listing every problem; nothing is touched before this passes.
    """
    data: dict[str, Any] = {}
    issues: list[Issue] = []
    for key, value in raw.items():
        namespace, _, name = key.rpartition(":")
        if namespace not in ("", NAMESPACE):
            continue  # another namespace's config (providers, pulumi:...) is none of our business
        if name not in CONFIG_KEYS:
            issues.append(
                Issue(f"{NAMESPACE}:{name}", "unknown key", f"use one of: {', '.join(CONFIG_KEYS)}")
            )
            continue
        data[name] = value
    if issues:
        raise HallConfigError(issues)
    try:
        spec = HallSpec.model_validate(data)
    except ValidationError as exc:
        raise HallConfigError(_pydantic_issues(exc)) from None
    issues = reference_issues(spec) + isolation_issues(spec)
    if issues:
        raise HallConfigError(_dedupe(issues))
    return spec


# -- the hall's rules ----------------------------------------------------------------------------------


def _known(keys: Any) -> str:
    names = sorted(keys)
    return ", ".join(names) if names else "none"


def reference_issues(spec: HallSpec) -> list[Issue]:
    """References between sections (hosts, networks, pools, images, policies) and uniqueness."""
    issues: list[Issue] = []
    try:
        catalog = {m.name: m for m in load_catalog()}
    except CatalogError as exc:  # pragma: no cover - the catalog ships with the package
        return [Issue(f"{NAMESPACE}:images", f"the image catalog cannot be read: {exc}", "fix the catalog")]

    for required in REQUIRED_NETWORKS:
        if required not in spec.networks:
            issues.append(
                Issue(
                    f"{NAMESPACE}:networks",
                    f"the hall needs a '{required}' network; defined: {_known(spec.networks)}",
                    f"add hall:networks.{required}",
                )
            )
    for key, host_spec in spec.hosts.items():
        for bridged in host_spec.bridges:
            if bridged not in spec.networks:
                issues.append(
                    Issue(
                        f"{NAMESPACE}:hosts.{key}.bridges.{bridged}",
                        f"network '{bridged}' is not defined in hall:networks; "
                        f"defined: {_known(spec.networks)}",
                        "name a defined network",
                    )
                )
    for key, net_spec in spec.networks.items():
        path = f"{NAMESPACE}:networks.{key}"
        for carrier in net_spec.hosts or []:
            if carrier not in spec.hosts:
                issues.append(
                    Issue(
                        f"{path}.hosts",
                        f"host '{carrier}' is not defined in hall:hosts; defined: {_known(spec.hosts)}",
                        "name a defined host",
                    )
                )
        if net_spec.forward == "bridge":
            if net_spec.subnet is not None:
                issues.append(
                    Issue(
                        f"{path}.subnet",
                        "a bridge-mode network takes its addresses from the physical LAN, not from libvirt",
                        "remove the subnet",
                    )
                )
            for carrier in spec.hosts_of_network(key):
                if carrier in spec.hosts and not (spec.hosts[carrier].bridges.get(key) or net_spec.bridge):
                    issues.append(
                        Issue(
                            f"{path}.bridge",
                            f"bridge mode needs the host bridge to join (none given for host '{carrier}')",
                            f"set {path}.bridge or hall:hosts.{carrier}.bridges.{key}",
                        )
                    )
        elif net_spec.subnet is None:
            issues.append(
                Issue(
                    f"{path}.subnet",
                    f"an {net_spec.forward} network needs a subnet",
                    "give a private /24, e.g. 10.231.1.0/24",
                )
            )
        elif net_spec.subnet.num_addresses < 8:
            issues.append(
                Issue(
                    f"{path}.subnet",
                    f"{net_spec.subnet} is too small for a gateway and DHCP",
                    "use at least a /29",
                )
            )
    for key, pool_spec in spec.pools.items():
        if pool_spec.host is not None and pool_spec.host not in spec.hosts:
            issues.append(
                Issue(
                    f"{NAMESPACE}:pools.{key}.host",
                    f"host '{pool_spec.host}' is not defined in hall:hosts; defined: {_known(spec.hosts)}",
                    "name a defined host",
                )
            )
    for name, image in spec.images.items():
        path = f"{NAMESPACE}:images.{name}"
        if name not in catalog:
            issues.append(
                Issue(
                    path,
                    f"'{name}' is not in the image catalog; known: {_known(catalog)}",
                    "use a name `hall images list` prints",
                )
            )
        for i, pool in enumerate(image.pools):
            if pool not in spec.pools:
                issues.append(
                    Issue(
                        f"{path}.pools[{i}]",
                        f"pool '{pool}' is not defined in hall:pools; defined: {_known(spec.pools)}",
                        "name a defined pool",
                    )
                )
        if (
            name in catalog
            and catalog[name].source.kind == "vendor-iso"
            and not (image.file and image.sha256)
        ):
            issues.append(
                Issue(
                    path,
                    f"'{name}' has no public disk image (built from the vendor ISO)",
                    f"install it from the ISO and set {path}.file and {path}.sha256",
                )
            )

    def check_policy(path: str, policy: PolicyConfig) -> None:
        try:
            Policy.from_mapping(policy, path)
        except PolicyError as exc:
            issues.append(Issue(exc.obj, exc.problem, exc.fix or "correct the policy"))
        pool = policy.get("backup_pool")
        if pool is not None and pool not in spec.pools:
            issues.append(
                Issue(
                    f"{path}.backup_pool",
                    f"pool '{pool}' is not defined in hall:pools; defined: {_known(spec.pools)}",
                    "name a defined pool (normally the storage tier's)",
                )
            )

    for key, named in spec.snapshot_policies.items():
        check_policy(f"{NAMESPACE}:snapshot_policies.{key}", named)

    def check_machine(
        path: str, image: str, host: str | None, networks: list[tuple[str, str]], host_path: str | None = None
    ) -> None:
        if host is not None and host not in spec.hosts:
            issues.append(
                Issue(
                    host_path or f"{path}.host",
                    f"host '{host}' is not defined in hall:hosts; defined: {_known(spec.hosts)}",
                    "name a defined host",
                )
            )
            host = None
        if image not in catalog:
            issues.append(
                Issue(
                    f"{path}.image",
                    f"'{image}' is not in the image catalog; known: {_known(catalog)}",
                    "use a name `hall images list` prints",
                )
            )
        elif image not in spec.images:
            issues.append(
                Issue(
                    f"{path}.image",
                    f"'{image}' is not imported by this hall; imported: {_known(spec.images)}",
                    f"add hall:images.{image} with the pools to hold it",
                )
            )
        else:
            where = host or spec.default_host
            pools = [p for p in spec.images[image].pools if p in spec.pools and spec.host_of_pool(p) == where]
            if not pools:
                issues.append(
                    Issue(
                        f"{path}.image",
                        f"'{image}' is not imported into any pool on host '{where}'",
                        f"add a pool on '{where}' to hall:images.{image}.pools",
                    )
                )
        for net_path, net in networks:
            if net not in spec.networks:
                issues.append(
                    Issue(
                        net_path,
                        f"network '{net}' is not defined in hall:networks; defined: {_known(spec.networks)}",
                        "name a defined network",
                    )
                )
            elif host is not None and host not in spec.hosts_of_network(net):
                issues.append(
                    Issue(
                        net_path,
                        f"network '{net}' is not carried by host '{host}'",
                        f"add '{host}' to hall:networks.{net}.hosts",
                    )
                )

    numbers: dict[int, int] = {}
    names: dict[str, int] = {}
    for i, window in enumerate(spec.windows):
        path = f"{NAMESPACE}:windows[{i}]"
        if window.number in numbers:
            issues.append(
                Issue(
                    f"{path}.number",
                    f"window {window.number} is already defined by hall:windows[{numbers[window.number]}]",
                    "give each window its own number",
                )
            )
        numbers.setdefault(window.number, i)
        if window.name in names:
            issues.append(
                Issue(
                    f"{path}.name",
                    f"window name {window.name!r} is already used by hall:windows[{names[window.name]}]",
                    "give each window its own name",
                )
            )
        names.setdefault(window.name, i)
        for side in SIDES:
            desktop = window.seat.side(side)
            side_path = f"{path}.seat.{side}"
            check_machine(
                side_path,
                desktop.image,
                window.host,
                [(f"{side_path}.network", window.seat.network_of(side))],
                host_path=f"{path}.host",
            )
        window_policy = window.snapshot_policy
        if isinstance(window_policy, str) and window_policy not in spec.snapshot_policies:
            issues.append(
                Issue(
                    f"{path}.snapshot_policy",
                    f"policy '{window_policy}' is not defined in "
                    f"hall:snapshot_policies; defined: {_known(spec.snapshot_policies)}",
                    "name a defined policy or give the policy inline",
                )
            )
        elif isinstance(window_policy, dict):
            check_policy(f"{path}.snapshot_policy", window_policy)

    vm_names: dict[str, str] = {}
    vms = [(f"{NAMESPACE}:app_tier.vms[{i}]", vm) for i, vm in enumerate(spec.app_tier.vms)]
    if spec.storage_tier.file_server is not None:
        vms.append((f"{NAMESPACE}:storage_tier.file_server", spec.storage_tier.file_server))
    for path, vm in vms:
        if vm.name in vm_names:
            issues.append(
                Issue(
                    f"{path}.name",
                    f"'{vm.name}' is already the name of {vm_names[vm.name]}",
                    "give each VM its own name",
                )
            )
        vm_names.setdefault(vm.name, path)
        check_machine(
            path, vm.image, vm.host, [(f"{path}.networks[{j}]", net) for j, net in enumerate(vm.networks)]
        )
    if spec.storage_tier.pool not in spec.pools:
        issues.append(
            Issue(
                f"{NAMESPACE}:storage_tier.pool",
                f"pool '{spec.storage_tier.pool}' is not defined "
                f"in hall:pools; defined: {_known(spec.pools)}",
                "name a defined pool",
            )
        )
    return issues


def isolation_issues(spec: HallSpec) -> list[Issue]:
    """Everything that would bridge ``gov`` and ``internet``, or put a seat's desktops on one network.

    Refused: a seat whose two desktops share a network; a machine (desktop or VM) with NICs on both;
    the two networks sharing a bridge name, joining the same host bridge in bridge mode (on any host),
    or having overlapping subnets. Any two networks sharing a bridge or overlapping are refused too,
    since either would merge their traffic.
    """
    issues: list[Issue] = []
    a, b = ISOLATED_PAIR
    for i, window in enumerate(spec.windows):
        path = f"{NAMESPACE}:windows[{i}].seat"
        gov_net, internet_net = window.seat.network_of("gov"), window.seat.network_of("internet")
        if gov_net == internet_net:
            issues.append(
                Issue(
                    f"{path}.internet.network",
                    f"both desktops of window {window.number} would "
                    f"be on network '{gov_net}'; a seat's desktops never share a network",
                    "put the gov desktop on 'gov' and the internet desktop on 'internet'",
                )
            )
        if gov_net == b:
            issues.append(
                Issue(
                    f"{path}.gov.network",
                    "the gov desktop would sit on the internet network",
                    "use network 'gov' for the gov side",
                )
            )
        if internet_net == a:
            issues.append(
                Issue(
                    f"{path}.internet.network",
                    "the internet desktop would sit on the gov network",
                    "use network 'internet' for the internet side",
                )
            )
    vms = [(f"{NAMESPACE}:app_tier.vms[{i}]", vm) for i, vm in enumerate(spec.app_tier.vms)]
    if spec.storage_tier.file_server is not None:
        vms.append((f"{NAMESPACE}:storage_tier.file_server", spec.storage_tier.file_server))
    for path, vm in vms:
        if a in vm.networks and b in vm.networks:
            issues.append(
                Issue(
                    f"{path}.networks",
                    f"VM '{vm.name}' would have NICs on both '{a}' and '{b}', bridging them",
                    f"remove '{a}' or '{b}' from its networks",
                )
            )
        if len(set(vm.networks)) != len(vm.networks):
            issues.append(Issue(f"{path}.networks", "a network is listed twice", "list each network once"))

    nets = list(spec.networks.items())
    for x, (key1, net1) in enumerate(nets):
        for key2, net2 in nets[x + 1 :]:
            pair = {key1, key2} == {a, b}
            what = f"'{key1}' and '{key2}'" + (" (never bridged: 一屏双机)" if pair else "")
            shared_hosts = set(spec.hosts_of_network(key1)) & set(spec.hosts_of_network(key2))
            if net1.bridge is not None and net1.bridge == net2.bridge and shared_hosts:
                issues.append(
                    Issue(
                        f"{NAMESPACE}:networks.{key2}.bridge",
                        f"networks {what} would share bridge '{net1.bridge}'",
                        "give each network its own bridge",
                    )
                )
            if net1.subnet is not None and net2.subnet is not None and net1.subnet.overlaps(net2.subnet):
                issues.append(
                    Issue(
                        f"{NAMESPACE}:networks.{key2}.subnet",
                        f"networks {what} have overlapping subnets {net1.subnet} and {net2.subnet}",
                        "give each network its own subnet",
                    )
                )
            if net1.forward == "bridge" and net2.forward == "bridge":
                for host in sorted(shared_hosts):
                    if host not in spec.hosts:
                        continue
                    dev1 = spec.hosts[host].bridges.get(key1) or net1.bridge
                    dev2 = spec.hosts[host].bridges.get(key2) or net2.bridge
                    if (
                        dev1 is not None
                        and dev1 == dev2
                        and not (net1.bridge is not None and net1.bridge == net2.bridge)
                    ):
                        issues.append(
                            Issue(
                                f"{NAMESPACE}:hosts.{host}.bridges",
                                f"host '{host}' would join networks {what} to the same bridge '{dev1}'",
                                "give each network its own host bridge",
                            )
                        )
    return issues
