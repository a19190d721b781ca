"""The demo hall's inventory, entered the way IT staff would: through the controller's API.

A site for the hall, its areas, the stack's windows, credential profiles (SNMP communities, the SSH key
of the window devices), every simulated device, and the trusted SSH host key of each window device
(the explicit first-contact step, with the fingerprint the device was made with). Running it again
adds only what is missing: objects are found by their natural keys (site slug, window number, device
and profile names) before anything is created.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from device_manager.demo.devices import DemoDevice
from infra.spec import HallSpec

__all__ = ["SITE_SLUG", "Seeded", "seed"]

SITE_SLUG = "demo"
API = "/api/v1"
Say = Callable[[str], None]


@dataclass
class Seeded:
    site_id: int
    windows: dict[int, int]
    """Window number -> window id."""
    devices: dict[str, int]
    created: int


class _Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url + API, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        self._check(response)
        return response.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(path, json=body)
        self._check(response)
        return response.json()

    def all(self, path: str, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            page = self.get(path, limit=1000, offset=len(items), **params)
            items += page["results"]
            if len(items) >= page["count"] or not page["results"]:
                return items

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            raise RuntimeError(
                f"the controller answered {response.status_code} to {response.request.method} "
                f"{response.request.url.path}: {response.text[:500]}"
            )


def seed(url: str, token: str, spec: HallSpec, devices: list[DemoDevice], ssh_key: str, say: Say) -> Seeded:
    api = _Api(url, token)
    created = 0
    site = next((s for s in api.all("/sites") if s["slug"] == SITE_SLUG), None)
    if site is None:
        site = api.post("/sites", {"name": spec.name, "slug": SITE_SLUG, "address": "demo district"})
        created += 1
    areas = {a["name"]: a["id"] for a in api.all("/areas", site_id=site["id"])}
    wanted_areas = sorted({d.area for d in devices if d.area} | {_area_of(w.number) for w in spec.windows})
    for name in wanted_areas:
        if name not in areas:
            areas[name] = api.post("/areas", {"site_id": site["id"], "name": name})["id"]
            created += 1
    windows = {w["number"]: w["id"] for w in api.all("/windows", site_id=site["id"])}
    for window in spec.windows:
        if window.number not in windows:
            window_body = {
                "site_id": site["id"],
                "area_id": areas[_area_of(window.number)],
                "number": window.number,
                "name": window.name,
                "services": [window.name.split()[0]],
            }
            windows[window.number] = api.post("/windows", window_body)["id"]
            created += 1
    profiles = {p["name"]: p["id"] for p in api.all("/credential-profiles")}

    def profile(name: str, body: dict[str, Any]) -> int:
        nonlocal created
        if name not in profiles:
            profiles[name] = api.post("/credential-profiles", {"name": name, **body})["id"]
            created += 1
        return profiles[name]

    ssh_profile = profile(
        "demo-window-devices-ssh", {"kind": "ssh", "username": "root", "private_key": ssh_key}
    )
    known = {d["name"]: d["id"] for d in api.all("/devices", site_id=site["id"])}
    for device in devices:
        if device.name in known:
            continue
        body: dict[str, Any] = {
            "name": device.name,
            "site_id": site["id"],
            "device_type": device.device_type,
            "address": device.address,
            "snmp_port": device.snmp_port,
            "snmp_credential_id": profile(
                f"demo-snmp-{device.community}", {"kind": "snmp_v2c", "community": device.community}
            ),
            "tags": ["demo"],
        }
        if device.window is not None:
            body["window_id"] = windows[device.window]
            body["area_id"] = areas[_area_of(device.window)]
        elif device.area:
            body["area_id"] = areas[device.area]
        if device.ssh:
            body["ssh_credential_id"] = ssh_profile
        known[device.name] = api.post("/devices", body)["id"]
        created += 1
        if device.ssh and device.host_key_fingerprint:
            api.post(f"/devices/{known[device.name]}/ssh/trust", {"fingerprint": device.host_key_fingerprint})
    counts = f"{len(windows)} windows, {len(known)} devices ({created} objects added)"
    say(f"  inventory: site {SITE_SLUG}, {counts}")
    return Seeded(site["id"], windows, known, created)


def _area_of(number: int) -> str:
    """Windows 1-2 are in area A, 3-4 in B, and so on."""
    return f"{chr(ord('A') + (number - 1) // 2)}区 受理区 service area {chr(ord('A') + (number - 1) // 2)}"
