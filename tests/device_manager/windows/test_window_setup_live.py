"""Window setup end to end: the real Pulumi engine and real libvirt (tiny test images under TCG) for the
seat, through ``infra.automation``; the namespaced sshd thin client and calling display for the rest.

One hall stack (prefix ``hc-o-<hex>``, no windows) is brought up once; the test then opens window 5 with
one call, with the calling display lost in the middle of the first attempt, retries, checks that the
thin client's config names both desktops' real VNC consoles, and tears the window down. Nothing of the
stack is left behind. ``$HALLCLOUD_TEST_URI`` selects the hypervisor (default ``qemu:///system``).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from device_manager.windows.seat import InfraSeatBackend
from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.testing.halls import small_hall_config
from tests.device_manager.ops import make_hall
from vdi.conn import connect, connection
from vdi.domain import lookup_domain, vnc_endpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]

URI = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")
IMAGE = "hallcloud-test-x86_64"
SEAT = {"gov": {"image": IMAGE, "memory_mib": 160}, "internet": {"image": IMAGE, "memory_mib": 160}}


def hall_config(prefix: str, octet: int) -> dict:
    return small_hall_config(name="window setup test hall", prefix=prefix, uri=URI, octet=octet, image=IMAGE)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HallStack]:
    try:
        conn = connect(URI)
        conn.listAllStoragePools()
        conn.close()
    except Exception as exc:
        pytest.fail(f"window setup needs libvirt with a storage driver at {URI}: {exc} (run `make setup`)")
    prefix = f"hc-o-{secrets.token_hex(3)}"
    work = tmp_path_factory.mktemp("ops-hall")
    hall = HallStack("ops", work / "state", project_dir=scratch_project(work / "project"))
    spec = hall.write_config(hall_config(prefix, 160 + secrets.randbelow(40)))
    try:
        hall.up()  # networks, pools, the golden image: what every window's seat builds on
        yield hall
    finally:
        try:
            hall.destroy()
        finally:
            assert not leftovers(spec), f"left behind: {leftovers(spec)}"


async def test_window_setup_end_to_end(ops_api, hosts, client_key, stack: HallStack) -> None:
    runtime = ops_api.runtime
    runtime.seat_backend = InfraSeatBackend(
        stack.name, Path(stack.state_dir), seat_template=SEAT, project_dir=stack.project_dir
    )
    hall = await make_hall(
        ops_api,
        {r: hosts[r] for r in ("thin_client", "calling_display")},
        client_key[0],
        number=5,
        slug="live-hall",
    )
    tc = hall.devices["thin_client"]
    display = hosts["calling_display"]
    prefix = stack.spec().prefix

    def lose_the_display(step: str) -> None:
        if step == "configure":
            display.stop_sshd()

    runtime.on_step = lose_the_display
    try:
        job = (await ops_api.post(f"windows/{hall.window_id}/setup", expect=202)).json()
        failed = await ops_api.wait_job(job["job_id"], timeout=600)
    finally:
        runtime.on_step = None
        display.start_sshd()
    assert failed["status"] == "failed" and failed["step"] == "configure"
    assert failed["error"].startswith("window 5: step 3 (configure) failed: playbook calling_display: ")
    assert "unreachable" in failed["error"]
    with connection(URI) as conn:  # the seat was created by the first attempt
        assert all(lookup_domain(conn, f"{prefix}-w005-{s}").isActive() for s in ("gov", "internet"))

    job = (await ops_api.post(f"windows/{hall.window_id}/setup", expect=202)).json()
    done = await ops_api.wait_job(job["job_id"], timeout=600)
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["steps"]["seat"] == "unchanged (desktops running)"
    assert done["result"]["steps"]["configure"] == "thin_client unchanged; calling_display applied"

    consoles = {}
    with connection(URI) as conn:
        for side in ("gov", "internet"):
            graphics = vnc_endpoint(conn, f"{prefix}-w005-{side}")
            assert graphics is not None and graphics.port and graphics.port > 0
            consoles[side] = (graphics.listen, graphics.port)
    read = (
        await ops_api.post(
            "ssh/commands",
            expect=202,
            device_ids=[tc["id"]],
            command=f"cat {ops_api.root(tc['name'])}/etc/hallcloud/thin-client.yaml",
        )
    ).json()
    config = yaml.safe_load(
        (await ops_api.wait_job(read["job_id"]))["result"]["devices"][tc["name"]]["stdout"]
    )
    assert {p["network"]: (p["host"], p["port"]) for p in config["profiles"]} == consoles
    state = (await ops_api.get(f"windows/{hall.window_id}/setup")).json()
    assert state["status"] == "ready"
    assert state["outputs"]["seat"]["desktops"] == {s: f"{prefix}-w005-{s}" for s in ("gov", "internet")}
    assert [w.number for w in stack.spec().windows] == [5]

    job = (
        await ops_api.client.delete(f"/api/v1/windows/{hall.window_id}/setup", headers=ops_api.headers())
    ).json()
    done = await ops_api.wait_job(job["job_id"], timeout=600)
    assert done["status"] == "succeeded", done["error"]
    assert stack.spec().windows == []
    with connection(URI) as conn:
        assert lookup_domain(conn, f"{prefix}-w005-gov") is None
