"""The hall's stack configuration as a typed spec, validated before anything is touched.

The stack config (``Pulumi.<stack>.yaml``, namespace ``hall``) *is* the hall: hosts (libvirt URIs),
networks, pools, golden images from the catalog, the app tier, the storage tier, snapshot policies and
the service windows with their seats. :func:`load_spec` turns the raw config into a :class:`HallSpec`
or raises :class:`HallConfigError`, whose every line names the config path, the problem and the fix::

    hall:windows[3].seat.internet.image: 'uos-21' is not in the image catalog; known: ... Fix: ...

Validation has two layers, one module each, and this package only runs them in order:

- :mod:`infra.spec.schema`      the shape: pydantic models (types, unknown keys, ranges)
- :mod:`infra.spec.references`  the hall's reference rules: every key one section names exists in
                                 another, window numbers and names and VM names are unique
- :mod:`infra.spec.isolation`   *isolation*: nothing may bridge the ``gov`` extranet and the
                                 ``internet`` network
- :mod:`infra.spec.issues`      :class:`Issue` and :class:`HallConfigError`, and the one wording of a
                                 dangling reference ("... is not defined in hall:X; defined: ...")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from infra.spec.isolation import isolation_issues
from infra.spec.issues import HallConfigError, Issue, dedupe, pydantic_issues
from infra.spec.references import reference_issues
from infra.spec.schema import (
    CONFIG_KEYS,
    ISOLATED_PAIR,
    NAMESPACE,
    REQUIRED_NETWORKS,
    SIDES,
    AppTierSpec,
    DesktopSpec,
    HallSpec,
    HostSpec,
    ImageSpec,
    NetworkSpec,
    PolicyConfig,
    PoolSpec,
    SeatSpec,
    SettingsSpec,
    StorageTierSpec,
    VmSpec,
    WindowSpec,
)

__all__ = [
    "CONFIG_KEYS",
    "ISOLATED_PAIR",
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
    "reference_issues",
]


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
        raise HallConfigError(pydantic_issues(exc)) from None
    issues = reference_issues(spec) + isolation_issues(spec)
    if issues:
        raise HallConfigError(dedupe(issues))
    return spec
