"""End to end with real agents on loopback: net-snmp's snmpd polled over SNMPv3 authPriv and v2c by the
service's polling loop, and a real trap sent with ``snmptrap`` to the service's trap receiver."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest
from sqlalchemy import select

from device_manager.db.models import Alert, Device
from device_manager.services.polling import PollingService
from device_manager.snmp.poller import Poller
from device_manager.snmp.profiles import load_profiles
from device_manager.snmp.traps import TrapReceiver
from device_manager.testing.net import free_tcp_port, free_udp_port
from tests.device_manager.dm_helpers import API, create, site

pytestmark = pytest.mark.integration


@pytest.fixture
def poller():
    real = Poller(load_profiles(), concurrency=10)
    yield real
    real.close()


def _status(api, device_id: int) -> str:
    with api.session_factory() as db:
        return db.get(Device, device_id).oper_status


def _alerts(api, device_id: int) -> list[Alert]:
    with api.session_factory() as db:
        return list(db.scalars(select(Alert).where(Alert.device_id == device_id).order_by(Alert.id)))


async def _setup(api, agent, poller, version: str = "v3", auth_key: str | None = None):
    h = api.headers("admin")
    hall = await site(api.client, h)
    user = agent.v3_user
    if version == "v3":
        cred = await create(
            api.client,
            h,
            "credential-profiles",
            kind="snmp_v3",
            name="v3",
            username=user.user,
            auth_key=auth_key or user.auth_key,
            priv_key=user.priv_key,
        )
    else:
        cred = await create(
            api.client, h, "credential-profiles", kind="snmp_v2c", name="v2c", community=agent.community
        )
    kiosk = await create(
        api.client,
        h,
        "devices",
        name="kiosk-1",
        site_id=hall["id"],
        device_type="kiosk",
        address=agent.host,
        snmp_port=agent.port,
        snmp_credential_id=cred["id"],
    )
    rules = (await api.client.get(f"{API}/alert-rules", headers=h)).json()["results"]
    down_rule = next(r for r in rules if r["kind"] == "device_down")
    await api.client.patch(f"{API}/alert-rules/{down_rule['id']}", json={"raise_after": 2}, headers=h)
    svc: PollingService = api.app.state.polling
    svc.poller = poller
    svc.timeout_s, svc.retries = 0.5, 0
    return svc, kiosk["id"], hall


async def _down_and_back(api, agent, svc, kiosk) -> None:
    report = await svc.run_cycle()
    assert report.targets == 1 and _status(api, kiosk) in ("up", "degraded")
    device_row = (await api.client.get(f"{API}/devices/{kiosk}", headers=api.headers("viewer"))).json()
    assert device_row["facts"].get("sysName") == agent.sys_name
    history = (await api.client.get(f"{API}/devices/{kiosk}/metrics", headers=api.headers("viewer"))).json()
    assert any(sample["metric"].startswith("hr.") for sample in history)

    agent.stop()
    await svc.run_cycle()
    assert _status(api, kiosk) == "down" and _alerts(api, kiosk) == []  # one miss is not an alert yet
    await svc.run_cycle()
    (alert,) = _alerts(api, kiosk)
    assert alert.kind == "device_down" and alert.status == "firing"

    agent.start()
    await svc.run_cycle()
    assert _status(api, kiosk) in ("up", "degraded")
    (alert,) = _alerts(api, kiosk)
    assert alert.status == "resolved" and alert.resolved_by == "auto"
    metrics = (await api.client.get("/metrics")).text
    assert 'hallcloud_poll_errors_total{device_type="kiosk",status="down"}' in metrics


async def test_a_device_type_without_poll_profile_never_fails_the_cycle(api, own_snmpd, poller):
    """With the real poller: a device of a type that has no poll profile (created through the API) is
    skipped, and the kiosk on the same cycle is still polled and stored."""
    svc, kiosk, hall = await _setup(api, own_snmpd, poller, version="v2c")
    h = api.headers("admin")
    await create(api.client, h, "device-types", slug="wall_clock", name="挂钟 (wall clock)")
    with api.session_factory() as db:
        credential_id = db.get(Device, kiosk).snmp_credential_id
    await create(
        api.client,
        h,
        "devices",
        name="clock-1",
        site_id=hall["id"],
        device_type="wall_clock",
        address=own_snmpd.host,
        snmp_port=own_snmpd.port,
        snmp_credential_id=credential_id,
    )
    report = await svc.run_cycle()
    assert report.by_status == {"up": 1} and len(report.skipped) == 1
    assert _status(api, kiosk) == "up"


async def test_stopping_the_agent_raises_an_alert_and_restarting_resolves_it(api, own_snmpd, poller):
    svc, kiosk, _hall = await _setup(api, own_snmpd, poller, version="v2c")
    await _down_and_back(api, own_snmpd, svc, kiosk)


async def test_v3_device_comes_back_after_agent_restart(api, own_snmpd, poller):
    svc, kiosk, _hall = await _setup(api, own_snmpd, poller, version="v3")
    await _down_and_back(api, own_snmpd, svc, kiosk)


async def test_wrong_credentials_are_auth_error_not_down(api, own_snmpd, poller):
    svc, kiosk, _hall = await _setup(api, own_snmpd, poller, auth_key="definitely-the-wrong-key")
    for _ in range(3):
        await svc.run_cycle()
    assert _status(api, kiosk) == "auth_error"
    assert [a.kind for a in _alerts(api, kiosk)] == []  # wrong credentials do not look like an outage
    device_row = (await api.client.get(f"{API}/devices/{kiosk}", headers=api.headers("viewer"))).json()
    assert device_row["last_error"] and "definitely-the-wrong-key" not in device_row["last_error"]


async def test_a_real_link_down_trap_opens_an_interface_alert(api, own_snmpd, poller):
    if shutil.which("snmptrap") is None:
        pytest.fail("snmptrap is not installed (make setup installs Debian's snmp package)")
    svc, kiosk, _hall = await _setup(api, own_snmpd, poller)
    receiver = TrapReceiver()
    await receiver.start("127.0.0.1", 0, ["hall-traps"], [], svc.handle_trap)
    try:
        assert receiver.address is not None
        port = receiver.address[1]
        command = [
            "snmptrap",
            "-v",
            "2c",
            "-c",
            "hall-traps",
            f"127.0.0.1:{port}",
            "",
            "1.3.6.1.6.3.1.1.5.3",
            "1.3.6.1.2.1.2.2.1.1.7",
            "i",
            "7",
            "1.3.6.1.2.1.2.2.1.7.7",
            "i",
            "1",
            "1.3.6.1.2.1.2.2.1.8.7",
            "i",
            "2",
        ]
        await asyncio.to_thread(subprocess.run, command, check=True, capture_output=True, timeout=10)
        for _ in range(100):
            if _alerts(api, kiosk):
                break
            await asyncio.sleep(0.05)
    finally:
        await receiver.stop()
    (alert,) = _alerts(api, kiosk)
    assert alert.kind == "interface_down" and alert.subject == "7" and alert.status == "firing"
    events = (await api.client.get(f"{API}/devices/{kiosk}/events", headers=api.headers("viewer"))).json()
    assert events[0]["kind"] == "link_down" and events[0]["origin"] == "trap"


async def test_hall_serve_polls_and_receives_traps(settings, own_snmpd, tmp_path):
    """The real thing: ``hall admin create-token`` and ``hall serve`` as processes, polling a real snmpd
    on its loop and receiving a real trap."""
    import json
    import os
    import signal
    import sys
    from pathlib import Path

    import httpx

    hall_bin = str(Path(sys.executable).with_name("hall"))
    http_port, trap_port = free_tcp_port(), free_udp_port()
    env = dict(
        os.environ,
        HALLCLOUD_ENVIRONMENT="test",
        HALLCLOUD_DATABASE_URL=settings.sqlalchemy_url,
        HALLCLOUD_SECRET_KEY=settings.secret_key.get_secret_value(),
        HALLCLOUD_MASTER_KEY=settings.master_key.get_secret_value(),
        HALLCLOUD_POLL_INTERVAL_S="0.5",
        HALLCLOUD_TRAP_LISTEN=f"127.0.0.1:{trap_port}",
        HALLCLOUD_TRAP_COMMUNITIES=json.dumps(["hall-traps"]),
    )
    minted = subprocess.run(
        [hall_bin, "admin", "create-token", "--role", "admin"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    headers = {"Authorization": f"Bearer {minted.stdout.strip()}"}
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        server = subprocess.Popen(
            [hall_bin, "serve", "--port", str(http_port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{http_port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            for _ in range(200):
                try:
                    if (await client.get("/docs")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert server.poll() is None, log_path.read_text()
                await asyncio.sleep(0.1)
            hall = (
                await client.post(f"{API}/sites", json={"name": "北区", "slug": "north"}, headers=headers)
            ).json()
            cred = (
                await client.post(
                    f"{API}/credential-profiles",
                    headers=headers,
                    json={"kind": "snmp_v2c", "name": "v2c", "community": own_snmpd.community},
                )
            ).json()
            kiosk = (
                await client.post(
                    f"{API}/devices",
                    headers=headers,
                    json={
                        "name": "kiosk-1",
                        "site_id": hall["id"],
                        "device_type": "kiosk",
                        "address": "127.0.0.1",
                        "snmp_port": own_snmpd.port,
                        "snmp_credential_id": cred["id"],
                    },
                )
            ).json()
            status = "unknown"
            for _ in range(100):
                status = (await client.get(f"{API}/devices/{kiosk['id']}", headers=headers)).json()[
                    "oper_status"
                ]
                if status in ("up", "degraded"):
                    break
                await asyncio.sleep(0.1)
            assert status in ("up", "degraded"), log_path.read_text()[-3000:]

            trap = [
                "snmptrap",
                "-v",
                "2c",
                "-c",
                "hall-traps",
                f"127.0.0.1:{trap_port}",
                "",
                "1.3.6.1.6.3.1.1.5.3",
                "1.3.6.1.2.1.2.2.1.1.2",
                "i",
                "2",
            ]
            await asyncio.to_thread(subprocess.run, trap, check=True, capture_output=True, timeout=10)
            events: list = []
            for _ in range(100):
                events = (
                    await client.get(f"{API}/events", params={"origin": "trap"}, headers=headers)
                ).json()["results"]
                if events:
                    break
                await asyncio.sleep(0.1)
            assert [e["kind"] for e in events] == ["link_down"] and events[0]["device_id"] == kiosk["id"]
            metrics = (await client.get("/metrics")).text
            assert 'hallcloud_traps_total{kind="link_down"} 1.0' in metrics
            assert 'device="kiosk-1"' in metrics
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    assert own_snmpd.community not in log_path.read_text()
