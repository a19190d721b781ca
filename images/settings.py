"""Every environment variable images reads is read here.

========================  ==================================================  ======================
variable                  what                                                default
========================  ==================================================  ======================
``HALLCLOUD_CACHE_DIR``   HallCloud's cache: apt lists, .debs, test images,   ``~/.cache/hallcloud``
                          firmware (downloads and builds, never state)
========================  ==================================================  ======================

:mod:`images.testimage.apt` hands the environment on to ``apt-get`` (with its own ``APT_CONFIG``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_dir"]

CACHE_DIR_ENV = "HALLCLOUD_CACHE_DIR"


def cache_dir() -> Path:
    """``$HALLCLOUD_CACHE_DIR``, else ``~/.cache/hallcloud``."""
    value = os.environ.get(CACHE_DIR_ENV)
    return Path(value) if value else Path.home() / ".cache" / "hallcloud"
