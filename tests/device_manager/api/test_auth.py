"""Tokens, roles, site scopes, the audit log, rate limits."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select, text

from device_manager.db.models import ApiToken, AuditEntry
from device_manager.main import create_app
from tests.device_manager.dm_helpers import API, Api, count, create, device, site


async def _audit(api: Api, **filters) -> list[dict]:
    response = await api.client.get(f"{API}/audit-log", headers=api.headers("admin"), params=filters)
    assert response.status_code == 200
    return response.json()["results"]


async def test_viewer_reads_but_cannot_write_and_attempts_are_audited(api):
    admin = api.headers("admin")
    hall = await site(api.client, admin)
    await device(api.client, admin, hall["id"])
    viewer_token = api.token("viewer", name="front-desk")
    viewer = {"Authorization": f"Bearer {viewer_token}"}
    assert await count(api.client, viewer, "devices") == 1
    for method, path, body in (
        (
            "POST",
            "devices",
            {"name": "x", "site_id": hall["id"], "device_type": "ups", "address": "10.0.0.2"},
        ),
        ("PATCH", f"sites/{hall['id']}", {"name": "renamed"}),
        ("DELETE", f"sites/{hall['id']}", None),
        ("POST", "alert-rules", {"name": "r", "kind": "jam"}),
        ("POST", "tokens", {"name": "t", "role": "admin"}),
    ):
        response = await api.client.request(method, f"{API}/{path}", json=body, headers=viewer)
        assert response.status_code == 403, (method, path)
        assert "viewer" in response.json()["detail"]
    assert await count(api.client, viewer, "devices") == 1
    assert (await api.client.get(f"{API}/sites/{hall['id']}", headers=viewer)).json()["name"] != "renamed"
    denied = [e for e in await _audit(api) if e["status_code"] == 403]
    assert len(denied) == 5 and all("front-desk" in e["actor"] for e in denied)
    # the audit log itself is for admins
    assert (await api.client.get(f"{API}/audit-log", headers=viewer)).status_code == 403


async def test_every_write_is_audited_with_its_actor(api):
    token = api.token("admin", name="lead")
    h = {"Authorization": f"Bearer {token}"}
    hall = await site(api.client, h)
    dev = await device(api.client, h, hall["id"])
    await api.client.patch(f"{API}/devices/{dev['id']}", json={"description": "by the door"}, headers=h)
    await api.client.delete(f"{API}/devices/{dev['id']}", headers=h)
    entries = await _audit(api)
    writes = [(e["action"], e["path"], e["status_code"]) for e in reversed(entries)]
    assert writes == [
        ("POST", f"{API}/sites", 201),
        ("POST", f"{API}/devices", 201),
        ("PATCH", f"{API}/devices/{dev['id']}", 200),
        ("DELETE", f"{API}/devices/{dev['id']}", 204),
    ]
    assert all(e["actor"].startswith("lead") for e in entries)
    assert "printer-1" in entries[-2]["detail"]


async def test_site_scoped_token_sees_only_its_site(api):
    admin = api.headers("admin")
    north, south = await site(api.client, admin), await site(api.client, admin, "south-hall")
    await device(api.client, admin, north["id"], name="n-printer")
    south_dev = await device(api.client, admin, south["id"], name="s-printer", address="10.9.0.5")
    staff = api.headers("it_staff", site_ids=[north["id"]])

    listed = (await api.client.get(f"{API}/devices", headers=staff)).json()
    assert [d["name"] for d in listed["results"]] == ["n-printer"]
    assert (await api.client.get(f"{API}/devices", params={"site_id": south["id"]}, headers=staff)).json()[
        "count"
    ] == 0
    assert [s["slug"] for s in (await api.client.get(f"{API}/sites", headers=staff)).json()["results"]] == [
        "north-hall"
    ]
    for path in (f"devices/{south_dev['id']}", f"sites/{south['id']}"):
        assert (await api.client.get(f"{API}/{path}", headers=staff)).status_code == 404
    patch = await api.client.patch(f"{API}/devices/{south_dev['id']}", json={"name": "mine"}, headers=staff)
    assert patch.status_code == 404
    create_there = await api.client.post(
        f"{API}/devices",
        headers=staff,
        json={"name": "sneaky", "site_id": south["id"], "device_type": "camera", "address": "10.9.0.9"},
    )
    assert create_there.status_code == 422 and list(create_there.json()["errors"]) == ["site_id"]
    assert await count(api.client, admin, "devices") == 2
    # but it may manage its own site
    await device(api.client, staff, north["id"], name="n-camera", device_type="camera", address="10.1.0.9")


async def test_bad_tokens_are_401_and_audited(api):
    hall_path = f"{API}/sites"
    cases = {
        "missing": {},
        "malformed": {"Authorization": "Basic dXNlcjpwYXNz"},
        "unknown": {"Authorization": "Bearer hct_0123456789abcdef_notarealsecret"},
        "wrong-secret": {"Authorization": f"Bearer {api.token('admin').rsplit('_', 1)[0]}_wrongsecret"},
    }
    for name, headers in cases.items():
        response = await api.client.post(hall_path, json={"name": "x", "slug": "x"}, headers=headers)
        assert response.status_code == 401, name
        assert response.headers["www-authenticate"] == "Bearer"
    failed = await _audit(api, action="auth.failed")
    assert len(failed) == 4 and all(e["actor"] == "anonymous" for e in failed)
    assert await count(api.client, api.headers("viewer"), "sites") == 0


async def test_expired_and_revoked_tokens_are_refused(api):
    admin = api.headers("admin")
    expired = api.token("viewer")
    with api.session_factory() as db:
        row = db.scalar(select(ApiToken).order_by(ApiToken.id.desc()))
        row.expires_at = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
        db.commit()
    response = await api.client.get(f"{API}/sites", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401

    created = await api.client.post(
        f"{API}/tokens", headers=admin, json={"name": "kiosk-ops", "role": "operator", "expires_days": 7}
    )
    assert created.status_code == 201
    token, token_id = created.json()["token"], created.json()["id"]
    use = {"Authorization": f"Bearer {token}"}
    assert (await api.client.get(f"{API}/sites", headers=use)).status_code == 200
    listed = (await api.client.get(f"{API}/tokens", headers=admin)).text
    assert token not in listed and token.rsplit("_", 1)[1] not in listed  # shown once, never again
    assert (await api.client.delete(f"{API}/tokens/{token_id}", headers=admin)).status_code == 204
    assert (await api.client.get(f"{API}/sites", headers=use)).status_code == 401


async def test_tokens_are_stored_as_salted_hashes(api):
    token_a, token_b = api.token("viewer"), api.token("viewer")
    with api.session_factory() as db:
        rows = db.execute(text("SELECT key_id, salt, token_hash FROM api_tokens")).all()
    secret_a = token_a.rsplit("_", 1)[1].encode()
    for _key_id, salt, token_hash in rows:
        assert secret_a not in bytes(token_hash) and secret_a not in bytes(salt)
    assert len({bytes(r[1]) for r in rows}) == len(rows)  # one salt per token
    assert token_a != token_b


async def test_scoped_admin_cannot_mint_global_tokens(api):
    admin = api.headers("admin")
    north = await site(api.client, admin)
    scoped_admin = api.headers("admin", site_ids=[north["id"]])
    response = await api.client.post(
        f"{API}/tokens", headers=scoped_admin, json={"name": "x", "role": "admin"}
    )
    assert response.status_code == 403
    ok = await api.client.post(
        f"{API}/tokens", headers=scoped_admin, json={"name": "x", "role": "viewer", "site_ids": [north["id"]]}
    )
    assert ok.status_code == 201
    unknown_site = await api.client.post(
        f"{API}/tokens", headers=admin, json={"name": "y", "role": "viewer", "site_ids": [999]}
    )
    assert unknown_site.status_code == 422 and list(unknown_site.json()["errors"]) == ["site_ids"]


async def test_rate_limit_gives_429_with_retry_after(make_settings):
    app = create_app(
        make_settings(
            rate_limit_per_minute=60,
            rate_limit_burst=3,
            auth_failure_limit_per_minute=6,
            auth_failure_burst=2,
        ),
        run_background=False,
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://hall.test"
    ) as client:
        api = Api(app, client)
        good = api.headers("viewer")
        statuses = [(await client.get(f"{API}/sites", headers=good)).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = await client.get(f"{API}/sites", headers=good)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1

        # failed logins have their own, stricter budget per address: after it, even a good token waits
        other = api.headers("admin")
        bad = {"Authorization": "Bearer hct_0000000000000000_guess"}
        assert (await client.get(f"{API}/sites", headers=bad)).status_code == 401
        assert (await client.get(f"{API}/sites", headers=bad)).status_code == 401
        blocked = await client.get(f"{API}/sites", headers=other)
        assert blocked.status_code == 429 and "failed authentications" in blocked.json()["detail"]
        assert int(blocked.headers["retry-after"]) >= 1
    with app.state.session_factory() as db:
        assert len(db.scalars(select(AuditEntry).where(AuditEntry.action == "auth.failed")).all()) == 2
    app.state.engine.dispose()


def test_cli_create_token_prints_it_once_and_it_works(make_settings, monkeypatch, tmp_path):
    from device_manager.cli import admin as admin_group

    settings = make_settings()
    monkeypatch.setenv("HALLCLOUD_ENVIRONMENT", "test")
    monkeypatch.setenv("HALLCLOUD_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("HALLCLOUD_SECRET_KEY", settings.secret_key.get_secret_value())
    monkeypatch.setenv("HALLCLOUD_MASTER_KEY", settings.master_key.get_secret_value())
    runner = CliRunner()
    migrated = runner.invoke(admin_group, ["migrate"])
    assert migrated.exit_code == 0 and "database at revision" in migrated.output
    result = runner.invoke(admin_group, ["create-token", "--role", "admin", "--expires-days", "2"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("hct_")
    unknown = runner.invoke(admin_group, ["create-token", "--role", "admin", "--site", "nowhere"])
    assert unknown.exit_code != 0 and "nowhere" in unknown.output
    app = create_app(settings, run_background=False)
    with app.state.session_factory() as db:
        row = db.scalar(select(ApiToken))
        assert row.role == "admin" and row.expires_at is not None
        assert token.rsplit("_", 1)[1].encode() not in bytes(row.token_hash)
    app.state.engine.dispose()


@pytest.mark.parametrize("role", ["operator", "it_staff"])
async def test_operator_and_it_staff_cannot_manage_tokens(api, role):
    response = await api.client.post(
        f"{API}/tokens", headers=api.headers(role), json={"name": "t", "role": "viewer"}
    )
    assert response.status_code == 403
    assert (await api.client.get(f"{API}/tokens", headers=api.headers(role))).status_code == 403


async def test_operator_can_ack_but_not_edit_inventory(api):
    admin = api.headers("admin")
    hall = await site(api.client, admin)
    operator = api.headers("operator")
    response = await api.client.post(
        f"{API}/devices",
        headers=operator,
        json={"name": "x", "site_id": hall["id"], "device_type": "ups", "address": "10.0.0.2"},
    )
    assert response.status_code == 403
    window = await create(
        api.client,
        operator,
        "maintenance-windows",
        site_id=hall["id"],
        starts_at="2030-01-01T08:00:00+08:00",
        ends_at="2030-01-01T10:00:00+08:00",
        reason="UPS battery swap",
    )
    assert window["created_by"].startswith("test-operator")
