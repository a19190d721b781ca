"""Fixtures of the device-manager tests: settings on a private database (SQLite, and PostgreSQL for
tests parametrized over ``backend``; see ``tests/plugin.py``), the app behind an in-process client
(``api``), and the app the SSH, playbook and window-setup tests drive against namespaced sshd devices
(``ops_api``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from device_manager.core.config import Settings
from device_manager.core.secrets import generate_master_key
from device_manager.db.session import make_engine, make_session_factory
from device_manager.main import create_app
from tests.device_manager.dm_helpers import Api
from tests.device_manager.ops import OpsApi
from tests.plugin import SECRET_KEY, sqlite_copy


@pytest.fixture
def make_settings(db_url: str, tmp_path: Path) -> Callable[..., Settings]:
    master_key = generate_master_key()

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "environment": "test",
            "data_dir": tmp_path,
            "database_url": db_url,
            "secret_key": SECRET_KEY,
            "master_key": master_key,
            "polling_enabled": False,
            "migrate_on_startup": False,
            "rate_limit_per_minute": 100_000,
            "rate_limit_burst": 100_000,
            "auth_failure_limit_per_minute": 10_000,
            "auth_failure_burst": 10_000,
            "webhook_backoff_s": 0.01,
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    """The app (its lifespan started: registries synced, runtime running) behind an in-process client."""
    app = create_app(settings, run_background=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hall.test") as client,
    ):
        yield Api(app, client)


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[Any]:
    engine = make_engine(settings.sqlalchemy_url)
    yield make_session_factory(engine)
    engine.dispose()


# --- operations against namespaced sshd devices ---------------------------------------------------


@pytest.fixture
def ops_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite, unless the test is parametrized over ``backend`` (then also a real PostgreSQL)."""
    if "backend" in request.fixturenames:
        yield request.getfixturevalue("db_url")
    else:
        yield sqlite_copy(request, tmp_path)


@pytest.fixture
def ops_settings(ops_db_url: str, tmp_path: Path) -> Settings:
    """The settings of ``ops_api``: each test device's files under its own root in ``tmp_path``."""
    return Settings(
        environment="test",
        data_dir=tmp_path,
        database_url=ops_db_url,
        secret_key=SECRET_KEY,
        master_key=generate_master_key(),
        polling_enabled=False,
        migrate_on_startup=False,
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
        device_root_template=str(tmp_path / "roots" / "{device}"),
        ssh_connect_timeout_s=5,
        ansible_python_interpreter="/usr/bin/python3",
        ansible_timeout_s=5,
        job_workers=4,
    )


@pytest.fixture
async def ops_api(ops_settings: Settings, tmp_path: Path) -> AsyncIterator[OpsApi]:
    app = create_app(ops_settings, run_background=False)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://hall.test", timeout=60) as client,
    ):
        yield OpsApi(app, client, tmp_path / "roots")
