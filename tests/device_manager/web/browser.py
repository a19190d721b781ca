"""Helpers of the browser tests (the fixtures are in ``conftest.py``)."""

from __future__ import annotations

from typing import Any


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
