"""Small builders shared by the device-manager API tests, and :class:`Api` (the app plus tokens)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.plugin import mint_token

API = "/api/v1"

# the hall's device types (ARCHITECTURE.md); the registry may add more, each with its own file
HALL_TYPES = {
    "kiosk",
    "queue_ticket_machine",
    "calling_display",
    "printer",
    "id_reader",
    "thin_client",
    "switch",
    "ups",
    "camera",
}


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], path: str, **body: Any
) -> dict[str, Any]:
    response = await client.post(f"{API}/{path}", json=body, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def site(
    client: httpx.AsyncClient, headers: dict[str, str], slug: str = "north-hall"
) -> dict[str, Any]:
    return await create(client, headers, "sites", name=f"{slug} 行政服务中心", slug=slug)


async def device(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    site_id: int,
    name: str = "printer-1",
    device_type: str = "printer",
    address: str = "10.20.0.5",
    **extra: Any,
) -> dict[str, Any]:
    return await create(
        client,
        headers,
        "devices",
        name=name,
        site_id=site_id,
        device_type=device_type,
        address=address,
        **extra,
    )


async def count(client: httpx.AsyncClient, headers: dict[str, str], path: str) -> int:
    response = await client.get(f"{API}/{path}", headers=headers)
    assert response.status_code == 200, response.text
    return int(response.json()["count"])


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
        return mint_token(self.session_factory, role, site_ids=site_ids, expires_days=expires_days, name=name)

    def headers(self, role: str = "admin", site_ids: list[int] | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token(role, site_ids)}"}
