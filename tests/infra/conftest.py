"""Fixtures for infra tests: the demo hall's raw stack config, and a copy to break."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEMO_STACK = ROOT / "Pulumi.demo.yaml"


def demo_config() -> dict[str, Any]:
    data = yaml.safe_load(DEMO_STACK.read_text())
    return copy.deepcopy(data["config"])


@pytest.fixture
def demo_raw() -> dict[str, Any]:
    return demo_config()
