"""Small halls for tests and benchmarks: one local host, the four hall networks on one /16 of their
own (``10.<octet>.0.0/16``, so concurrent halls do not clash), a desktop pool and a backup pool."""

from __future__ import annotations

from typing import Any

__all__ = ["small_hall_config"]


def small_hall_config(
    *,
    name: str,
    prefix: str,
    uri: str,
    octet: int,
    image: str,
    windows: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Stack config (``hall:*`` keys) of a small hall; ``extra`` adds keys such as
    ``snapshot_policies=...`` as ``hall:snapshot_policies``."""
    config: dict[str, Any] = {
        "hall:name": name,
        "hall:prefix": prefix,
        "hall:hosts": {"local": {"uri": uri}},
        "hall:networks": {
            "gov": {"forward": "isolated", "subnet": f"10.{octet}.1.0/24"},
            "internet": {"forward": "nat", "subnet": f"10.{octet}.2.0/24"},
            "mgmt": {"forward": "isolated", "subnet": f"10.{octet}.3.0/24"},
            "storage": {"forward": "isolated", "subnet": f"10.{octet}.4.0/24"},
        },
        "hall:pools": {"desktops": {}, "backup": {}},
        "hall:images": {image: {"pools": ["desktops"]}},
        "hall:storage_tier": {"pool": "backup"},
        "hall:windows": list(windows or []),
        "hall:settings": {"start_desktops": True, "address_wait_seconds": 0},
    }
    config.update({f"hall:{key}": value for key, value in extra.items()})
    return config
