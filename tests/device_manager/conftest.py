"""Fixtures for the device manager: every database test runs on SQLite and on a real PostgreSQL server.

The PostgreSQL server is Debian's (``postgresql`` package), started by hand for the session: ``initdb``
into a temporary directory (as the ``postgres`` user when we are root, since initdb refuses root),
``pg_ctl start`` on a free loopback port, trust authentication on loopback only. Each test gets a fresh
database cloned from a migrated template (``CREATE DATABASE ... TEMPLATE``), and SQLite tests a copy
of a migrated file, so migrations run once per backend and session.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from device_manager.core.config import Settings
from device_manager.core.secrets import generate_master_key
from device_manager.core.security import issue_token
from device_manager.db import migrate
from device_manager.db.session import make_engine, make_session_factory
from device_manager.main import create_app
from tests.device_manager.snmp_agents import own_snmpd  # noqa: F401 - fixture for the end-to-end tests

LOOPBACK = "127.0.0.1"
SECRET_KEY = "test-pepper-0123456789abcdef"


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port, owned by this test session."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="hallcloud-pg-"))
        self.data = self.root / "data"
        self.port = _free_tcp_port()
        self.as_root = os.geteuid() == 0

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd="/")

    def start(self) -> None:
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")
        result = self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed: {result.stderr.strip()}")
        options = (
            f"-c listen_addresses={LOOPBACK} -p {self.port} -k {self.root} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        result = self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )
        if result.returncode != 0:
            log = (self.root / "server.log").read_text() if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"pg_ctl start failed: {result.stderr.strip()} {log[-2000:]}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@{LOOPBACK}:{self.port}/{database}"

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = _pg_bin()
    if bindir is None:
        pytest.fail("PostgreSQL is not installed (make setup installs Debian's postgresql package)")
    server = PostgresServer(bindir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> str:
    admin = create_engine(postgres_server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("CREATE DATABASE hallcloud_template"))
    admin.dispose()
    engine = make_engine(postgres_server.url("hallcloud_template"))
    migrate.upgrade(engine)
    engine.dispose()
    return "hallcloud_template"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()  # the last connection to close checkpoints the WAL into the file
    assert not path.with_name(path.name + "-wal").exists()
    return path


_counter = itertools.count()

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty (seeded) database on ``backend``, private to this test."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "device_manager.db"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    template_name: str = request.getfixturevalue("postgres_template")
    name = f"t_{os.getpid()}_{next(_counter)}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE {template_name}'))
    try:
        yield server.url(name)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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


class Api:
    """An app plus helpers to mint tokens and call it as a given role."""

    def __init__(self, app: Any, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.session_factory = app.state.session_factory

    def token(
        self,
        role: str,
        site_ids: list[int] | None = None,
        expires_days: int | None = 30,
        name: str | None = None,
    ) -> str:
        with self.session_factory() as db:
            _row, token = issue_token(
                db,
                SECRET_KEY,
                name=name or f"test-{role}",
                role=role,
                site_ids=site_ids,
                expires_days=expires_days,
                created_by="tests",
            )
            db.commit()
        return token

    def headers(self, role: str = "admin", site_ids: list[int] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, site_ids)}"}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[Api]:
    app = create_app(settings, run_background=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hall.test") as client:
        yield Api(app, client)
    app.state.engine.dispose()


@pytest.fixture
def session_factory(settings: Settings) -> Iterator[Any]:
    engine = make_engine(settings.sqlalchemy_url)
    yield make_session_factory(engine)
    engine.dispose()


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()
