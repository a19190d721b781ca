"""Ctrl-C and SIGTERM stop ``hall stack up`` within seconds, keep the state consistent, and a rerun resumes.

The desktops are held before they are ready, deterministically: their NICs wait for DHCP for up to ten
minutes, and the test pauses each guest as soon as it runs, so no address ever comes and the engine is in
the middle of both desktops' creates when the signal arrives. The command runs with SIGINT inherited as
*ignored* (what a job started in the background by a non-interactive shell gets), which it must undo.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import libvirt
import pytest
import yaml

from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.testing.halls import small_hall_config
from vdi.conn import connection

pytestmark = [pytest.mark.integration, pytest.mark.slow]

URI = "qemu:///system"
IMAGE = "hallcloud-test-x86_64"


def _config(prefix: str, wait: int) -> dict[str, Any]:
    raw = small_hall_config(
        name="interrupt hall",
        prefix=prefix,
        uri=URI,
        octet=60 + secrets.randbelow(30),
        image=IMAGE,
        windows=[
            {
                "number": 1,
                "name": "window 1",
                "seat": {
                    "gov": {"image": IMAGE, "memory_mib": 128},
                    "internet": {"image": IMAGE, "memory_mib": 128},
                },
            }
        ],
    )
    raw["hall:settings"]["address_wait_seconds"] = wait
    return raw


def _pause_when_running(proc: subprocess.Popen[str], names: list[str], deadline: float) -> None:
    paused: set[str] = set()
    with connection(URI) as conn:
        while paused != set(names):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"hall stack up ended before its desktops ran ({proc.returncode}):\n{out}\n{err}")
            assert time.monotonic() < deadline, f"the desktops never started (paused: {sorted(paused)})"
            for name in set(names) - paused:
                try:
                    dom = conn.lookupByName(name)
                    if dom.isActive():
                        dom.suspend()
                        paused.add(name)
                except libvirt.libvirtError:
                    pass
            time.sleep(0.05)


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_up_stops_fast_cleans_up_and_resumes(tmp_path: Path, signum: int, status: int) -> None:
    prefix = f"hc-i-{secrets.token_hex(3)}"
    project = scratch_project(tmp_path / "project")
    state = tmp_path / "state"
    hall = HallStack("intr", state, project_dir=project)
    spec = hall.write_config(_config(prefix, wait=600))
    desktops = [f"{prefix}-w001-gov", f"{prefix}-w001-internet"]
    argv = [
        sys.executable,
        "-m",
        "hall",
        "stack",
        "-s",
        "intr",
        "--project-dir",
        str(project),
        "--state",
        str(state),
        "up",
    ]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        _pause_when_running(proc, desktops, time.monotonic() + 240)
        time.sleep(1.0)  # both creates are now waiting for addresses that cannot come
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
        stopped_after = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, (out, err)
    assert stopped_after < 10, f"took {stopped_after:.1f} s to stop"
    assert "was interrupted" in err and "run the command again to resume" in err, err
    assert "Traceback" not in out + err

    # the interrupted creates removed their desktops; what finished is in the state; nothing is pending
    with connection(URI) as conn:
        names = {d.name() for d in conn.listAllDomains()}
    assert not names & set(desktops), names & set(desktops)
    exported = json.loads(hall._cli("stack", "export", "--stack", "intr").stdout)["deployment"]
    assert not exported.get("pending_operations"), exported.get("pending_operations")
    recorded = [r["urn"].rsplit("::", 1)[-1] for r in exported.get("resources") or []]
    assert "networks-local-gov" in recorded and "window-001-gov" not in recorded

    # a rerun resumes and converges
    document = yaml.safe_load(hall.config_file.read_text())
    document["config"]["hall:settings"]["address_wait_seconds"] = 0
    hall.config_file.write_text(yaml.safe_dump(document, allow_unicode=True))
    try:
        result = hall.up()
        assert all(result.outputs["seats"]["001"][side]["running"] for side in ("gov", "internet"))
    finally:
        try:
            hall.destroy()
        finally:
            assert not leftovers(spec), f"left behind: {leftovers(spec)}"
