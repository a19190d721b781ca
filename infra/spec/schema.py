"""The shape of the hall's stack config: typed, strict pydantic models (types, unknown keys, ranges).

What the sections mean for one another (references, uniqueness, isolation) is checked afterwards by
:mod:`infra.spec.references` and :mod:`infra.spec.isolation`; :func:`infra.spec.load_spec` runs both.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from vdi.seats import SIDES as SEAT_SIDES

__all__ = [
    "CONFIG_KEYS",
    "ISOLATED_PAIR",
    "NAMESPACE",
    "REQUIRED_NETWORKS",
    "SIDES",
    "AppTierSpec",
    "DesktopSpec",
    "HallSpec",
    "HostSpec",
    "ImageSpec",
    "NetworkSpec",
    "PolicyConfig",
    "PoolSpec",
    "SeatSpec",
    "SettingsSpec",
    "StorageTierSpec",
    "VmSpec",
    "WindowSpec",
]

NAMESPACE = "hall"
REQUIRED_NETWORKS = ("gov", "internet", "mgmt", "storage")
SIDES = SEAT_SIDES
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
