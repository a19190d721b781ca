"""A host where libvirt never ran a guest: ``make setup`` prepares it so that the first parallel start of many
desktops through the stack works.

On cgroup v1 without systemd libvirt creates the ``machine`` partition when the first guest starts; a
guest started in the same instant inherits the partition's still-empty cpuset and fails with
``Unable to write to '.../cpuset/machine/qemu-N-NAME.libvirt-qemu/emulator/tasks': No space left on
device``. The window is microseconds wide, so instead of hoping to hit it the test freezes it: after
reproducing a fresh host (no guest running, libvirt's machine cgroups removed, HallCloud's libvirt hook
gone, daemons stopped) and running ``make setup``, it also removes what setup prepared, as a reboot
would, and creates the partition exactly as the racing start leaves it (the directory, with an empty
``cpuset.cpus`` and ``cpuset.mems``). Then it brings up a stack of 4 windows: 8 desktops started in
parallel by the engine. Without the hook every one of them fails.

This test stops and restarts libvirtd, so it runs first in the session (``fresh_host`` marker) and only
when no guest is running on the host.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path

import libvirt
import pytest

from infra.automation import HallStack, scratch_project
from infra.demo import leftovers
from infra.testing.halls import small_hall_config

pytestmark = [pytest.mark.integration, pytest.mark.fresh_host, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
URI = "qemu:///system"
CGROUP = Path("/sys/fs/cgroup")
HOOK = Path("/etc/libvirt/hooks/qemu.d/10-hallcloud-cgroups")
PIDFILES = (Path("/run/libvirtd.pid"), Path("/run/virtlogd.pid"))


def running_guests() -> list[str]:
    try:
        conn = libvirt.open(URI)
    except libvirt.libvirtError:
        return []
    try:
        return [d.name() for d in conn.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_ACTIVE)]
    finally:
        conn.close()


def stop_daemons() -> None:
    for pidfile in PIDFILES:
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            continue
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"{pidfile.name}: pid {pid} did not stop within 30 s")


def remove_machine_cgroups() -> list[Path]:
    """rmdir every ``machine`` partition libvirt made in the cgroup hierarchies (deepest first)."""
    removed = []
    for hierarchy in CGROUP.iterdir():
        partition = hierarchy / "machine"
        if not partition.is_dir():
            continue
        for sub in sorted((p for p in partition.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            sub.rmdir()
        partition.rmdir()
        removed.append(partition)
    return removed


def freeze_partition_mid_creation() -> Path:
    """The cpuset partition as a start that is creating it leaves it for an instant: empty."""
    partition = CGROUP / "cpuset" / "machine"
    partition.mkdir()
    assert (partition / "cpuset.cpus").read_text().strip() == ""
    assert (partition / "cpuset.mems").read_text().strip() == ""
    return partition


@pytest.fixture
def fresh_host() -> None:
    if os.geteuid() != 0:
        pytest.skip("reproducing a fresh host needs root (it restarts libvirtd and removes cgroups)")
    if not (CGROUP / "cpuset" / "cpuset.cpus").exists():
        pytest.skip("this host has no cgroup v1 cpuset hierarchy: the failure cannot happen here")
    guests = running_guests()
    if guests:
        message = f"{len(guests)} guests are running ({', '.join(guests[:5])}): cannot reproduce a fresh host"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    stop_daemons()
    remove_machine_cgroups()
    HOOK.unlink(missing_ok=True)


def test_first_parallel_start_of_8_desktops_on_a_fresh_host(fresh_host: None, tmp_path: Path) -> None:
    setup = subprocess.run(
        ["bash", "scripts/setup.sh"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert setup.returncode == 0, setup.stdout[-3000:] + setup.stderr[-3000:]
    assert HOOK.is_file(), "make setup did not install the libvirt hook"
    # a reboot empties /sys/fs/cgroup again; then a start creates the partition while others start
    remove_machine_cgroups()
    freeze_partition_mid_creation()

    prefix = f"hc-f-{secrets.token_hex(3)}"
    windows = [
        {
            "number": n,
            "name": f"window {n}",
            "seat": {
                "gov": {"image": "hallcloud-test-x86_64", "memory_mib": 128},
                "internet": {"image": "hallcloud-test-x86_64", "memory_mib": 128},
            },
        }
        for n in range(1, 5)
    ]
    raw = small_hall_config(
        name="fresh host hall",
        prefix=prefix,
        uri=URI,
        octet=100 + secrets.randbelow(20),
        image="hallcloud-test-x86_64",
        windows=windows,
    )
    hall = HallStack("fresh", tmp_path / "state", project_dir=scratch_project(tmp_path / "project"))
    spec = hall.write_config(raw)
    try:
        result = hall.up()
        desktops = [f"{prefix}-w00{n}-{side}" for n in range(1, 5) for side in ("gov", "internet")]
        seats = result.outputs["seats"]
        assert all(seats[f"{n:03d}"][side]["running"] for n in range(1, 5) for side in ("gov", "internet"))
        active = set(running_guests())
        assert set(desktops) <= active, sorted(set(desktops) - active)
        cpus = (CGROUP / "cpuset" / "machine" / "cpuset.cpus").read_text().strip()
        assert cpus == (CGROUP / "cpuset" / "cpuset.cpus").read_text().strip()
    finally:
        try:
            hall.destroy()
        finally:
            assert not leftovers(spec), f"left behind: {leftovers(spec)}"
