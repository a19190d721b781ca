"""Window setup time: p50 over 5 windows, split by step (seat, bind, configure, verify).

Each window is opened with one ``POST /api/v1/windows/{window_id}/setup`` against the real stack: the seat
(two desktops, linked clones, started under TCG) through ``infra.automation`` and the real Pulumi engine
on the local libvirt, then the window's own thin client and calling display - OpenSSH servers in network
namespaces - bound from the inventory, configured by the real playbooks through ansible-runner, and
verified over SSH. The hall's base (networks, pools, golden image) is brought up first and not timed.
Everything is torn down at the end. ``$HALLCLOUD_URI`` picks the hypervisor (default ``qemu:///system``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from infra.testing.halls import small_hall_config

WINDOWS = 5
IMAGE = "hallcloud-test-x86_64"
SEAT = {"gov": {"image": IMAGE, "memory_mib": 160}, "internet": {"image": IMAGE, "memory_mib": 160}}
STEPS = ("seat", "bind", "configure", "verify")


def _hall_config(prefix: str, uri: str, octet: int) -> dict[str, Any]:
    return small_hall_config(
        name="window setup benchmark hall", prefix=prefix, uri=uri, octet=octet, image=IMAGE
    )


def _wait(client: Any, headers: dict[str, str], job_id: int, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.1)
    raise TimeoutError(f"job {job_id} did not finish in {timeout} s")


def run() -> str:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # starlette TestClient on httpx: a deprecation notice
        from fastapi.testclient import TestClient

    from device_manager.core.config import Settings
    from device_manager.core.secrets import generate_master_key
    from device_manager.core.security import issue_token
    from device_manager.db import migrate
    from device_manager.db.session import make_engine
    from device_manager.main import create_app
    from device_manager.testing.ssh_hosts import HostFactory, new_client_key
    from infra.automation import HallStack, scratch_project
    from infra.demo import leftovers

    uri = os.environ.get("HALLCLOUD_URI", "qemu:///system")
    work = Path(tempfile.mkdtemp(prefix="hc-bench-ws-"))
    private_key, public_key = new_client_key()
    factory = HostFactory(public_key)
    hall = HallStack("bench", work / "state", project_dir=scratch_project(work / "project"))
    spec = hall.write_config(_hall_config(f"hc-bw-{secrets.token_hex(3)}", uri, 120 + secrets.randbelow(30)))
    rows: list[dict[str, float]] = []
    jobs: list[dict[str, Any]] = []
    try:
        base_started = time.monotonic()
        hall.up()
        base_s = time.monotonic() - base_started
        db_url = f"sqlite:///{work / 'dm.db'}"
        engine = make_engine(db_url)
        migrate.upgrade(engine)
        engine.dispose()
        settings = Settings(
            environment="test",
            data_dir=work,
            database_url=db_url,
            secret_key="bench-pepper-0123456789",
            master_key=generate_master_key(),
            polling_enabled=False,
            migrate_on_startup=False,
            rate_limit_per_minute=100_000,
            rate_limit_burst=100_000,
            device_root_template=str(work / "roots" / "{device}"),
            ansible_python_interpreter="/usr/bin/python3",
            job_workers=2,
            stack=hall.name,  # the seat backend: the bench hall's stack
            pulumi_state_dir=str(hall.state_dir),
            seat_template=SEAT,
        )
        # the seat backend finds the bench hall's config in its scratch project
        os.environ["HALLCLOUD_PROJECT_DIR"] = str(hall.project_dir)
        app = create_app(settings, run_background=False)
        with app.state.session_factory() as db:
            _row, token = issue_token(
                db,
                "bench-pepper-0123456789",
                name="bench",
                role="admin",
                site_ids=None,
                expires_days=1,
                created_by="bench",
            )
            db.commit()
        h = {"Authorization": f"Bearer {token}"}
        window_ids: dict[int, int] = {}
        with TestClient(app) as client:  # its lifespan starts and stops the app's runtime
            site = client.post("/api/v1/sites", headers=h, json={"name": "基准大厅", "slug": "bench"}).json()
            cred = client.post(
                "/api/v1/credential-profiles",
                headers=h,
                json={"kind": "ssh", "name": "bench-ssh", "username": "root", "private_key": private_key},
            ).json()
            for number in range(1, WINDOWS + 1):
                window = client.post(
                    "/api/v1/windows",
                    headers=h,
                    json={
                        "site_id": site["id"],
                        "number": number,
                        "name": f"综合窗口 {number}",
                        "services": ["社保", "医保"],
                    },
                ).json()
                window_ids[number] = window["id"]
                for device_type in ("thin_client", "calling_display"):
                    host = factory.create(device_type)
                    device = client.post(
                        "/api/v1/devices",
                        headers=h,
                        json={
                            "name": f"{device_type.replace('_', '-')}-{number}",
                            "site_id": site["id"],
                            "device_type": device_type,
                            "address": host.address,
                            "window_id": window["id"],
                            "ssh_credential_id": cred["id"],
                        },
                    ).json()
                    client.post(
                        f"/api/v1/devices/{device['id']}/ssh/trust",
                        headers=h,
                        json={"fingerprint": host.host_key_fingerprint()},
                    ).raise_for_status()
            for number in range(1, WINDOWS + 1):
                started = time.monotonic()
                job_id = client.post(f"/api/v1/windows/{window_ids[number]}/setup", headers=h).json()[
                    "job_id"
                ]
                job = _wait(client, h, job_id)
                total = time.monotonic() - started
                if job["status"] != "succeeded":
                    raise RuntimeError(f"window {number}: {job['error']}")
                rows.append({**job["result"]["timings"], "total": total})
                jobs.append(job)
            again_started = time.monotonic()
            rerun = _wait(
                client, h, client.post(f"/api/v1/windows/{window_ids[1]}/setup", headers=h).json()["job_id"]
            )
            again_s = time.monotonic() - again_started
            teardown_started = time.monotonic()
            for number in range(1, WINDOWS + 1):
                job = _wait(
                    client,
                    h,
                    client.delete(f"/api/v1/windows/{window_ids[number]}/setup", headers=h).json()["job_id"],
                )
                if job["status"] != "succeeded":
                    raise RuntimeError(f"teardown of window {number}: {job['error']}")
            teardown_s = (time.monotonic() - teardown_started) / WINDOWS
    finally:
        try:
            hall.destroy()
        finally:
            factory.stop()
            left = leftovers(spec)
            shutil.rmtree(work, ignore_errors=True)
    if left:
        raise RuntimeError(f"left behind: {left}")

    def p50(key: str) -> float:
        return statistics.median(r[key] for r in rows)

    lines = [
        f"window setup, {WINDOWS} windows, one POST each (real Pulumi engine + libvirt {uri}, TCG; "
        "namespaced sshd thin client + calling display per window; ansible-runner)",
        f"{'step':<12}{'p50 s':>9}{'min s':>9}{'max s':>9}",
    ]
    for key in (*STEPS, "total"):
        values = [r[key] for r in rows]
        lines.append(f"{key:<12}{p50(key):>9.2f}{min(values):>9.2f}{max(values):>9.2f}")
    lines.append(
        f"re-run of an unchanged window (nothing applied): {again_s:.2f} s ({rerun['result']['steps']})"
    )
    lines.append(f"teardown per window (playbooks absent + targeted pulumi up): {teardown_s:.2f} s")
    load = os.getloadavg()[0]
    lines.append(f"(untimed: hall base up {base_s:.1f} s; load average {load:.1f} on {os.cpu_count()} cores)")
    return "\n".join(lines)
