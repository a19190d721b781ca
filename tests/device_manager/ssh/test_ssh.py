"""SSH operations against namespaced sshd devices: explicit trust, changed keys, the catalog, roles,
admin commands (audited), timeouts, cancel, bounded concurrency and the live log stream."""

from __future__ import annotations

import json
import threading
import time

import pytest
from sqlalchemy import select

from device_manager.db.models import AuditEntry
from device_manager.ssh import service as ssh_service
from device_manager.ssh.client import CommandResult, SshTarget, connect, scan_host_key
from device_manager.ssh.errors import HostKeyChanged, HostKeyUnknown
from tests.device_manager.ops import make_hall

pytestmark = pytest.mark.integration


async def test_unknown_host_key_is_refused_until_trusted(backend, ops_api, hosts, client_key):
    hall = await make_hall(ops_api, {"kiosk": hosts["kiosk"]}, client_key[0], trust=False)
    kiosk = hall.devices["kiosk"]
    job = (await ops_api.post("ssh/operations/disk_usage", expect=202, device_ids=[kiosk["id"]])).json()
    done = await ops_api.wait_job(job["job_id"])
    assert done["status"] == "failed"
    assert "no trusted SSH host key" in done["error"]

    scan = (await ops_api.get(f"devices/{kiosk['id']}/ssh/host-key")).json()
    assert scan["state"] == "unknown" and scan["trusted"] is None
    assert scan["presented"]["fingerprint"] == hosts["kiosk"].host_key_fingerprint()

    wrong = await ops_api.post(f"devices/{kiosk['id']}/ssh/trust", fingerprint="SHA256:" + "A" * 43)
    assert wrong.status_code == 422 and scan["presented"]["fingerprint"] in wrong.text
    viewer = await ops_api.post(
        f"devices/{kiosk['id']}/ssh/trust", role="viewer", fingerprint=scan["presented"]["fingerprint"]
    )
    assert viewer.status_code == 403
    await ops_api.post(
        f"devices/{kiosk['id']}/ssh/trust", expect=200, fingerprint=scan["presented"]["fingerprint"]
    )
    assert (await ops_api.get(f"devices/{kiosk['id']}/ssh/host-key")).json()["state"] == "trusted"

    job = (await ops_api.post("ssh/operations/disk_usage", expect=202, device_ids=[kiosk["id"]])).json()
    done = await ops_api.wait_job(job["job_id"])
    assert done["status"] == "succeeded", done["error"]
    assert "Filesystem" in done["result"]["devices"][kiosk["name"]]["stdout"]

    # the client refuses a key it was not given, whatever the caller does
    target = SshTarget("kiosk", hosts["kiosk"].address, "root", client_key[0], ())
    with pytest.raises(HostKeyUnknown, match="no trusted SSH host key"):
        connect(target, 5)


