"""Fixtures for the web tests: the device manager served by a real uvicorn on loopback, and Debian's
Chromium driven by Playwright (never a downloaded browser). A JavaScript error on any page of a test's
browser context fails that test."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from device_manager.core.config import Settings
from device_manager.core.secrets import generate_master_key
from device_manager.main import create_app
from device_manager.testing.net import free_tcp_port
from tests.device_manager.web.browser import checked_page, chromium
from tests.plugin import SECRET_KEY, mint_token


@dataclass
class LiveServer:
    app: Any
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def token(
        self, role: str = "admin", site_ids: list[int] | None = None, expires_days: int | None = 1
    ) -> str:
        session_factory = self.app.state.session_factory
        return mint_token(
            session_factory, role, site_ids=site_ids, expires_days=expires_days, name=f"web-{role}"
        )


def web_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "data_dir": tmp_path,
        "database_url": f"sqlite:///{tmp_path / 'dm.db'}",
        "secret_key": SECRET_KEY,
        "master_key": generate_master_key(),
        "polling_enabled": False,
        "migrate_on_startup": True,
        "rate_limit_per_minute": 100_000,
        "rate_limit_burst": 100_000,
        "auth_failure_limit_per_minute": 10_000,
        "auth_failure_burst": 10_000,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Start the device manager with given settings overrides (and app.state values) on a free port."""
    started: list[LiveServer] = []

    def start(state: dict[str, Any] | None = None, **overrides: Any) -> LiveServer:
        app = create_app(web_settings(tmp_path, **overrides))
        for key, value in (state or {}).items():
            setattr(app.state, key, value)
        port = free_tcp_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the device manager did not start")
            time.sleep(0.05)
        live = LiveServer(app, f"http://127.0.0.1:{port}", server, thread)
        started.append(live)
        return live

    yield start
    for live in started:  # the app's lifespan stops its runtime (poller sockets, proxies, jobs)
        live.server.should_exit = True
        live.thread.join(timeout=15)


@pytest.fixture(scope="package")
def browser() -> Iterator[Any]:
    """Chromium for the web tests (package scope, see :func:`chromium`)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page (zh-CN); JavaScript errors on it fail the test."""
    with checked_page(browser) as pg:
        yield pg
