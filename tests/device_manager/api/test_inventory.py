"""Inventory endpoints: NetBox-style resources, validation keyed by field, nothing stored on error."""

from __future__ import annotations

from device_manager.device_types import default_registry
from tests.device_manager.dm_helpers import API, HALL_TYPES, count, create, device, site


async def test_docs_and_openapi_are_served(api):
    docs = await api.client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = (await api.client.get(f"{API}/openapi.json")).json()
    for path in (
        "/sites",
        "/areas",
        "/windows",
        "/device-types",
        "/devices",
        "/devices/import",
        "/credential-profiles",
        "/alert-rules",
        "/alerts",
        "/maintenance-windows",
        "/audit-log",
    ):
        assert f"{API}{path}" in spec["paths"], path


async def test_seeded_device_types(api):
    response = await api.client.get(f"{API}/device-types", headers=api.headers("viewer"))
    slugs = {t["slug"] for t in response.json()["results"]}
    assert slugs == set(default_registry().slugs)  # one row per registry file
    assert slugs >= HALL_TYPES


async def test_site_area_window_device_lifecycle(api):
    h = api.headers("admin")
    hall = await site(api.client, h)
    area = await create(api.client, h, "areas", site_id=hall["id"], name="一楼 A区", floor="1")
    window = await create(
        api.client,
        h,
        "windows",
        site_id=hall["id"],
        area_id=area["id"],
        number=12,
        name="不动产登记",
        services=["不动产登记", "抵押登记"],
    )
    dev = await device(
        api.client,
        h,
        hall["id"],
        window_id=window["id"],
        area_id=area["id"],
        tags=["Floor-1", "floor-1", "color"],
    )
    assert dev["device_type"] == "printer" and dev["oper_status"] == "unknown"
    assert dev["tags"] == ["floor-1", "color"]  # normalised and de-duplicated

    listed = (await api.client.get(f"{API}/devices", params={"tag": "color"}, headers=h)).json()
    assert [d["id"] for d in listed["results"]] == [dev["id"]]
    by_service = (await api.client.get(f"{API}/windows", params={"service": "抵押登记"}, headers=h)).json()
    assert by_service["count"] == 1

    patched = await api.client.patch(
        f"{API}/devices/{dev['id']}", json={"address": "10.20.0.6", "status": "offline"}, headers=h
    )
    assert patched.status_code == 200 and patched.json()["address"] == "10.20.0.6"

    # a site with devices cannot be deleted; after the device goes, it can
    assert (await api.client.delete(f"{API}/sites/{hall['id']}", headers=h)).status_code == 409
    assert (await api.client.delete(f"{API}/devices/{dev['id']}", headers=h)).status_code == 204
    assert (await api.client.delete(f"{API}/sites/{hall['id']}", headers=h)).status_code == 204
    assert await count(api.client, h, "sites") == 0


async def test_invalid_address_is_a_field_error_and_nothing_is_stored(api):
    h = api.headers("it_staff")
    hall = await site(api.client, api.headers("admin"))
    response = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={"name": "kiosk-1", "site_id": hall["id"], "device_type": "kiosk", "address": "10.0.0.300"},
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert list(errors) == ["address"] and "10.0.0.300" in errors["address"][0]
    assert await count(api.client, h, "devices") == 0


async def test_unknown_type_and_bad_references_are_reported_together(api):
    h = api.headers("admin")
    hall = await site(api.client, h)
    response = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={
            "name": "x",
            "site_id": hall["id"],
            "device_type": "coffee_machine",
            "address": "10.0.0.1",
            "window_id": 999,
            "snmp_credential_id": 42,
        },
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"device_type", "window_id", "snmp_credential_id"}
    assert "known: " in errors["device_type"][0] and "printer" in errors["device_type"][0]
    assert await count(api.client, h, "devices") == 0


async def test_unknown_fields_and_bad_types_are_rejected(api):
    h = api.headers("admin")
    hall = await site(api.client, h)
    response = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={
            "name": "x",
            "site_id": hall["id"],
            "device_type": "ups",
            "address": "10.0.0.1",
            "snmp_port": 70000,
            "colour": "red",
        },
    )
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"snmp_port", "colour"}


async def test_duplicate_names_conflict_by_field(api):
    h = api.headers("admin")
    hall = await site(api.client, h)
    await device(api.client, h, hall["id"], name="ups-1", device_type="ups")
    again = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={"name": "ups-1", "site_id": hall["id"], "device_type": "ups", "address": "10.0.0.9"},
    )
    assert again.status_code == 409
    assert list(again.json()["errors"]) == ["name"]
    assert await count(api.client, h, "devices") == 1

    dup_site = await api.client.post(f"{API}/sites", headers=h, json={"name": "other", "slug": hall["slug"]})
    assert dup_site.status_code == 409 and list(dup_site.json()["errors"]) == ["slug"]
    await create(api.client, h, "windows", site_id=hall["id"], number=1, name="综合受理")
    dup_window = await api.client.post(
        f"{API}/windows", headers=h, json={"site_id": hall["id"], "number": 1, "name": "again"}
    )
    assert dup_window.status_code == 409 and list(dup_window.json()["errors"]) == ["number"]
    # the same device name in another hall is fine
    other = await site(api.client, h, "south-hall")
    await device(api.client, h, other["id"], name="ups-1", device_type="ups")


async def test_window_must_belong_to_the_devices_site(api):
    h = api.headers("admin")
    north, south = await site(api.client, h), await site(api.client, h, "south-hall")
    window = await create(api.client, h, "windows", site_id=south["id"], number=3, name="社保")
    response = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={
            "name": "tc-3",
            "site_id": north["id"],
            "device_type": "thin_client",
            "address": "10.0.3.3",
            "window_id": window["id"],
        },
    )
    assert response.status_code == 422 and list(response.json()["errors"]) == ["window_id"]


async def test_oversize_body_is_413_and_nothing_is_stored(api, make_settings):
    h = api.headers("admin")
    hall = await site(api.client, h)
    huge = "x" * (api.app.state.settings.max_body_bytes + 1)
    response = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={
            "name": "big",
            "site_id": hall["id"],
            "device_type": "camera",
            "address": "10.0.0.1",
            "description": huge,
        },
    )
    assert response.status_code == 413
    assert await count(api.client, h, "devices") == 0

    async def chunks():  # streamed without Content-Length
        for _ in range(20):
            yield b"y" * 65536

    streamed = await api.client.post(f"{API}/devices/import?format=csv", headers=h, content=chunks())
    assert streamed.status_code == 413
    assert await count(api.client, h, "devices") == 0


async def test_not_found_is_404(api):
    h = api.headers("viewer")
    for path in ("sites/99", "areas/99", "windows/99", "devices/99", "device-types/99"):
        response = await api.client.get(f"{API}/{path}", headers=h)
        assert response.status_code == 404, path
        assert "99" in response.json()["detail"]