async def test_changed_host_key_is_refused_and_alerted(backend, ops_api, host_factory, client_key):
    host = host_factory.create("kiosk")  # its own device: this test changes its key
    hall = await make_hall(ops_api, {"kiosk": host}, client_key[0], slug="south-hall")
    device = hall.devices["kiosk"]
    old = host.host_key_fingerprint()
    host.stop_sshd()
    host.new_host_key()
    host.start_sshd()
    new = host.host_key_fingerprint()
    assert new != old

    job = (await ops_api.post("ssh/operations/check_process", expect=202, device_ids=[device["id"]])).json()
    done = await ops_api.wait_job(job["job_id"])
    assert done["status"] == "failed"
    assert "host key changed" in done["error"] and old in done["error"] and new in done["error"]
    alerts = (await ops_api.get("alerts", device_id=device["id"])).json()["results"]
    changed = [a for a in alerts if a["kind"] == "ssh_host_key_changed"]
    assert len(changed) == 1 and changed[0]["status"] == "firing" and changed[0]["severity"] == "critical"

    # a second refused attempt does not open a second alert
    job = (await ops_api.post("ssh/operations/disk_usage", expect=202, device_ids=[device["id"]])).json()
    assert (await ops_api.wait_job(job["job_id"]))["status"] == "failed"
    alerts = (await ops_api.get("alerts", device_id=device["id"])).json()["results"]
    assert len([a for a in alerts if a["kind"] == "ssh_host_key_changed"]) == 1

    scan = (await ops_api.get(f"devices/{device['id']}/ssh/host-key")).json()
    assert scan["state"] == "changed" and scan["trusted"]["fingerprint"] == old
    assert (await ops_api.post(f"devices/{device['id']}/ssh/trust", fingerprint=new)).status_code == 409
    it_staff = await ops_api.post(
        f"devices/{device['id']}/ssh/trust", role="it_staff", fingerprint=new, replace=True
    )
    assert it_staff.status_code == 403
    await ops_api.post(f"devices/{device['id']}/ssh/trust", expect=200, fingerprint=new, replace=True)
    alerts = (await ops_api.get("alerts", device_id=device["id"])).json()["results"]
    assert [a["status"] for a in alerts if a["kind"] == "ssh_host_key_changed"] == ["resolved"]

    job = (await ops_api.post("ssh/operations/disk_usage", expect=202, device_ids=[device["id"]])).json()
    assert (await ops_api.wait_job(job["job_id"]))["status"] == "succeeded"

    # the client refuses a key other than the one it was given
    other_key = scan_host_key(host_factory.hosts[0].address)
    with pytest.raises(HostKeyChanged, match="host key changed"):
        connect(SshTarget("kiosk", host.address, "root", client_key[0], (other_key,)), 5)


async def test_catalog_roles_and_admin_commands_are_audited(backend, ops_api, hosts, client_key):
    hall = await make_hall(ops_api, {"calling_display": hosts["calling_display"]}, client_key[0])
    device = hall.devices["calling_display"]
    catalog = (await ops_api.get("ssh/operations", role="viewer", device_type="calling_display")).json()
    assert {o["name"] for o in catalog} == {
        "reboot",
        "restart_service",
        "collect_logs",
        "disk_usage",
        "check_process",
        "fetch_config",
    }

    assert (
        await ops_api.post("ssh/operations/disk_usage", role="viewer", device_ids=[device["id"]])
    ).status_code == 403
    assert (
        await ops_api.post("ssh/operations/reboot", role="operator", device_ids=[device["id"]])
    ).status_code == 403
    bad = await ops_api.post(
        "ssh/operations/restart_service",
        role="it_staff",
        device_ids=[device["id"]],
        params={"service": "ssh; rm -rf /"},
    )
    assert bad.status_code == 422 and "not allowed" in bad.text
    unknown = await ops_api.post("ssh/operations/format_disk", device_ids=[device["id"]])
    assert unknown.status_code == 422 and "known:" in unknown.text

    logs = (
        await ops_api.post(
            "ssh/operations/collect_logs",
            role="operator",
            expect=202,
            device_ids=[device["id"]],
            params={"lines": 5},
        )
    ).json()
    assert (await ops_api.wait_job(logs["job_id"]))["status"] == "succeeded"

    forbidden = await ops_api.post(
        "ssh/commands", role="it_staff", device_ids=[device["id"]], command="id -u"
    )
    assert forbidden.status_code == 403
    job = (
        await ops_api.post(
            "ssh/commands", expect=202, device_ids=[device["id"]], command="echo audited-$((6*7)); id -u"
        )
    ).json()
    done = await ops_api.wait_job(job["job_id"])
    assert done["status"] == "succeeded"
    assert done["result"]["devices"][device["name"]]["stdout"] == "audited-42\n0\n"
    assert f"{device['name']}: audited-42" in await ops_api.log(job["job_id"])
    with ops_api.app.state.session_factory() as db:
        entries = list(db.scalars(select(AuditEntry).where(AuditEntry.path == "/api/v1/ssh/commands")))
    assert {e.status_code for e in entries} == {202, 403}
    ran = [e for e in entries if e.status_code == 202]
    assert len(ran) == 1 and "echo audited-$((6*7)); id -u" in ran[0].detail and "admin" in ran[0].actor
    # the key never shows up in what the job stored
    stored = json.dumps(done) + "\n".join(await ops_api.log(job["job_id"]))
    assert "PRIVATE KEY" not in stored


