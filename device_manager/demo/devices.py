"""The demo hall's simulated devices, kept running in the background between ``hall demo up`` and
``hall demo down``.

* **Window devices** (a thin client and a calling display per window): each is a network namespace of its
  own behind a veth pair on ``10.219.0.0/24`` (one /30 per device), running OpenSSH (the controller's
  SSH operations and playbooks log in with the demo's key) and net-snmp's snmpd (polled like hall
  hardware). Both daemons detach and write pid files.
* **Hall devices** (printers, a UPS, a switch, the kiosk, the queue-ticket machine): one snmpsim process
  on loopback serving a ``.snmprec`` file per device, each addressed by its own community.

Everything started is recorded in ``<state>/demo/devices.json`` as it is started, so ``stop`` removes it
all even after an interrupted ``up``. Names carry the ``hcdemo`` tag; nothing else is touched.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from device_manager.snmp.credentials import SnmpV2c
from device_manager.testing.snmp_agents import DATA_DIR, SnmpsimAgent, wait_until_answers
from device_manager.testing.ssh_hosts import SshHost

__all__ = ["DemoDevice", "DeviceSet", "WindowHost"]

SUBNET = "10.219.0"
"""The window devices' /24: one /30 per device (the demo hall's desktop networks are 10.218.*)."""
SNMP_PORT = 16161
WINDOW_COMMUNITY = "hallcloud-demo"
TAG = "hcdemo"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
Say = Callable[[str], None]


@dataclass
class DemoDevice:
    """One device as the inventory will know it."""

    name: str
    device_type: str
    address: str
    snmp_port: int
    community: str
    window: int | None = None
    area: str | None = None
    ssh: bool = False
    host_key_fingerprint: str | None = None


@dataclass
class WindowHost:
    """A namespaced window device: what was made for it, to remove it again."""

    name: str
    namespace: str
    host_if: str
    address: str
    gateway: str
    workdir: str
    pids: dict[str, int] = field(default_factory=dict)


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=check)


def _alive(pid: int, needle: str) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return needle.encode() in cmdline.read()
    except OSError:
        return False


def _kill(pid: int, needle: str) -> None:
    """End ``pid`` only if it is still the process we started (its command line names ``needle``)."""
    if not _alive(pid, needle):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid, needle):
        time.sleep(0.05)
    if _alive(pid, needle):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _read_pid(path: Path, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, IndexError):  # not there yet, or not written yet
            return int(path.read_text().split()[0])
        time.sleep(0.05)
    raise RuntimeError(f"{path} was not written within {timeout:.0f} s")


class DeviceSet:
    """The demo's devices and the record of what runs for them (``<state>/demo/devices.json``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.record_file = directory / "devices.json"
        self.hosts: list[WindowHost] = []
        self.devices: list[DemoDevice] = []
        self.snmpsim: dict[str, object] = {}
        if self.record_file.exists():
            data = json.loads(self.record_file.read_text())
            self.hosts = [WindowHost(**h) for h in data.get("hosts", [])]
            self.devices = [DemoDevice(**d) for d in data.get("devices", [])]
            self.snmpsim = data.get("snmpsim", {})

    def _save(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        data = {
            "hosts": [asdict(h) for h in self.hosts],
            "devices": [asdict(d) for d in self.devices],
            "snmpsim": self.snmpsim,
        }
        tmp = self.record_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False))
        os.replace(tmp, self.record_file)

    # -- starting ----------------------------------------------------------------------------------------

    def start_window_device(
        self, name: str, device_type: str, window: int, authorized_key: str
    ) -> DemoDevice:
        """A namespace with sshd and snmpd for a thin client or calling display of ``window``."""
        index = len(self.hosts)
        if index >= 60:
            raise RuntimeError("the demo has room for 60 window devices")
        namespace, host_if, ns_if = f"{TAG}-{name}", f"{TAG}{index}h", f"{TAG}{index}n"
        gateway, address = f"{SUBNET}.{4 * index + 1}", f"{SUBNET}.{4 * index + 2}"
        workdir = self.directory / "devices" / name
        if workdir.exists():
            shutil.rmtree(workdir)
        workdir.mkdir(parents=True)
        host = WindowHost(name, namespace, host_if, address, gateway, str(workdir))
        self.hosts.append(host)
        self._save()  # recorded before anything exists, so a stop after a failure removes it
        _run("ip", "netns", "add", namespace)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", namespace)
        _run("ip", "addr", "add", f"{gateway}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        for args in (
            ("ip", "addr", "add", f"{address}/30", "dev", ns_if),
            ("ip", "link", "set", ns_if, "up"),
            ("ip", "link", "set", "lo", "up"),
            ("ip", "route", "add", "default", "via", gateway),
        ):
            _run("ip", "netns", "exec", namespace, *args)
        ssh = SshHost(device_type, namespace, host_if, address, gateway, workdir, authorized_key)
        ssh.new_host_key()
        ssh.write_config()
        ssh.root.mkdir()
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        env = {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8"}
        # sshd without -D detaches and writes the PidFile its config names
        _run(
            "ip",
            "netns",
            "exec",
            namespace,
            "/usr/sbin/sshd",
            "-f",
            str(workdir / "sshd_config"),
            "-E",
            str(workdir / "sshd.log"),
        )
        host.pids["sshd"] = _read_pid(workdir / "sshd.pid")
        self._save()
        conf = workdir / "snmpd.conf"
        conf.write_text(
            f"agentAddress udp:{address}:161\nrocommunity {WINDOW_COMMUNITY} default\nsysName {name}\n"
            f"sysLocation HallCloud demo hall, window {window}\nsysContact it@hall.example\nsysServices 72\n"
        )
        conf.chmod(0o600)
        (workdir / "snmp-state").mkdir()
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                "snmpd",
                "-C",
                "-c",
                str(conf),
                "-p",
                str(workdir / "snmpd.pid"),
                "-Lf",
                str(workdir / "snmpd.log"),
            ],
            env={
                **env,
                "SNMP_PERSISTENT_DIR": str(workdir / "snmp-state"),
                "MIBS": "",
                "MIBDIRS": "/nonexistent",
            },
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        host.pids["snmpd"] = _read_pid(workdir / "snmpd.pid")
        self._save()
        wait_until_answers(address, 161, SnmpV2c(WINDOW_COMMUNITY), 30, None, workdir / "snmpd.log")
        device = DemoDevice(
            name,
            device_type,
            address,
            161,
            WINDOW_COMMUNITY,
            window=window,
            ssh=True,
            host_key_fingerprint=ssh.host_key_fingerprint(),
        )
        self.devices.append(device)
        self._save()
        return device

    def start_hall_devices(self, devices: Sequence[tuple[str, str, str, str | None]], workdir: Path) -> None:
        """One snmpsim serving ``(name, device_type, data file stem, area)`` devices on loopback."""
        data_files = []
        for name, _device_type, stem, _area in devices:
            source = DATA_DIR / f"{stem}.snmprec"
            target = workdir / "source" / f"{name}.snmprec"  # the community is the file's stem
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            data_files.append(target)
        agent = SnmpsimAgent(
            workdir=workdir / "agent", port=SNMP_PORT, data_files=data_files, v3_data=devices[0][0]
        )
        self.snmpsim = {"workdir": str(workdir)}
        self._save()
        agent.start()
        assert agent.process is not None
        self.snmpsim["pid"] = agent.process.pid
        for name, device_type, _stem, area in devices:
            self.devices.append(DemoDevice(name, device_type, "127.0.0.1", SNMP_PORT, name, area=area))
        self._save()

    # -- stopping ----------------------------------------------------------------------------------------

    def stop(self, say: Say) -> None:
        """End every process started for the demo's devices and remove their namespaces and files."""
        for host in self.hosts:
            for daemon, pid in host.pids.items():
                _kill(pid, daemon)
            inside = _run("ip", "netns", "pids", host.namespace, check=False).stdout.split()
            for pid_text in inside:  # sessions sshd started: only processes in our own namespace
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid_text), signal.SIGKILL)
            _run("ip", "netns", "del", host.namespace, check=False)
            _run("ip", "link", "del", host.host_if, check=False)
            shutil.rmtree(host.workdir, ignore_errors=True)
            say(f"  removed device {host.name} (namespace {host.namespace})")
        simulator = self.snmpsim.get("pid")
        if isinstance(simulator, int):
            _kill(simulator, "snmpsim")
        workdir = self.snmpsim.get("workdir")
        if isinstance(workdir, str):
            shutil.rmtree(workdir, ignore_errors=True)
            say("  stopped the SNMP simulator of the hall devices")
        self.hosts, self.devices, self.snmpsim = [], [], {}
        self.record_file.unlink(missing_ok=True)

    def running(self) -> Iterator[str]:
        """What is recorded and still runs (for ``hall demo status``)."""
        for host in self.hosts:
            for daemon, pid in host.pids.items():
                if _alive(pid, daemon):
                    yield f"{host.name}: {daemon} (pid {pid})"
        simulator = self.snmpsim.get("pid")
        if isinstance(simulator, int) and _alive(simulator, "snmpsim"):
            yield f"hall devices: snmpsim (pid {simulator})"
