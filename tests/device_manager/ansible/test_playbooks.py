"""Real playbooks applied through the one adapter to namespaced sshd devices; results read back over
SSH; check mode changes nothing; host key checking is on; keys live only in the private data dir."""

from __future__ import annotations

import asyncio
import json
import os
import stat

import pytest
import yaml

from device_manager.ansible import adapter
from device_manager.ssh.client import HostKey, SshTarget, run_command, scan_host_key
from tests.device_manager.ops import make_hall

pytestmark = pytest.mark.integration

CONSOLES = [
    {"network": "gov", "label": "政务外网", "protocol": "vnc", "host": "192.0.2.10", "port": 5911},
    {"network": "internet", "label": "互联网", "protocol": "vnc", "host": "192.0.2.10", "port": 5912},
]


async def fetch(api, device: dict, path: str | None = None) -> str:
    """Read a HallCloud config file from the device over SSH (the fetch_config operation)."""
    params = {"path": path} if path else {}
    job = (
        await api.post("ssh/operations/fetch_config", expect=202, device_ids=[device["id"]], params=params)
    ).json()
    done = await api.wait_job(job["job_id"])
    assert done["status"] == "succeeded", done["error"]
    return str(done["result"]["devices"][device["name"]]["stdout"])


async def run_playbook(api, name: str, devices: list[dict], check: bool = False, **variables) -> dict:
    job = (
        await api.post(
            f"jobs/playbooks/{name}",
            expect=202,
            device_ids=[d["id"] for d in devices],
            check=check,
            variables=variables,
        )
    ).json()
    return await api.wait_job(job["job_id"], timeout=300)


async def test_thin_client_calling_display_and_hardening(ops_api, hosts, client_key):
    hall = await make_hall(ops_api, hosts, client_key[0])
    tc, cd = hall.devices["thin_client"], hall.devices["calling_display"]

    check = await run_playbook(
        ops_api, "thin_client", [tc], check=True, hall_window_number=7, hall_consoles=CONSOLES
    )
    assert check["status"] == "succeeded" and check["result"]["changed"] is True
    assert '+    host: "192.0.2.10"' in "\n".join(await ops_api.log(check["id"]))  # the diff
    status = (
        await ops_api.post(
            "ssh/commands",
            expect=202,
            device_ids=[tc["id"]],
            command=f"find {ops_api.root(tc['name'])} -type f | wc -l",
        )
    ).json()
    assert (await ops_api.wait_job(status["job_id"]))["result"]["devices"][tc["name"]]["stdout"] == "0\n"

    done = await run_playbook(
        ops_api,
        "thin_client",
        [tc],
        hall_window_number=7,
        hall_window_name="不动产登记",
        hall_consoles=CONSOLES,
    )
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["changed"] and done["progress"] == 1.0
    log = await ops_api.log(done["id"])
    assert any(line.startswith("TASK Seat files") for line in log)
    config = yaml.safe_load(await fetch(ops_api, tc))
    assert [(p["network"], p["host"], p["port"]) for p in config["profiles"]] == [
        ("gov", "192.0.2.10", 5911),
        ("internet", "192.0.2.10", 5912),
    ]
    assert config["switch_hotkey"]["scope"] == "local" and config["switch_hotkey"]["source"] == "evdev"
    assert config["kiosk_mode"] is True and config["auto_reconnect"]["enabled"] is True
    gov_vv = await fetch(ops_api, tc, "/etc/hallcloud/thin-client/gov.vv")
    assert "host=192.0.2.10" in gov_vv and "port=5911" in gov_vv and "fullscreen=1" in gov_vv

    done = await run_playbook(
        ops_api,
        "calling_display",
        [cd],
        hall_window_number=7,
        hall_window_name="不动产登记",
        hall_window_services=["不动产登记", "抵押登记"],
    )
    assert done["status"] == "succeeded", done["error"]
    shown = json.loads(await fetch(ops_api, cd))
    assert shown == {
        "window_number": 7,
        "window_name": "不动产登记",
        "text": "7号窗口 不动产登记",
        "services": ["不动产登记", "抵押登记"],
    }

    wrong = await ops_api.post("jobs/playbooks/calling_display", device_ids=[tc["id"]])
    assert wrong.status_code == 422 and "applies to calling_display" in wrong.text
    unknown = await ops_api.post(
        "jobs/playbooks/kiosk",
        device_ids=[hall.devices["kiosk"]["id"]],
        variables={"ansible_ssh_common_args": "-o StrictHostKeyChecking=no"},
    )
    assert unknown.status_code == 422 and "takes no variable" in unknown.text

    done = await run_playbook(ops_api, "hardening", [tc, cd])
    assert done["status"] == "succeeded", done["error"]
    target = SshTarget(
        "tc",
        hosts["thin_client"].address,
        "root",
        client_key[0],
        (scan_host_key(hosts["thin_client"].address),),
    )
    root = ops_api.root(tc["name"])
    sshd = run_command(target, f"cat {root}/etc/ssh/sshd_config.d/50-hallcloud.conf").stdout
    assert "PasswordAuthentication no" in sshd and "AllowTcpForwarding no" in sshd


