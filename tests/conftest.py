"""Root of the suite: registers the one shared plugin (``tests/plugin.py``) for every test package."""

from __future__ import annotations

pytest_plugins = ["tests.plugin"]
