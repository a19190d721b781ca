"""images' settings: the cache directory is the only environment variable, read in images.settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from images import settings
from images.testimage import default_cache_dir
from tests.vdi.test_settings import environment_reads

IMAGES = Path(__file__).resolve().parents[2] / "images"
PASSES_THE_ENVIRONMENT_ON = {"images/testimage/apt.py"}
"""Runs apt-get with the caller's environment plus its own APT_CONFIG; reads no setting of its own."""


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(p.relative_to(IMAGES.parent))
        for p in sorted(IMAGES.rglob("*.py"))
        if p.name != "settings.py" and environment_reads(p)
    }
    assert readers == PASSES_THE_ENVIRONMENT_ON


def test_the_cache_directory_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.CACHE_DIR_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "hallcloud"
    monkeypatch.setenv(settings.CACHE_DIR_ENV, str(tmp_path / "cache"))
    assert default_cache_dir() == tmp_path / "cache"
