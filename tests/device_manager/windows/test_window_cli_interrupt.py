"""Ctrl-C (and SIGTERM) stop ``hall window setup`` within seconds: the job is cancelled, the seat step's
engine run stops and removes the desktops it was creating, the command exits 130 (143), and running it
again resumes.

The seat step is held deterministically: the stack makes its desktops wait up to ten minutes for DHCP
and the test pauses each new desktop as soon as it runs, so no address can come. The command starts
with SIGINT inherited as ignored (a background job of a non-interactive shell), which it must undo.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import libvirt
import pytest

from device_manager.core.config import Settings
from device_manager.core.secrets import generate_master_key
from device_manager.db import migrate
from device_manager.db.job_models import Job
from device_manager.db.models import Site, Window
from device_manager.db.session import make_engine, make_session_factory
from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.testing.halls import small_hall_config
from tests.plugin import SECRET_KEY
from vdi.conn import connection

pytestmark = [pytest.mark.integration, pytest.mark.slow]

URI = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")
IMAGE = "hallcloud-test-x86_64"
SEAT = {"gov": {"image": IMAGE, "memory_mib": 128}, "internet": {"image": IMAGE, "memory_mib": 128}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HallStack]:
    prefix = f"hc-w-{secrets.token_hex(3)}"
    work = tmp_path_factory.mktemp("window-cli")
    hall = HallStack("wcli", work / "state", project_dir=scratch_project(work / "project"))
    raw = small_hall_config(
        name="window cli hall", prefix=prefix, uri=URI, octet=40 + secrets.randbelow(20), image=IMAGE
    )
    raw["hall:settings"]["address_wait_seconds"] = 600
    spec = hall.write_config(raw)
    try:
        hall.up()
        yield hall
    finally:
        try:
            hall.destroy()
        finally:
            assert not leftovers(spec), f"left behind: {leftovers(spec)}"


def _env(stack: HallStack, data: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALLCLOUD_")}
    return {
        **env,
        "HALLCLOUD_ENVIRONMENT": "test",
        "HALLCLOUD_DATA_DIR": str(data),
        "HALLCLOUD_SECRET_KEY": SECRET_KEY,
        "HALLCLOUD_MASTER_KEY": generate_master_key(),
        "HALLCLOUD_STATE_DIR": str(stack.state_dir),
        "HALLCLOUD_PROJECT_DIR": str(stack.project_dir),
        "HALLCLOUD_OPS_STACK": stack.name,
        "HALLCLOUD_OPS_SEAT_TEMPLATE": json.dumps(SEAT),
    }


def _pause_when_running(proc: subprocess.Popen[str], names: list[str]) -> None:
    deadline = time.monotonic() + 300
    paused: set[str] = set()
    with connection(URI) as conn:
        while paused != set(names):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"hall window setup ended before its desktops ran:\n{out}\n{err}")
            assert time.monotonic() < deadline, f"the desktops never ran (paused {sorted(paused)})"
            for name in set(names) - paused:
                try:
                    dom = conn.lookupByName(name)
                    if dom.isActive():
                        dom.suspend()
                        paused.add(name)
                except libvirt.libvirtError:
                    pass
            time.sleep(0.05)


@pytest.mark.parametrize(("number", "signum", "status"), [(6, signal.SIGINT, 130), (7, signal.SIGTERM, 143)])
def test_interrupted_window_setup_cancels_its_job_and_cleans_up(
    stack: HallStack, tmp_path: Path, number: int, signum: int, status: int
) -> None:
    data = tmp_path / "dm"
    env = _env(stack, data)
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        settings = Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    engine = make_engine(settings.sqlalchemy_url)
    migrate.upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as db:
        site = Site(name="interrupt hall", slug="intr")
        db.add(site)
        db.flush()
        db.add(Window(site_id=site.id, number=number, name=f"window {number}", services=["test"]))
        db.commit()
    prefix = stack.spec().prefix
    desktops = [f"{prefix}-w{number:03d}-{side}" for side in ("gov", "internet")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "hall", "window", "setup", str(number)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        _pause_when_running(proc, desktops)
        time.sleep(1.0)
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
        seconds = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, (out, err)
    assert seconds < 15, f"took {seconds:.1f} s"
    assert f"interrupted; job 1 is cancelled at step seat; `hall window setup {number}` resumes it" in err, (
        err
    )
    with factory() as db:
        job = db.get(Job, 1)
        assert job is not None and job.status == "cancelled"
    engine.dispose()
    with connection(URI) as conn:
        names = {d.name() for d in conn.listAllDomains()}
    assert not names & set(desktops), names & set(desktops)  # the interrupted creates removed them
    assert number in [w.number for w in stack.spec().windows]  # the config change stays: a rerun resumes
