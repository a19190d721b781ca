"""Operators' plain Pulumi CLI works on a hall stack, beside ``hall stack`` and window setup, on one state.

The CLI is ``.venv/bin/pulumi`` run in a project directory with no HallCloud or Pulumi variable set: only
``HOME`` points at a temporary directory, as for a new user (the state directory defaults to
``~/.local/state/hallcloud``). The stack is made with ``pulumi stack init``; window setup's change
(:func:`infra.windows.add_window`, what ``hall window setup`` runs) is seen by ``pulumi preview`` and kept
by the next ``pulumi up``. A failing ``hall stack up`` prints one summary and no traceback.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.testing.halls import small_hall_config
from infra.windows import add_window

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
PULUMI = ROOT / ".venv" / "bin" / "pulumi"
IMAGE = "hallcloud-test-x86_64"
URI = "qemu:///system"


def window(number: int, memory_mib: int = 128) -> dict[str, Any]:
    return {
        "number": number,
        "name": f"window {number}",
        "seat": {
            "gov": {"image": IMAGE, "memory_mib": memory_mib},
            "internet": {"image": IMAGE, "memory_mib": 128},
        },
    }


def new_user_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HALLCLOUD_", "PULUMI_"))}
    return {**env, "HOME": str(home), "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}


def pulumi(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(PULUMI), *args, "--non-interactive"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"pulumi {' '.join(args)}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_plain_cli_hall_stack_and_window_setup_share_one_stack(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = new_user_env(home)
    project = scratch_project(tmp_path / "project")
    prefix = f"hc-q-{secrets.token_hex(3)}"
    raw = small_hall_config(
        name="plain cli hall",
        prefix=prefix,
        uri=URI,
        octet=20 + secrets.randbelow(20),
        image=IMAGE,
        windows=[window(1)],
    )
    pulumi(project, env, "stack", "init", "hall1")
    document = yaml.safe_load((project / "Pulumi.hall1.yaml").read_text())
    document["config"] = raw  # what an operator writes (or sets with pulumi config set)
    (project / "Pulumi.hall1.yaml").write_text(yaml.safe_dump(document, allow_unicode=True))
    state = home / ".local" / "state" / "hallcloud"
    hall = HallStack("hall1", state, project_dir=project)
    spec = hall.spec()
    try:
        up = pulumi(project, env, "up", "--yes", "--skip-preview")
        assert "created" in up.stdout
        assert (state / "pulumi" / "state" / ".pulumi" / "stacks" / "hallcloud" / "hall1.json").exists()
        assert hall.exists()  # the same state hall stack and window setup use

        added = add_window(hall, window(2))  # window setup's change, in the same config file
        assert added.seat is not None and added.seat["gov"]["domain"] == f"{prefix}-w002-gov"
        preview = pulumi(project, env, "preview", "--json")
        steps = {s["op"] for s in json.loads(preview.stdout).get("steps", [])}
        assert steps <= {"same"}, steps  # pulumi sees window 2 as it is: nothing to change
        again = pulumi(project, env, "up", "--yes", "--skip-preview")
        assert "deleted" not in again.stdout and "to delete" not in again.stdout  # the window is kept
        seats = yaml.safe_load(pulumi(project, env, "stack", "output", "seats", "--json").stdout)
        assert sorted(seats) == ["001", "002"]
    finally:
        hall.destroy()
        assert not leftovers(spec), f"left behind: {leftovers(spec)}"


def test_a_failing_up_prints_one_summary_without_traceback(tmp_path: Path) -> None:
    project = scratch_project(tmp_path / "project")
    prefix = f"hc-q-{secrets.token_hex(3)}"
    # 256 GiB on a 24 GiB host: QEMU cannot set up the guest memory, libvirt reports it
    raw = small_hall_config(
        name="failing hall",
        prefix=prefix,
        uri=URI,
        octet=20 + secrets.randbelow(20),
        image=IMAGE,
        windows=[window(1, memory_mib=262144)],
    )
    hall = HallStack("bad", tmp_path / "state", project_dir=project)
    spec = hall.write_config(raw)
    env = {
        **os.environ,
        "HALLCLOUD_STATE_DIR": str(tmp_path / "state"),
        "HALLCLOUD_PROJECT_DIR": str(project),
    }
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "hall", "stack", "-s", "bad", "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 1, output
        assert "Traceback" not in output
        assert "pulumi up of stack bad failed" in proc.stderr
        failure = f"Domain window-001-gov: domain {prefix}-w001-gov:"
        assert output.count(failure) == 1, output  # said once: in the summary
        assert "Cannot allocate memory" in proc.stderr and "Fix:" in proc.stderr
        log = next(line for line in proc.stderr.splitlines() if line.startswith("full log: "))
        assert Path(log.removeprefix("full log: ")).is_file()
        assert f"{prefix}-w001-gov" not in {
            d for d in leftovers(spec).get("local", [])
        }  # no half-made desktop
    finally:
        hall.destroy()
        assert not leftovers(spec), f"left behind: {leftovers(spec)}"
