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


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or changes the state of the person running the tests (their demo stack, say):
    HallCloud's state directory is a fresh one unless a test sets its own."""
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path_factory.mktemp("state")))
