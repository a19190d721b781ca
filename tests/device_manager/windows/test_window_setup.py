"""Window setup against namespaced sshd devices and real playbooks, with a stand-in seat backend (the
end-to-end test with the real Pulumi engine and libvirt is in test_window_setup_live.py): the steps,
idempotent re-runs, changing services re-runs only the calling display, a device lost in the middle
fails the job at that step and a retry succeeds, teardown."""

from __future__ import annotations

import json

import pytest
import yaml

from device_manager.windows.seat import Console, SeatInfo
from tests.device_manager.ops import make_hall

pytestmark = pytest.mark.integration


class FakeSeats:
    """Stands in for the hall stack: remembers seats, their consoles and whether they run."""

    def __init__(self) -> None:
        self.seats: dict[int, SeatInfo] = {}
        self.applied: list[int] = []
        self.removed: list[int] = []

    def apply(self, number, name, on_output=None, cancel=None):
        self.applied.append(number)
        if on_output:
            on_output(f"fake up: window {number} ({name})")
        info = SeatInfo(
            number,
            (
                Console("gov", "vnc", "127.0.0.1", 5900 + 2 * number),
                Console("internet", "vnc", "127.0.0.1", 5901 + 2 * number),
            ),
            {"gov": f"fake-w{number:03d}-gov", "internet": f"fake-w{number:03d}-internet"},
            {"gov": True, "internet": True},
        )
        self.seats[number] = info
        return info

    def status(self, number):
        return self.seats.get(number)

    def remove(self, number, on_output=None, cancel=None):
        self.removed.append(number)
        self.seats.pop(number, None)


@pytest.fixture
def seats(ops_api):
    fake = FakeSeats()
    ops_api.runtime.seat_backend = fake
    return fake


async def read(api, device, path):
    job = (
        await api.post(
            "ssh/commands",
            expect=202,
            device_ids=[device["id"]],
            command=f"cat {api.root(device['name'])}{path}",
        )
    ).json()
    done = await api.wait_job(job["job_id"])
    return done["status"], done["result"].get("devices", {}).get(device["name"], {}).get("stdout", "")


async def setup(api, window_id, expect="succeeded"):
    job = (await api.post(f"windows/{window_id}/setup", role="it_staff", expect=202)).json()
    done = await api.wait_job(job["job_id"], timeout=400)
    assert done["status"] == expect, done["error"]
    return done


async def test_setup_is_idempotent_and_services_change_reruns_only_the_display(
    backend, ops_api, hosts, client_key, seats
):
    hall = await make_hall(
        ops_api, {r: hosts[r] for r in ("thin_client", "calling_display")}, client_key[0], number=12
    )
    tc, cd = hall.devices["thin_client"], hall.devices["calling_display"]

    done = await setup(ops_api, hall.window_id)
    assert list(done["result"]["timings"]) == ["seat", "bind", "configure", "verify"]
    assert done["result"]["steps"]["seat"] == "applied"
    assert done["result"]["steps"]["configure"] == "thin_client applied; calling_display applied"
    state = (await ops_api.get(f"windows/{hall.window_id}/setup")).json()
    assert state["status"] == "ready" and state["failed_step"] is None
    assert state["outputs"]["devices"]["thin_client"]["name"] == tc["name"]

    status, config = await read(ops_api, tc, "/etc/hallcloud/thin-client.yaml")
    profiles = {p["network"]: (p["host"], p["port"]) for p in yaml.safe_load(config)["profiles"]}
    assert profiles == {"gov": ("127.0.0.1", 5924), "internet": ("127.0.0.1", 5925)}
    status, shown = await read(ops_api, cd, "/etc/hallcloud/calling-display.json")
    assert json.loads(shown)["text"] == "12号窗口 不动产登记"

    again = await setup(ops_api, hall.window_id)  # nothing changed: nothing re-applied
    assert again["result"]["steps"]["seat"] == "unchanged (desktops running)"
    assert again["result"]["steps"]["configure"] == "thin_client unchanged; calling_display unchanged"
    assert seats.applied == [12]

    window = hall.window_id
    patched = await ops_api.client.patch(
        f"/api/v1/windows/{window}",
        headers=ops_api.headers(),
        json={"services": ["不动产登记", "抵押登记", "查封登记"]},
    )
    assert patched.status_code == 200, patched.text
    changed = await setup(ops_api, hall.window_id)
    assert changed["result"]["steps"]["configure"] == "thin_client unchanged; calling_display applied"
    log = await ops_api.log(changed["id"])
    runs = [line for line in log if line.startswith("playbook window_setup.yml on ")]
    assert runs == [f"playbook window_setup.yml on {cd['name']}"]  # the thin client was left alone
    assert seats.applied == [12]
    status, shown = await read(ops_api, cd, "/etc/hallcloud/calling-display.json")
    assert json.loads(shown)["services"] == ["不动产登记", "抵押登记", "查封登记"]

    job = (
        await ops_api.client.delete(f"/api/v1/windows/{window}/setup", headers=ops_api.headers("it_staff"))
    ).json()
    done = await ops_api.wait_job(job["job_id"], timeout=300)
    assert done["status"] == "succeeded", done["error"]
    assert seats.removed == [12]
    assert (await ops_api.get(f"windows/{window}/setup")).json()["status"] == "absent"
    status, _ = await read(ops_api, tc, "/etc/hallcloud/thin-client.yaml")
    assert status == "failed"  # the seat configuration is gone from the thin client


async def test_a_device_lost_mid_run_fails_that_step_and_a_retry_succeeds(ops_api, hosts, client_key, seats):
    hall = await make_hall(
        ops_api,
        {r: hosts[r] for r in ("thin_client", "calling_display")},
        client_key[0],
        number=21,
        slug="west-hall",
    )
    display = hosts["calling_display"]
    runtime = ops_api.runtime

    def lose_the_display(step: str) -> None:
        if step == "configure":
            display.stop_sshd()

    runtime.on_step = lose_the_display
    try:
        failed = await setup(ops_api, hall.window_id, expect="failed")
    finally:
        runtime.on_step = None
        display.start_sshd()
    assert failed["step"] == "configure"
    assert failed["error"].startswith("window 21: step 3 (configure) failed: playbook calling_display: ")
    assert hall.devices["calling_display"]["name"] in failed["error"] and "unreachable" in failed["error"]
    state = (await ops_api.get(f"windows/{hall.window_id}/setup")).json()
    assert state["status"] == "failed" and state["failed_step"] == "configure"
    assert state["steps"]["configure:thin_client"]["status"] == "done"

    retried = await setup(ops_api, hall.window_id)
    assert retried["result"]["steps"]["seat"] == "unchanged (desktops running)"
    assert retried["result"]["steps"]["configure"] == "thin_client unchanged; calling_display applied"
    assert seats.applied == [21]
    assert (await ops_api.get(f"windows/{hall.window_id}/setup")).json()["status"] == "ready"


async def test_setup_refuses_what_it_cannot_do(ops_api, hosts, client_key, seats):
    hall = await make_hall(
        ops_api,
        {"calling_display": hosts["calling_display"]},
        client_key[0],
        number=30,
        slug="no-thin-client",
    )
    assert (await ops_api.post(f"windows/{hall.window_id}/setup", role="viewer")).status_code == 403
    assert (await ops_api.post("windows/99/setup")).status_code == 404
    failed = await setup(ops_api, hall.window_id, expect="failed")
    assert failed["step"] == "bind"
    assert "window 30 needs exactly one thin client in the inventory, found none" in failed["error"]
    assert seats.applied == [30]  # the seat step ran before; a retry will not redo it
    assert hall.window_id
