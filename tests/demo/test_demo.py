"""``make demo`` is the whole hall, and the README's next steps work right after it; ``make demo-down``
leaves nothing behind.

The commands run as a new user would run them (``hall demo up``, ``hall window setup 1``, ...), with two
differences that keep the person running the tests safe: HallCloud's state directory is a temporary one,
and the project is a copy of the checkout's ``Pulumi.yaml`` and ``Pulumi.demo.yaml``, so the passphrase
salt the engine writes lands in the copy. The demo's libvirt objects and network namespaces have fixed
names (``demo-*``, ``hcdemo-*``): the test refuses to run while a demo is up on this machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import libvirt
import pytest

from device_manager.testing.net import free_tcp_port
from infra.automation import scratch_project

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
URI = "qemu:///system"


def demo_objects() -> list[str]:
    conn = libvirt.open(URI)
    try:
        names = [d.name() for d in conn.listAllDomains() if d.name().startswith("demo-")]
        names += [n.name() for n in conn.listAllNetworks() if n.name().startswith("demo-")]
        names += [f.name() for f in conn.listAllNWFilters() if f.name().startswith("demo-")]
        names += [p.name() for p in conn.listAllStoragePools() if p.name().startswith("demo-")]
    finally:
        conn.close()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
    return names + [n for n in namespaces if n.startswith("hcdemo-")]


class Hall:
    def __init__(self, tmp: Path) -> None:
        self.state = tmp / "state"
        self.project = scratch_project(tmp / "project")
        shutil.copyfile(ROOT / "Pulumi.demo.yaml", self.project / "Pulumi.demo.yaml")
        self.port = free_tcp_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HALLCLOUD_", "PULUMI_"))}
        self.env = {**env, "HALLCLOUD_STATE_DIR": str(self.state), "HALLCLOUD_PROJECT_DIR": str(self.project)}

    def hall(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "hall", *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    @property
    def token(self) -> str:
        return (self.state / "demo" / "admin.token").read_text().strip()

    def api(self) -> httpx.Client:
        return httpx.Client(base_url=f"{self.url}/api/v1", headers={"Authorization": f"Bearer {self.token}"})


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hall, subprocess.CompletedProcess[str]]]:
    if os.geteuid() != 0:
        pytest.skip("the demo needs root (network namespaces, libvirt, daemons)")
    running = demo_objects()
    if running:
        message = f"a demo hall is up on this machine ({', '.join(running[:4])}...): run make demo-down first"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    hall = Hall(tmp_path_factory.mktemp("demo"))
    started = time.monotonic()
    up = hall.hall("demo", "up", "--port", str(hall.port))
    print(f"hall demo up: {time.monotonic() - started:.1f} s, exit {up.returncode}")
    try:
        yield hall, up
    finally:
        down = hall.hall("demo", "down")
        assert down.returncode == 0, down.stdout[-3000:] + down.stderr[-3000:]
        assert demo_objects() == []
        assert not hall.state.exists() or not any(hall.state.iterdir()), sorted(hall.state.rglob("*"))[:10]
        assert "encryptionsalt" not in (hall.project / "Pulumi.demo.yaml").read_text()
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{hall.url}/healthz", timeout=2)


def test_demo_up_is_the_whole_hall_and_hides_the_token(demo: tuple[Hall, Any]) -> None:
    hall, up = demo
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    token_file = hall.state / "demo" / "admin.token"
    assert token_file.stat().st_mode & 0o777 == 0o600
    assert hall.token not in up.stdout + up.stderr  # the file is named, the token never shown
    assert f"{hall.url}/ui/" in up.stdout and str(token_file) in up.stdout
    assert (hall.state / "device-manager" / "controller.env").stat().st_mode & 0o777 == 0o600
    with hall.api() as api:
        windows = api.get("/windows").json()["results"]
        assert sorted(w["number"] for w in windows) == [1, 2, 3, 4]
        devices = {d["name"]: d for d in api.get("/devices", params={"limit": 100}).json()["results"]}
    assert {d["device_type"] for d in devices.values()} >= {
        "thin_client",
        "calling_display",
        "printer",
        "ups",
        "switch",
        "kiosk",
        "queue_ticket_machine",
    }
    assert devices["tc-w001"]["window_id"] == next(w["id"] for w in windows if w["number"] == 1)


def test_the_readme_next_steps_work_right_after_make_demo(demo: tuple[Hall, Any]) -> None:
    hall, up = demo
    assert up.returncode == 0
    setup = hall.hall("window", "setup", "1")
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    status = hall.hall("window", "status", "1")
    assert status.returncode == 0 and '"status": "ready"' in status.stdout, status.stdout
    backups = hall.hall("desktop", "backups", "demo-w001-gov")  # no --pool: the stack knows it
    assert backups.returncode == 0 and "pool demo-backup" in backups.stdout, backups.stdout + backups.stderr
    preview = subprocess.run(
        [str(ROOT / ".venv" / "bin" / "pulumi"), "preview", "--non-interactive"],
        cwd=hall.project,
        env={**hall.env, "PATH": f"{ROOT / '.venv' / 'bin'}:/usr/sbin:/usr/bin:/sbin:/bin"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert preview.returncode == 0, preview.stdout[-3000:] + preview.stderr[-3000:]
    assert "to create" not in preview.stdout and "to replace" not in preview.stdout, preview.stdout[-2000:]


def test_the_dashboard_shows_live_tiles_and_the_seat_page_both_desktops(
    demo: tuple[Hall, Any], page: Any, artifacts_dir: Path
) -> None:
    hall, up = demo
    assert up.returncode == 0
    with hall.api() as api:
        deadline = time.monotonic() + 120
        while True:  # the first poll cycles (every 15 s in the demo)
            devices = api.get("/devices", params={"limit": 100}).json()["results"]
            if all(d["oper_status"] != "unknown" for d in devices):
                break
            assert time.monotonic() < deadline, [(d["name"], d["oper_status"]) for d in devices]
            time.sleep(2)
        kiosk = next(d for d in devices if d["name"] == "kiosk-1")
    page.goto(f"{hall.url}/ui/")
    page.fill("#api-token", hall.token)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#hall-map")
    page.wait_for_selector("#live[data-live=on]")
    page.wait_for_selector(f"#tile-device-{kiosk['id']}[data-status]")
    assert page.locator("[id^=tile-window-]").count() == 4
    page.screenshot(path=str(artifacts_dir / "demo-hall-map.png"), full_page=True)
    seat_url = (hall.state / "demo" / "seat-window-1.url").read_text().strip()
    page.goto(seat_url)
    page.wait_for_selector("#pane-gov[data-state=connected]", state="attached", timeout=60_000)
    page.wait_for_selector("#pane-internet[data-state=connected]", state="attached", timeout=60_000)
    page.screenshot(path=str(artifacts_dir / "demo-seat-window-1.png"))