async def test_kiosk_check_mode_changes_nothing(ops_api, hosts, client_key):
    hall = await make_hall(ops_api, {"kiosk": hosts["kiosk"]}, client_key[0], slug="east-hall")
    kiosk = hall.devices["kiosk"]
    target = SshTarget(
        "kiosk", hosts["kiosk"].address, "root", client_key[0], (scan_host_key(hosts["kiosk"].address),)
    )
    root = ops_api.root(kiosk["name"])

    def listing() -> str:
        return run_command(
            target, f"find {root} -type f 2>/dev/null | sort; cat {root}/etc/hallcloud/kiosk.conf 2>/dev/null"
        ).stdout

    before = listing()
    done = await run_playbook(
        ops_api, "kiosk", [kiosk], check=True, hall_kiosk_service_url="https://a.example/"
    )
    assert done["status"] == "succeeded", done["error"]
    assert done["result"]["changed"] is True  # it would change things...
    assert listing() == before == ""  # ...but changed nothing
    log = "\n".join(await ops_api.log(done["id"]))
    assert "check mode, diff" in log and "+SERVICE_URL=https://a.example/" in log

    done = await run_playbook(ops_api, "kiosk", [kiosk], hall_kiosk_service_url="https://a.example/")
    assert done["status"] == "succeeded", done["error"]
    applied = listing()
    assert "SERVICE_URL=https://a.example/" in applied and "hallcloud-kiosk-watchdog.timer" in applied
    assert (
        "autologin-user=hallkiosk"
        in run_command(target, f"cat {root}/etc/lightdm/lightdm.conf.d/50-hallcloud-kiosk.conf").stdout
    )

    done = await run_playbook(
        ops_api, "kiosk", [kiosk], check=True, hall_kiosk_service_url="https://b.example/"
    )
    assert done["status"] == "succeeded" and done["result"]["changed"] is True
    log = "\n".join(await ops_api.log(done["id"]))
    assert "-SERVICE_URL=https://a.example/" in log and "+SERVICE_URL=https://b.example/" in log
    assert listing() == applied


def test_adapter_checks_host_keys_and_removes_keys(hosts, client_key, tmp_path):
    host = hosts["calling_display"]
    real = scan_host_key(host.address)
    other = scan_host_key(hosts["kiosk"].address)
    seen_modes: list[int] = []

    def on_event(event: adapter.RunnerEvent) -> None:
        for path in tmp_path.glob("hallcloud-ansible-*/keys/*"):
            seen_modes.append(stat.S_IMODE(os.stat(path).st_mode))

    def request(key: HostKey) -> adapter.PlaybookRequest:
        return adapter.PlaybookRequest(
            "calling_display.yml",
            (
                adapter.InventoryHost(
                    "cd",
                    host.address,
                    "root",
                    client_key[0],
                    (key,),
                    groups=("calling_display",),
                    variables={
                        "hall_root": str(tmp_path / "root"),
                        "ansible_python_interpreter": "/usr/bin/python3",
                    },
                ),
            ),
            {"hall_window_number": 3},
            check=True,
            connect_timeout_s=5,
        )

    refused = adapter.run(request(HostKey(real.key_type, other.key_base64)), on_event, work_dir=tmp_path)
    assert not refused.ok and refused.hosts["cd"].unreachable == 1
    assert refused.failures[0].kind == "unreachable"
    assert "Host key verification failed" in refused.failures[0].message
    assert seen_modes and set(seen_modes) == {0o600}
    assert list(tmp_path.glob("hallcloud-ansible-*")) == []  # keys and inventory are gone

    accepted = adapter.run(request(real), on_event, work_dir=tmp_path)
    assert accepted.ok and accepted.hosts["cd"].unreachable == 0
    assert list(tmp_path.glob("hallcloud-ansible-*")) == []


async def test_a_playbook_run_can_be_cancelled(ops_api, hosts, client_key):
    hall = await make_hall(ops_api, {"kiosk": hosts["kiosk"]}, client_key[0], slug="cancel-hall")
    kiosk = hall.devices["kiosk"]
    job = (
        await ops_api.post(
            "jobs/playbooks/kiosk", expect=202, device_ids=[kiosk["id"]], check=False, variables={}
        )
    ).json()
    for _ in range(600):  # wait for the first task to start, then cancel in the middle of the run
        if any(line.startswith("TASK ") for line in await ops_api.log(job["job_id"])):
            break
        await asyncio.sleep(0.05)
    await ops_api.post(f"jobs/{job['job_id']}/cancel", expect=202)
    done = await ops_api.wait_job(job["job_id"], timeout=120)
    assert done["status"] == "cancelled", (done["status"], done["error"])
    assert done["finished_at"] is not None