async def test_timeout_cancel_and_live_stream(backend, ops_api, hosts, client_key):
    hall = await make_hall(ops_api, {"thin_client": hosts["thin_client"]}, client_key[0])
    device = hall.devices["thin_client"]
    slow = (
        await ops_api.post(
            "ssh/commands", expect=202, device_ids=[device["id"]], command="sleep 5", timeout_s=1
        )
    ).json()
    done = await ops_api.wait_job(slow["job_id"])
    assert done["status"] == "failed" and "did not finish within 1 s" in done["error"]

    started = time.monotonic()
    long = (
        await ops_api.post("ssh/commands", expect=202, device_ids=[device["id"]], command="sleep 30")
    ).json()
    while (await ops_api.get(f"jobs/{long['job_id']}")).json()["status"] != "running":
        pass
    cancelled = await ops_api.post(f"jobs/{long['job_id']}/cancel", expect=202)
    assert cancelled.json()["cancel_requested"] is True
    done = await ops_api.wait_job(long["job_id"])
    assert done["status"] == "cancelled" and time.monotonic() - started < 10
    assert (await ops_api.post(f"jobs/{long['job_id']}/cancel")).status_code == 409

    job = (
        await ops_api.post(
            "ssh/commands",
            expect=202,
            device_ids=[device["id"]],
            command="for i in 1 2 3; do echo line$i; sleep 0.2; done",
        )
    ).json()
    response = await ops_api.client.get(
        f"/api/v1/jobs/{job['job_id']}/stream", headers=ops_api.headers("viewer")
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    events = [block for block in response.text.replace("\r\n", "\n").split("\n\n") if block.strip()]
    kinds = [
        next(line[7:] for line in b.splitlines() if line.startswith("event: "))
        for b in events
        if "event: " in b
    ]
    texts = [json.loads(b.split("data: ", 1)[1])["text"] for b in events if "event: log" in b]
    assert [t for t in texts if t.endswith(("line1", "line2", "line3"))] == [
        f"{device['name']}: line{i}" for i in (1, 2, 3)
    ]
    assert kinds[-1] == "end" and "status" in kinds
    history = (await ops_api.get("jobs", kind="ssh_command")).json()
    assert history["count"] == 3 and {j["status"] for j in history["results"]} == {
        "failed",
        "cancelled",
        "succeeded",
    }


async def test_concurrency_is_bounded(backend, ops_api, hosts, client_key, ops_settings):
    hall = await make_hall(ops_api, hosts, client_key[0])
    runtime = ops_api.runtime
    with runtime.session_factory() as db:
        from device_manager.db.models import Device

        devices = [db.get(Device, d["id"]) for d in hall.devices.values()] * 3
        runs = ssh_service.plan_operation(db, devices, "disk_usage", {}, ops_settings)
    active, peak, lock = 0, 0, threading.Lock()

    def fake_runner(target: SshTarget, command: str, **_kw) -> CommandResult:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.1)
        with lock:
            active -= 1
        return CommandResult(0, "ok\n", "", 0.1)

    settings = ops_settings.model_copy(update={"ssh_concurrency": 2})
    job_id = runtime.jobs.submit(
        "ssh_operation",
        "bounded",
        lambda ctx: ssh_service.run_on_devices(ctx, runtime.box, settings, runs, runner=fake_runner),
    )
    assert runtime.jobs.wait(job_id, 30) == "succeeded"
    assert peak == 2
