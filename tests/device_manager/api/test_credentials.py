"""Credential profiles: encrypted at rest, never returned by the API, never written to logs."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import text

from device_manager.core.secrets import SecretBox, generate_master_key, load_master_key
from device_manager.db.models import CredentialProfile
from device_manager.services import credentials as credential_service
from device_manager.services.polling import PollingService
from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from tests.device_manager.dm_helpers import API, count, create, device, site

COMMUNITY = "c0mmunity-Wq83hZ"
AUTH_KEY = "auth-key-Jd92kQ1x"
PRIV_KEY = "priv-key-Lm27vB6y"


def _ssh_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def captured_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("", "sqlalchemy.engine", "httpx", "device_manager", "uvicorn", "fastapi"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    return caplog


async def test_secrets_never_leave_and_are_encrypted_at_rest(api, captured_logs):
    h = api.headers("admin")
    ssh_key = _ssh_key()
    secrets = [COMMUNITY, AUTH_KEY, PRIV_KEY, ssh_key.splitlines()[1]]
    bodies: list[str] = []

    async def call(method: str, path: str, **kwargs):
        response = await api.client.request(method, f"{API}/{path}", headers=h, **kwargs)
        bodies.append(response.text)
        return response

    v2c = (
        await call(
            "POST",
            "credential-profiles",
            json={"kind": "snmp_v2c", "name": "hall-v2c", "community": COMMUNITY},
        )
    ).json()
    v3 = (
        await call(
            "POST",
            "credential-profiles",
            json={
                "kind": "snmp_v3",
                "name": "hall-v3",
                "username": "hallmon",
                "auth_key": AUTH_KEY,
                "priv_key": PRIV_KEY,
            },
        )
    ).json()
    ssh = (
        await call(
            "POST",
            "credential-profiles",
            json={"kind": "ssh", "name": "thin-clients", "username": "hallops", "private_key": ssh_key},
        )
    ).json()
    assert v2c["has_secret"] and v3["has_secret"] and ssh["has_secret"]
    assert v3["auth_protocol"] == "SHA-256" and v3["priv_protocol"] == "AES-128"
    assert set(v2c) == {
        "id",
        "name",
        "kind",
        "username",
        "has_secret",
        "auth_protocol",
        "priv_protocol",
        "created_at",
        "updated_at",
    }
    await call("GET", "credential-profiles")
    await call("GET", f"credential-profiles/{v3['id']}")
    await call("PATCH", f"credential-profiles/{v2c['id']}", json={"community": COMMUNITY + "-new"})
    # a too-short key is rejected without echoing it back
    short = await call(
        "POST",
        "credential-profiles",
        json={
            "kind": "snmp_v3",
            "name": "short",
            "username": "u",
            "auth_key": "sh0rt!",
            "priv_key": PRIV_KEY,
        },
    )
    assert short.status_code == 422 and list(short.json()["errors"]) == ["auth_key"]
    assert "sh0rt!" not in short.text
    hall = await site(api.client, h)
    await device(api.client, h, hall["id"], snmp_credential_id=v2c["id"])
    await call("GET", "devices")
    await call("GET", "audit-log")

    for body in bodies:
        for secret in [*secrets, "sh0rt!"]:
            assert secret not in body
    for secret in [*secrets, "sh0rt!"]:
        assert secret not in captured_logs.text

    # at rest: only ciphertext in the table (read raw, bypassing the ORM)
    with api.session_factory() as db:
        raw = b"".join(bytes(r[0]) for r in db.execute(text("SELECT secret FROM credential_profiles")))
        dump = " ".join(str(v) for row in db.execute(text("SELECT * FROM credential_profiles")) for v in row)
    for secret in secrets:
        assert secret.encode() not in raw and secret not in dump

    # the polling loop decrypts to the SNMP library's credentials, whose repr redacts
    polling: PollingService = api.app.state.polling
    targets, skipped = polling.build_targets()
    assert not skipped and len(targets) == 1
    assert targets[0].credential == SnmpV2c(COMMUNITY + "-new")
    assert COMMUNITY not in repr(targets[0])
    assert COMMUNITY not in captured_logs.text


async def test_v3_and_ssh_profiles_decrypt_to_what_was_stored(api):
    h = api.headers("it_staff")
    v3 = await create(
        api.client,
        h,
        "credential-profiles",
        kind="snmp_v3",
        name="v3",
        username="hallmon",
        auth_key=AUTH_KEY,
        priv_key=PRIV_KEY,
    )
    response = await api.client.patch(
        f"{API}/credential-profiles/{v3['id']}", headers=h, json={"priv_key": PRIV_KEY + "2"}
    )
    assert response.status_code == 200
    box: SecretBox = api.app.state.secret_box
    with api.session_factory() as db:
        row = db.get(CredentialProfile, v3["id"])
        secret = credential_service.decrypt(box, row)
        # a ciphertext is bound to its kind: it does not decrypt as another kind of credential
        with pytest.raises(Exception, match="does not decrypt"):
            box.decrypt(row.secret, credential_service.purpose("snmp_v2c"))
    assert secret == {"auth_key": AUTH_KEY, "priv_key": PRIV_KEY + "2"}
    from device_manager.services.polling import snmp_credential

    assert snmp_credential("snmp_v3", "hallmon", secret) == SnmpV3("hallmon", AUTH_KEY, PRIV_KEY + "2")


async def test_credential_validation_errors(api):
    h = api.headers("it_staff")
    bad_ssh = await api.client.post(
        f"{API}/credential-profiles",
        headers=h,
        json={"kind": "ssh", "name": "x", "username": "u", "private_key": "-----BEGIN NOTHING-----"},
    )
    assert bad_ssh.status_code == 422 and list(bad_ssh.json()["errors"]) == ["private_key"]
    missing = await api.client.post(
        f"{API}/credential-profiles", headers=h, json={"kind": "snmp_v2c", "name": "x"}
    )
    assert missing.status_code == 422 and list(missing.json()["errors"]) == ["community"]
    unknown_kind = await api.client.post(
        f"{API}/credential-profiles", headers=h, json={"kind": "telnet", "name": "x"}
    )
    assert unknown_kind.status_code == 422
    v2c = await create(api.client, h, "credential-profiles", kind="snmp_v2c", name="c", community=COMMUNITY)
    wrong_field = await api.client.patch(
        f"{API}/credential-profiles/{v2c['id']}", headers=h, json={"auth_key": AUTH_KEY}
    )
    assert wrong_field.status_code == 422 and list(wrong_field.json()["errors"]) == ["auth_key"]
    dup = await api.client.post(
        f"{API}/credential-profiles", headers=h, json={"kind": "snmp_v2c", "name": "c", "community": "other"}
    )
    assert dup.status_code == 409 and list(dup.json()["errors"]) == ["name"]
    assert await count(api.client, h, "credential-profiles") == 1
    # an SSH profile cannot stand in for SNMP credentials
    ssh = await create(
        api.client, h, "credential-profiles", kind="ssh", name="s", username="u", private_key=_ssh_key()
    )
    hall = await site(api.client, api.headers("admin"))
    wrong = await api.client.post(
        f"{API}/devices",
        headers=h,
        json={
            "name": "p",
            "site_id": hall["id"],
            "device_type": "printer",
            "address": "10.0.0.1",
            "snmp_credential_id": ssh["id"],
        },
    )
    assert wrong.status_code == 422 and list(wrong.json()["errors"]) == ["snmp_credential_id"]
    # a profile in use cannot be deleted
    await device(api.client, h, hall["id"], snmp_credential_id=v2c["id"])
    in_use = await api.client.delete(f"{API}/credential-profiles/{v2c['id']}", headers=h)
    assert in_use.status_code == 409


async def test_viewer_and_operator_cannot_read_credential_profiles(api):
    for role in ("viewer", "operator"):
        response = await api.client.get(f"{API}/credential-profiles", headers=api.headers(role))
        assert response.status_code == 403


def test_master_key_sources(tmp_path, monkeypatch):
    from device_manager.core.config import Settings
    from device_manager.core.secrets import MasterKeyError

    key = generate_master_key()
    key_file = tmp_path / "master.key"
    key_file.write_text(key + "\n")
    from_file = load_master_key(Settings(master_key_file=key_file, data_dir=tmp_path))
    from_env = load_master_key(Settings(master_key=key, data_dir=tmp_path))
    assert from_file == from_env and len(from_file) == 32
    # development generates one in the data dir, readable by the owner only
    dev_dir = tmp_path / "dev"
    generated = load_master_key(Settings(data_dir=dev_dir))
    assert len(generated) == 32 and (dev_dir / "master.key").stat().st_mode & 0o777 == 0o600
    assert load_master_key(Settings(data_dir=dev_dir)) == generated
    with pytest.raises(MasterKeyError, match="32 bytes"):
        load_master_key(Settings(master_key="too-short", data_dir=tmp_path))
    with pytest.raises(MasterKeyError, match="does-not-exist"):
        load_master_key(Settings(master_key_file=tmp_path / "does-not-exist", data_dir=tmp_path))
    box_a, box_b = SecretBox(from_file), SecretBox(generated)
    blob = box_a.encrypt({"community": "x"}, "p")
    assert box_a.decrypt(blob, "p") == {"community": "x"}
    with pytest.raises(Exception, match="wrong master key"):
        box_b.decrypt(blob, "p")
    assert key not in repr(box_a) and blob.count(b"community") == 0


def test_settings_refuse_default_secrets_outside_development(tmp_path, monkeypatch):
    from device_manager.core.config import Settings

    with pytest.raises(ValueError, match="HALLCLOUD_SECRET_KEY") as refused:
        Settings(environment="production", data_dir=tmp_path)
    assert "master key" in str(refused.value)
    with pytest.raises(ValueError, match="master key"):
        Settings(environment="production", secret_key="a-long-random-pepper-value", data_dir=tmp_path)
    ok = Settings(
        environment="production",
        secret_key="a-long-random-pepper-value",
        master_key=generate_master_key(),
        data_dir=tmp_path,
    )
    assert ok.environment == "production"
    monkeypatch.setenv("HALLCLOUD_ENVIRONMENT", "production")
    monkeypatch.setenv("HALLCLOUD_SECRET_KEY", "changethis")
    monkeypatch.setenv("HALLCLOUD_MASTER_KEY", generate_master_key())
    with pytest.raises(ValueError, match="changethis"):
        Settings()
    assert Settings(environment="development").environment == "development"
