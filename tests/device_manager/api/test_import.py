"""Bulk device import from CSV and YAML: per-row report, all-or-nothing unless ?partial=true."""

from __future__ import annotations

from tests.device_manager.dm_helpers import API, count, create, site

CSV_HEADER = "name,site,device_type,address,area,window,snmp_credential,tags\n"


async def _hall(api):
    h = api.headers("admin")
    hall = await site(api.client, h)
    await create(api.client, h, "areas", site_id=hall["id"], name="A区")
    await create(api.client, h, "windows", site_id=hall["id"], number=5, name="公积金")
    await create(
        api.client, h, "credential-profiles", kind="snmp_v2c", name="hall-v2c", community="s3cr3t-c0mm"
    )
    return h, hall


async def _post(api, h, body: str, content_type: str, **params):
    return await api.client.post(
        f"{API}/devices/import",
        headers={**h, "Content-Type": content_type},
        content=body.encode(),
        params=params,
    )


async def test_csv_import_creates_every_row(api):
    h, _ = await _hall(api)
    body = CSV_HEADER + (
        "printer-5,north-hall,printer,10.1.0.5,A区,5,hall-v2c,color;floor-1\n"
        "ups-1,north-hall,ups,10.1.0.250,,,hall-v2c,\n"
        "kiosk-1,north-hall,kiosk,fd00::10,A区,,,\n"
    )
    response = await _post(api, h, body, "text/csv")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["committed"] and report["created"] == 3 and report["failed"] == 0
    assert [r["status"] for r in report["rows"]] == ["created"] * 3
    devices = (await api.client.get(f"{API}/devices", headers=h)).json()["results"]
    printer = next(d for d in devices if d["name"] == "printer-5")
    assert printer["tags"] == ["color", "floor-1"] and printer["window_id"] is not None
    assert printer["snmp_credential_id"] is not None


async def test_malformed_rows_reject_the_whole_import(api):
    h, _ = await _hall(api)
    body = CSV_HEADER + (
        "printer-5,north-hall,printer,10.1.0.5,,,,\n"
        "bad-ip,north-hall,printer,10.1.0.999,,,,\n"
        "bad-type,north-hall,toaster,10.1.0.7,,,,\n"
        "bad-site,west-hall,printer,10.1.0.8,,,,\n"
        "bad-window,north-hall,printer,10.1.0.9,,77,,\n"
        "bad-cred,north-hall,printer,10.1.0.10,,,nope,\n"
        "printer-5,north-hall,printer,10.1.0.11,,,,\n"
        "too,many,fields,10.1.0.12,,,,,,,,,\n"
    )
    response = await _post(api, h, body, "text/csv")
    assert response.status_code == 422
    report = response.json()
    assert not report["committed"] and report["created"] == 0 and report["failed"] == 7
    rows = report["rows"]
    assert rows[0]["status"] == "skipped"
    assert "address" in rows[1]["errors"]
    assert "device_type" in rows[2]["errors"]
    assert "site" in rows[3]["errors"]
    assert "window" in rows[4]["errors"]
    assert "snmp_credential" in rows[5]["errors"]
    assert "name" in rows[6]["errors"]  # duplicate of row 1 within the same file
    assert "row" in rows[7]["errors"]
    assert await count(api.client, h, "devices") == 0


async def test_partial_import_keeps_the_good_rows(api):
    h, _ = await _hall(api)
    body = CSV_HEADER + "printer-5,north-hall,printer,10.1.0.5,,,,\nbad,north-hall,printer,not-an-ip,,,,\n"
    response = await _post(api, h, body, "text/csv", partial="true")
    assert response.status_code == 200
    report = response.json()
    assert report["committed"] and report["created"] == 1 and report["failed"] == 1
    assert report["rows"][1]["errors"]["address"]
    assert await count(api.client, h, "devices") == 1


async def test_yaml_import(api):
    h, _ = await _hall(api)
    body = """
devices:
  - {name: switch-1, site: north-hall, device_type: switch, address: 10.1.0.1, snmp_credential: hall-v2c,
     tags: [core]}
  - name: display-5
    site: north-hall
    device_type: calling_display
    address: 10.1.0.55
    window: 5
"""
    response = await _post(api, h, body, "application/yaml")
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2
    bad = await _post(
        api,
        h,
        "- name: x\n  site: north-hall\n  device_type: ups\n  address: 1.2.3.4\n  extra: 1\n",
        "application/yaml",
    )
    assert bad.status_code == 422 and "extra" in bad.json()["rows"][0]["errors"]
    assert await count(api.client, h, "devices") == 2


async def test_unreadable_documents_are_4xx(api):
    h, _ = await _hall(api)
    missing_column = await _post(api, h, "name,site\nx,north-hall\n", "text/csv")
    assert missing_column.status_code == 422
    assert "device_type" in missing_column.json()["errors"]["body"][0]
    broken_yaml = await _post(api, h, "devices: [\n  - {name: x", "application/yaml")
    assert broken_yaml.status_code == 422 and "YAML" in broken_yaml.json()["errors"]["body"][0]
    not_a_list = await _post(api, h, "name: x\n", "application/yaml")
    assert not_a_list.status_code == 422
    wrong_type = await _post(api, h, "{}", "application/json")
    assert wrong_type.status_code == 415
    assert await count(api.client, h, "devices") == 0


async def test_viewer_cannot_import(api):
    await _hall(api)
    body = CSV_HEADER + "printer-5,north-hall,printer,10.1.0.5,,,,\n"
    response = await _post(api, api.headers("viewer"), body, "text/csv")
    assert response.status_code == 403
    assert await count(api.client, api.headers("viewer"), "devices") == 0
