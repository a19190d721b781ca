"""Root of the suite: registers the one shared plugin (``tests/plugin.py``) for every test package."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.plugin"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that reproduce a fresh host (they restart libvirtd) run before anything holds libvirt."""
    items.sort(key=lambda item: 0 if item.get_closest_marker("fresh_host") else 1)


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or changes the state of the person running the tests (their demo stack, say):
    HallCloud's state directory is a fresh one unless a test sets its own."""
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path_factory.mktemp("state")))
