"""Translations of the web pages: one JSON catalog per language, zh-CN first (the hall's language).

The pages translate themselves in the browser from ``/ui/i18n/<lang>.json``; the server uses
:func:`translate` for the few strings it renders itself. Every catalog must have the same keys as
zh-CN (checked by the tests).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

DEFAULT_LANGUAGE = "zh-CN"
LANGUAGES = ("zh-CN", "en")
CATALOG_DIR = Path(__file__).resolve().parent


@functools.cache
def catalog(language: str) -> dict[str, str]:
    if language not in LANGUAGES:
        raise KeyError(f"language {language!r} is not offered; offered: {', '.join(LANGUAGES)}")
    data: dict[str, str] = json.loads((CATALOG_DIR / f"{language}.json").read_text(encoding="utf-8"))
    return data


def pick_language(accept_language: str | None, chosen: str | None = None) -> str:
    """``chosen`` if offered, else zh-CN unless the browser asks for English first."""
    if chosen in LANGUAGES:
        return str(chosen)
    first = (accept_language or "").split(",")[0].strip().lower()
    return "en" if first.startswith("en") else DEFAULT_LANGUAGE


def translate(key: str, language: str = DEFAULT_LANGUAGE) -> str:
    return catalog(language).get(key) or catalog(DEFAULT_LANGUAGE).get(key, key)
