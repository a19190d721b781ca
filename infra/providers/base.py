"""What every HallCloud dynamic provider shares: hosts from provider configuration, unknowns, errors.

A resource names its hypervisor by *host key* (``local``), never by URI: the provider reads the URIs
from the stack's ``hall:hosts`` config when the engine configures it (:meth:`HallProvider.configure`),
so a URI or credential never lands in a resource's inputs or in the state. ``HALLCLOUD_LIBVIRT_URI``
(every host) or ``HALLCLOUD_LIBVIRT_URI_<HOST>`` in the provider's environment override the config,
for test harnesses that run a private libvirtd (:func:`infra.settings.libvirt_uri_override` reads
them). Every method opens its own connection.

During ``pulumi preview`` an input computed by another resource is *unknown*: ``check`` and ``diff``
skip such values (see :func:`is_unknown`) instead of failing on them.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import libvirt
from pulumi.dynamic import CheckFailure, CheckResult, ConfigureRequest, DiffResult, ResourceProvider

from infra.settings import libvirt_uri_override
from vdi import cancel
from vdi.conn import connection

__all__ = [
    "BOOT_FIELDS",
    "UNKNOWN",
    "HallProvider",
    "HostNotConfigured",
    "changed_fields",
    "is_unknown",
    "require",
    "split_id",
]

UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
"""How the engine marks a value not known yet (preview); ``pulumi.runtime.rpc.UNKNOWN``."""
HOSTS_KEY = "hall:hosts"
BOOT_FIELDS = ("kernel", "initrd", "cmdline", "loader", "loader_type", "secure_boot", "nvram_template")
"""How a domain boots: what a GoldenImage provides and a Domain takes (replacing it when they change)."""


class HostNotConfigured(LookupError):
    """A resource names a host the stack config does not define."""


def is_unknown(value: Any) -> bool:
    """True when ``value`` (or anything inside it) is still unknown during preview."""
    if value is None or value == UNKNOWN:
        return value == UNKNOWN
    if isinstance(value, Mapping):
        return any(is_unknown(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(is_unknown(v) for v in value)
    return False


def changed_fields(olds: Mapping[str, Any], news: Mapping[str, Any], fields: tuple[str, ...]) -> list[str]:
    """The ``fields`` whose new value differs from the old one; unknown new values count as changed."""
    return [f for f in fields if is_unknown(news.get(f)) or olds.get(f) != news.get(f)]


def split_id(id_: str) -> tuple[str, str]:
    """A resource id ``host/rest`` as ``(host, rest)``."""
    host, _, rest = id_.partition("/")
    return host, rest


def require(news: Mapping[str, Any], fields: tuple[str, ...], kind: str) -> list[CheckFailure]:
    """Failures for required ``fields`` that are missing or empty (unknown values pass)."""
    return [
        CheckFailure(f, f"{kind}: '{f}' is required")
        for f in fields
        if not is_unknown(news.get(f)) and news.get(f) in (None, "", [])
    ]


PROVIDER_CALLS = ("check", "diff", "create", "read", "update", "delete")


def _in_flight(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        with cancel.busy():
            return method(*args, **kwargs)

    call.__hallcloud_busy__ = True  # type: ignore[attr-defined]
    return call


class HallProvider(ResourceProvider):
    """Base of the HallCloud providers: host-key -> URI from provider configuration.

    Every provider call counts as work in flight (:func:`vdi.cancel.busy`), so a provider process that is
    asked to stop finishes (or aborts and cleans up) what it is doing before it ends.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in PROVIDER_CALLS:
            method = cls.__dict__.get(name)
            if method is not None and not getattr(method, "__hallcloud_busy__", False):
                setattr(cls, name, _in_flight(method))

    kind = "resource"
    replace_fields: tuple[str, ...] = ()
    """Inputs whose change re-creates the object (libvirt cannot change them in place)."""
    update_fields: tuple[str, ...] = ()
    """Inputs the provider changes in place."""
    required: tuple[str, ...] = ("host", "name")

    def configure(self, req: ConfigureRequest) -> None:
        raw = req.config.get(HOSTS_KEY)
        if isinstance(raw, str):
            raw = json.loads(raw)
        hosts = raw or {}
        self._uris = {key: str((host or {}).get("uri", "qemu:///system")) for key, host in hosts.items()}

    def uri(self, host: str) -> str:
        override = libvirt_uri_override(host)
        if override:
            return override
        uris: dict[str, str] = getattr(self, "_uris", {})
        if host not in uris:
            raise HostNotConfigured(
                f"host '{host}' is not in the provider configuration (hall:hosts defines: "
                f"{', '.join(sorted(uris)) or 'nothing'}). Fix: add hall:hosts.{host}.uri to the stack config"
            )
        return uris[host]

    def id_of(self, inputs: Mapping[str, Any]) -> str:
        """The id a create with ``inputs`` gives its object (``host/name``; providers override)."""
        return f"{inputs['host']}/{inputs['name']}"

    def abandon(self, inputs: dict[str, Any]) -> None:
        """Remove whatever an interrupted create with ``inputs`` may have made (the engine recorded it as
        a pending create: it does not know whether the object exists). Deleting is idempotent."""
        self.delete(self.id_of(inputs), inputs)

    @contextmanager
    def connect(self, host: str) -> Iterator[libvirt.virConnect]:
        with connection(self.uri(host)) as conn:
            yield conn

    # -- check / diff -------------------------------------------------------------------------------

    def validate(self, news: dict[str, Any]) -> list[CheckFailure]:
        """Extra checks of known inputs; subclasses add theirs."""
        return []

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = require(news, self.required, self.kind) + self.validate(news)
        return CheckResult(news, failures)

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = changed_fields(olds, news, self.replace_fields)
        updates = changed_fields(olds, news, self.update_fields)
        return DiffResult(
            changes=bool(replaces or updates),
            replaces=replaces,
            stables=[f for f in self.replace_fields if f not in replaces],
            # names are fixed by the plan: the old object must go before its successor can exist
            delete_before_replace=True,
        )


for _name in PROVIDER_CALLS:
    if _name in HallProvider.__dict__:
        setattr(HallProvider, _name, _in_flight(HallProvider.__dict__[_name]))
