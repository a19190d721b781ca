"""Shared pytest configuration: artifacts directory for screenshots and logs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that reproduce a fresh host (they restart libvirtd) run before anything holds libvirt."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("fresh_host") else 1)
