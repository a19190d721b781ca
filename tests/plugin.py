"""The one pytest plugin of the suite (registered by ``tests/conftest.py``): fixtures and helpers more
than one test package uses.

* ``SECRET_KEY`` (the token pepper of every test app), ``free_tcp_port`` / ``free_udp_port``,
  ``wait_for``, ``artifacts_dir`` (screenshots and logs);
* databases: a throwaway PostgreSQL server for the session and ``backend`` / ``db_url``, which run a
  database test on SQLite and on that server (migrated templates, a fresh copy per test);
* real SNMP agents on loopback (``snmpd_agent``, ``snmpsim_agent``; ``own_snmpd`` and ``own_snmpsim``
  for a test that stops and restarts its agent);
* hall devices as sshd in network namespaces (``client_key``, ``host_factory``, ``hosts``).

The components themselves live in ``device_manager.testing`` so the benchmarks can use them too.

PostgreSQL is Debian's (``postgresql`` package), started by hand for the session: ``initdb`` into a
temporary directory (as the ``postgres`` user when we are root, since initdb refuses root), ``pg_ctl
start`` on a free loopback port, trust authentication on loopback only. Each test gets a fresh database
cloned from a migrated template (``CREATE DATABASE ... TEMPLATE``), and SQLite tests a copy of a
migrated file, so migrations run once per backend and session.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from device_manager.core.security import issue_token
from device_manager.db import migrate
from device_manager.db.session import make_engine
from device_manager.testing.net import LOOPBACK, free_tcp_port, free_udp_port
from device_manager.testing.snmp_agents import SnmpdAgent, SnmpsimAgent
from device_manager.testing.ssh_hosts import HostFactory, SshHost, new_client_key

__all__ = [
    "LOOPBACK",
    "ROOT",
    "SECRET_KEY",
    "PostgresServer",
    "free_tcp_port",
    "free_udp_port",
    "mint_token",
    "sqlite_copy",
    "wait_for",
]

Agent = TypeVar("Agent", SnmpdAgent, SnmpsimAgent)
ROOT = Path(__file__).resolve().parent.parent
SECRET_KEY = "test-pepper-0123456789abcdef"


def mint_token(
    session_factory: Callable[[], Session],
    role: str,
    *,
    site_ids: list[int] | None = None,
    expires_days: int | None = 30,
    name: str | None = None,
) -> str:
    """A fresh API token of ``role`` in the app's database (hashed with :data:`SECRET_KEY`)."""
    with session_factory() as db:
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


def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    path = ROOT / "artifacts"
    path.mkdir(exist_ok=True)
    return path


# --- databases ---------------------------------------------------------------------------------------


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A throwaway PostgreSQL cluster on a loopback port, owned by this test session."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="hallcloud-pg-"))
        self.data = self.root / "data"
        self.port = free_tcp_port()
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


def sqlite_copy(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a private copy of the migrated SQLite template."""
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "device_manager.db"
    shutil.copyfile(template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def db_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty (seeded) database on ``backend``, private to this test."""
    if backend == "sqlite":
        yield sqlite_copy(request, tmp_path)
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


# --- SNMP agents -------------------------------------------------------------------------------------


def _need(binary: str) -> None:
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} is not installed (make setup installs Debian's snmpd and snmp)")


def _running(agent: Agent) -> Iterator[Agent]:
    """``agent`` started for the fixture's scope and closed after it."""
    try:
        agent.start()
        yield agent
    finally:
        agent.close()


@pytest.fixture(scope="session")
def snmpd_agent(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    """One snmpd for the session (do not stop it in a test; use ``own_snmpd`` for that)."""
    _need("snmpd")
    yield from _running(SnmpdAgent(tmp_path_factory.mktemp("snmpd")))


# snmpsim gets a directory of its own under /tmp: pytest's base temp directory is private to root
# (0700), and the simulator runs as nobody.
@pytest.fixture(scope="session")
def snmpsim_agent() -> Iterator[SnmpsimAgent]:
    """One snmpsim with every data file, for the session (do not stop it in a test)."""
    _need("snmpget")
    yield from _running(SnmpsimAgent())


@pytest.fixture
def own_snmpsim() -> Iterator[SnmpsimAgent]:
    """A private snmpsim the test may ``stop()`` and ``restart()`` (device down and back)."""
    yield from _running(SnmpsimAgent())


@pytest.fixture
def own_snmpd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SnmpdAgent]:
    """A private snmpd the test may ``stop()`` and ``restart()``."""
    yield from _running(SnmpdAgent(tmp_path_factory.mktemp("own-snmpd")))


# --- hall devices over SSH ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def client_key() -> tuple[str, str]:
    """(private key, authorized_keys line) the test devices accept."""
    return new_client_key()


@pytest.fixture(scope="session")
def host_factory(client_key: tuple[str, str]) -> Iterator[HostFactory]:
    if shutil.which("sshd") is None and not Path("/usr/sbin/sshd").exists():
        pytest.fail("openssh-server is not installed (make setup installs it)")
    factory = HostFactory(client_key[1])
    try:
        yield factory
    finally:
        factory.stop()


@pytest.fixture(scope="session")
def hosts(host_factory: HostFactory) -> dict[str, SshHost]:
    """One thin client, one calling display and one kiosk for the whole session, by device type."""
    return {
        device_type: host_factory.create(device_type)
        for device_type in ("thin_client", "calling_display", "kiosk")
    }
