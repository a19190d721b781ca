"""Helpers of the tests that drive namespaced sshd devices through the API (SSH operations, playbooks,
window setup): :class:`OpsApi` calls the app as a role and waits for jobs; :func:`make_hall` builds a
site, a window and an inventory that knows the test devices. The fixtures are in ``conftest.py``."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from device_manager.runtime import Runtime
from device_manager.testing.ssh_hosts import SshHost
from tests.plugin import mint_token

API = "/api/v1"


class OpsApi:
    def __init__(self, app: Any, client: httpx.AsyncClient, roots: Path) -> None:
        self.app = app
        self.client = client
        self.roots = roots
        self._headers: dict[str, dict[str, str]] = {}

    def headers(self, role: str = "admin") -> dict[str, str]:
        if role not in self._headers:
            token = mint_token(self.app.state.session_factory, role, expires_days=1, name=f"ops-{role}")
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

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@dataclass
class Hall:
    site_id: int
    window_id: int
    window_number: int
    credential_id: int
    devices: dict[str, dict[str, Any]]  # device type -> device


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
    for device_type, host in hosts.items():
        extra = {"window_id": window["id"]} if device_type in ("thin_client", "calling_display") else {}
        devices[device_type] = (
            await api.post(
                "devices",
                expect=201,
                name=f"{device_type.replace('_', '-')}-{number}",
                site_id=site["id"],
                device_type=device_type,
                address=host.address,
                ssh_credential_id=cred["id"],
                **extra,
            )
        ).json()
        if trust:
            await api.post(
                f"devices/{devices[device_type]['id']}/ssh/trust",
                expect=200,
                fingerprint=host.host_key_fingerprint(),
            )
    return Hall(site["id"], window["id"], number, cred["id"], devices)
