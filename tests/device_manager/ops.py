"""Fixtures of the operations tests: namespaced sshd test devices (a thin client, a calling display and
a kiosk) and a device-manager app on SQLite whose inventory knows them."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from device_manager.core.config import Settings
from device_manager.core.secrets import generate_master_key
from device_manager.core.security import issue_token
from device_manager.jobs.runtime import OpsSettings, ops_runtime
from device_manager.main import create_app
from tests.device_manager.conftest import (  # noqa: F401 - fixtures
    SECRET_KEY,
    backend,
    db_url,
    postgres_server,
    postgres_template,
    sqlite_template,
)
from tests.ops.hosts import HostFactory, SshHost, new_client_key

API = "/api/v1"


@pytest.fixture(scope="session")
def client_key() -> tuple[str, str]:
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
    """One thin client, one calling display and one kiosk for the whole session."""
    return {role: host_factory.create(role) for role in ("thin_client", "calling_display", "kiosk")}


class OpsApi:
    def __init__(self, app: Any, client: httpx.AsyncClient, roots: Path) -> None:
        self.app = app
        self.client = client
        self.roots = roots
        self._headers: dict[str, dict[str, str]] = {}

    def headers(self, role: str = "admin") -> dict[str, str]:
        if role not in self._headers:
            with self.app.state.session_factory() as db:
                _row, token = issue_token(
                    db,
                    SECRET_KEY,
                    name=f"ops-{role}",
                    role=role,
                    site_ids=None,
                    expires_days=1,
                    created_by="tests",
                )
                db.commit()
            self._headers[role] = {"Authorization": f"Bearer {token}"}
        return self._headers[role]

    async def post(self, path: str, role: str = "admin", expect: int | None = None, **body: Any) -> Any:
        response = await self.client.post(f"{API}/{path}", json=body, headers=self.headers(role))
        if expect is not None:
            assert response.status_code == expect, response.text
        return response

    async def get(self, path: str, role: str = "admin", **params: Any) -> httpx.Response:
        return await self.client.get(f"{API}/{path}", params=params, headers=self.headers(role))

    async def wait_job(self, job_id: int, timeout: float = 120.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            job = (await self.get(f"jobs/{job_id}")).json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return dict(job)
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")
            await asyncio.sleep(0.1)

    async def log(self, job_id: int) -> list[str]:
        return [line["text"] for line in (await self.get(f"jobs/{job_id}/log")).json()]

    def root(self, device_name: str) -> Path:
        return self.roots / device_name


@pytest.fixture
def ops_settings(tmp_path: Path) -> OpsSettings:
    return OpsSettings(
        device_root_template=str(tmp_path / "roots" / "{device}"),
        ssh_connect_timeout_s=5,
        ansible_python_interpreter="/usr/bin/python3",
        ansible_timeout_s=5,
        job_workers=4,
    )


@pytest.fixture
def ops_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite, unless the test is parametrized over ``backend`` (then also a real PostgreSQL)."""
    chosen = request.getfixturevalue("backend") if "backend" in request.fixturenames else "sqlite"
    if chosen == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        db_path = tmp_path / "device_manager.db"
        shutil.copyfile(template, db_path)
        yield f"sqlite:///{db_path}"
        return
    yield request.getfixturevalue("db_url")


@pytest.fixture
async def ops_api(ops_db_url: str, tmp_path: Path, ops_settings: OpsSettings) -> AsyncIterator[OpsApi]:
    settings = Settings(
        environment="test",
        data_dir=tmp_path,
        database_url=ops_db_url,
        secret_key=SECRET_KEY,
        master_key=generate_master_key(),
        polling_enabled=False,
        migrate_on_startup=False,
        rate_limit_per_minute=100_000,
        rate_limit_burst=100_000,
    )
    app = create_app(settings, run_background=False)
    app.state.ops_settings = ops_settings
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hall.test", timeout=60) as client:
        yield OpsApi(app, client, tmp_path / "roots")
    ops_runtime(app.state).jobs.shutdown()
    app.state.engine.dispose()


@dataclass
class Hall:
    site_id: int
    window_id: int
    window_number: int
    credential_id: int
    devices: dict[str, dict[str, Any]]  # role -> device


async def make_hall(
    api: OpsApi,
    hosts: dict[str, SshHost],
    private_key: str,
    *,
    trust: bool = True,
    number: int = 7,
    slug: str = "north-hall",
) -> Hall:
    site = (await api.post("sites", expect=201, name=f"{slug} 行政服务中心", slug=slug)).json()
    window = (
        await api.post(
            "windows",
            expect=201,
            site_id=site["id"],
            number=number,
            name="不动产登记",
            services=["不动产登记", "抵押登记"],
        )
    ).json()
    cred = (
        await api.post(
            "credential-profiles",
            expect=201,
            kind="ssh",
            name=f"ssh-{slug}",
            username="root",
            private_key=private_key,
        )
    ).json()
    devices = {}
    for role, host in hosts.items():
        extra = {"window_id": window["id"]} if role in ("thin_client", "calling_display") else {}
        devices[role] = (
            await api.post(
                "devices",
                expect=201,
                name=f"{role.replace('_', '-')}-{number}",
                site_id=site["id"],
                device_type=role,
                address=host.address,
                ssh_credential_id=cred["id"],
                **extra,
            )
        ).json()
        if trust:
            await api.post(
                f"devices/{devices[role]['id']}/ssh/trust",
                expect=200,
                fingerprint=host.host_key_fingerprint(),
            )
    return Hall(site["id"], window["id"], number, cred["id"], devices)
