"""Helpers of the browser tests: Debian's Chromium under Playwright (never a downloaded browser), and
pages whose uncaught JavaScript errors fail the test (the fixtures are in ``conftest.py``; the demo's tests
use the same helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 90_000


@contextmanager
def chromium() -> Iterator[Any]:
    """Chromium, launched headless. Keep it open for a package at most: Playwright's sync API keeps an
    event loop running while it is open, which the asyncio tests of later packages could not run beside."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def checked_page(browser: Any) -> Iterator[Any]:
    """A fresh context and page (zh-CN); uncaught JavaScript errors on it, or on a page it opens, fail the
    test once the block ends."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    context.set_default_timeout(TIMEOUT_MS)  # generous: the test machine is shared and often loaded
    errors = watch_page_errors(context)
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()
    if errors:
        pytest.fail("JavaScript error(s) on the page:\n" + "\n".join(errors), pytrace=False)


def watch_page_errors(context: Any) -> list[str]:
    """Collect the uncaught JavaScript errors of every page of ``context`` (those opened later too)."""
    errors: list[str] = []
    watched: set[int] = set()

    def watch(pg: Any) -> None:
        if id(pg) not in watched:
            watched.add(id(pg))
            pg.on("pageerror", lambda error: errors.append(f"{pg.url}: {error}"))

    context.on("page", watch)
    for pg in context.pages:
        watch(pg)
    return errors
