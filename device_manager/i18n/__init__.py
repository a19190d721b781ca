"""Translations of the web pages: one JSON catalog per language, zh-CN first (the hall's language).

The pages translate themselves in the browser from ``/ui/i18n/<lang>.json``; the server uses
:func:`translate` for the few strings it renders itself. The JSON files hold the pages' own strings;
the names of device types (``type.<device type>``) and of alert kinds (``kind.<kind>``) are added from
their registries (``device_manager/device_types``, ``device_manager/alert_kinds.py``), so they are
written once. Every catalog has the same keys as zh-CN (checked by the tests).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from device_manager.alert_kinds import ALERT_KINDS
from device_manager.device_types import Registry, default_registry

__all__ = [
    "CATALOG_DIR",
    "DEFAULT_LANGUAGE",
    "LANGUAGES",
    "build_catalog",
    "catalog",
    "pick_language",
    "translate",
]

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")
CATALOG_DIR = Path(__file__).resolve().parent
DERIVED_PREFIXES = ("type.", "kind.")


def _page_strings(language: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((CATALOG_DIR / f"{language}.json").read_text(encoding="utf-8"))
    derived = sorted(k for k in data if k.startswith(DERIVED_PREFIXES))
    if derived:
        raise ValueError(
            f"{CATALOG_DIR / f'{language}.json'}: {', '.join(derived)} come from the registries "
            "(device_types/*.yaml labels, alert_kinds.py); remove them here"
        )
    return data


def build_catalog(language: str, registry: Registry) -> dict[str, str]:
    """The catalog of ``language`` with the labels of ``registry``'s device types and the alert kinds."""
    if language not in LANGUAGES:
        raise KeyError(f"language {language!r} is not offered; offered: {', '.join(LANGUAGES)}")
    data = _page_strings(language)
    data.update({f"type.{spec.slug}": spec.labels.get(language) for spec in registry})
    data.update({f"kind.{kind.name}": kind.labels[language] for kind in ALERT_KINDS.values()})
    return data


@functools.cache
def catalog(language: str) -> dict[str, str]:
    return build_catalog(language, default_registry())


def pick_language(accept_language: str | None, chosen: str | None = None) -> str:
    """``chosen`` if offered, else zh-CN unless the browser asks for English first."""
    if chosen in LANGUAGES:
        return str(chosen)
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LANGUAGE


def translate(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    return catalog(language).get(key) or catalog(DEFAULT_LANGUAGE).get(key, key)
