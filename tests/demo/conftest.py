"""The demo's browser: the web tests' Chromium helpers, opened for this package."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.device_manager.web.browser import checked_page, chromium


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with checked_page(browser) as pg:
        yield pg
