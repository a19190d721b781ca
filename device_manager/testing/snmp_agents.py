"""Real SNMP agents on loopback for tests and benchmarks: net-snmp's snmpd and snmpsim.

Both run as child processes of the test run on ``127.0.0.1:<free port>`` with their own config in a
temporary directory, and are stopped by the process handle we hold (never by name).

* ``SnmpdAgent``: Debian's snmpd with a v2c community and a v3 authPriv user (SHA-256 + AES-128) made
  by ``createUser`` in its own config; ``-C`` so no system config is read, persistent state in its
  directory (``SNMP_PERSISTENT_DIR``).
* ``SnmpsimAgent``: snmpsim serving our ``snmprec/*.snmprec`` files; each file is one simulated
  device, addressed by SNMPv2c community = file name (``printer``, ``ups``, ``switch``, ``kiosk``...).
  SNMPv3 requests (empty context, as our poller sends) are served from one chosen file (``v3_data``).
  snmpsim 1.2 must drop root (``--process-user=nobody``), so when we are root it runs under Debian's
  ``/usr/bin/python3`` (needs ``python3-gdbm``) with the venv's site-packages on ``PYTHONPATH``:
  the venv's own interpreter may live under ``/root``, which nobody cannot read (and when the venv
  itself is there too, a world-readable copy of the packages snmpsim needs is made under /tmp).

The pytest fixtures around them (``snmpd_agent``, ``snmpsim_agent``: session-wide, shared;
``own_snmpd``, ``own_snmpsim``: private agents a test may stop and restart) are in ``tests/plugin.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.testing.net import LOOPBACK, free_udp_port

DATA_DIR = Path(__file__).resolve().parent / "snmprec"
V2C = SnmpV2c("public")
V3_USER = SnmpV3("hallmon", "hallcloud-auth-key", "hallcloud-priv-key")
SYSTEM_PYTHON = "/usr/bin/python3"

__all__ = [
    "DATA_DIR",
    "V2C",
    "V3_USER",
    "SnmpdAgent",
    "SnmpsimAgent",
    "snmpget_args",
    "wait_until_answers",
]


def snmpget_args(credential: SnmpV2c | SnmpV3) -> list[str]:
    """net-snmp command-line options for a credential (used by readiness checks and the benchmark)."""
    if isinstance(credential, SnmpV2c):
        return ["-v2c", "-c", credential.community]
    return [
        "-v3",
        "-l",
        "authPriv",
        "-u",
        credential.user,
        "-a",
        "SHA-256",
        "-A",
        credential.auth_key,
        "-x",
        "AES",
        "-X",
        credential.priv_key,
    ]


def wait_until_answers(
    host: str,
    port: int,
    credential: SnmpV2c | SnmpV3,
    timeout: float = 30.0,
    process: subprocess.Popen[bytes] | None = None,
    log: Path | None = None,
) -> None:
    """Poll sysUpTime.0 with snmpget until the agent answers; fail with the agent's log otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            break
        done = subprocess.run(
            [
                "snmpget",
                *snmpget_args(credential),
                "-t",
                "0.5",
                "-r",
                "0",
                "-On",
                f"{host}:{port}",
                "1.3.6.1.2.1.1.3.0",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 and "1.3.6.1.2.1.1.3.0" in done.stdout:
            return
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-3000:] if log and log.exists() else ""
    raise RuntimeError(f"SNMP agent on {host}:{port} did not answer within {timeout:g} s\n{tail}")


class _Agent:
    """Common start/stop/restart of one child process that we own."""

    host = LOOPBACK

    def __init__(self, workdir: Path | None, port: int | None) -> None:
        self._owns_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hallcloud-snmp-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_udp_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / "agent.log"

    def _command(self) -> tuple[list[str], dict[str, str]]:
        raise NotImplementedError

    def _ready_credential(self) -> SnmpV2c | SnmpV3:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 60.0) -> None:
        if self.running:
            return
        command, env = self._command()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.workdir,
                start_new_session=True,
            )
        try:
            wait_until_answers(
                self.host, self.port, self._ready_credential(), timeout, self.process, self.log_path
            )
        except Exception:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the agent (the device 'goes down'); its port stays reserved for ``restart``."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop, and remove the working directory if the agent made it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> _Agent:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SnmpdAgent(_Agent):
    """net-snmp's snmpd on loopback: v2c community ``community`` and v3 authPriv ``v3_user``."""

    def __init__(
        self,
        workdir: Path | None = None,
        port: int | None = None,
        community: str = "public",
        v3_user: SnmpV3 = V3_USER,
        sys_name: str = "hallcloud-snmpd",
        extra_config: str = "",
    ) -> None:
        super().__init__(workdir, port)
        self.community = community
        self.v3_user = v3_user
        self.sys_name = sys_name
        self.extra_config = extra_config
        self.config_path = self.workdir / "snmpd.conf"
        self.pid_path = self.workdir / "snmpd.pid"
        self.state_dir = self.workdir / "state"

    @property
    def v2c(self) -> SnmpV2c:
        return SnmpV2c(self.community)

    def _ready_credential(self) -> SnmpV2c | SnmpV3:
        return self.v2c

    def _command(self) -> tuple[list[str], dict[str, str]]:
        self.state_dir.mkdir(exist_ok=True)
        u = self.v3_user
        self.config_path.write_text(
            f"agentAddress udp:{self.host}:{self.port}\n"
            f"rocommunity {self.community} {self.host}\n"
            f'createUser {u.user} SHA-256 "{u.auth_key}" AES "{u.priv_key}"\n'
            f"rouser {u.user} priv\n"
            f"sysName {self.sys_name}\n"
            "sysLocation HallCloud test rack\n"
            "sysContact it@hall.example\n"
            "sysServices 72\n"
            f"{self.extra_config}\n"
        )
        self.config_path.chmod(0o600)
        env = dict(os.environ, SNMP_PERSISTENT_DIR=str(self.state_dir), MIBS="", MIBDIRS="/nonexistent")
        command = ["snmpd", "-f", "-Lo", "-C", "-c", str(self.config_path), "-p", str(self.pid_path)]
        return command, env


# What snmpsim imports from the venv (found with sys.modules after starting one).
SIMULATOR_PACKAGES = (
    "snmpsim",
    "pysnmp",
    "pyasn1",
    "pysmi",
    "cryptography",
    "cffi",
    "certifi",
    "_cffi_backend",
)


def _others_can_read(path: Path) -> bool:
    """Whether a user with no special rights (nobody) can enter every directory down to ``path``."""
    return all(os.stat(p).st_mode & 0o005 == 0o005 for p in (path, *path.parents))


def _simulator_site_packages(force_copy: bool = False) -> Path:
    """The venv's site-packages if nobody can read it, else a world-readable copy of what snmpsim
    needs (a checkout under /root, say), made once under the temp directory."""
    site = Path(sysconfig.get_paths()["purelib"])
    if _others_can_read(site) and not force_copy:
        return site
    copy = Path(tempfile.gettempdir()) / f"hallcloud-snmpsim-site-{os.stat(site).st_ino}"
    if not (copy / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix="hallcloud-snmpsim-site-"))
        for entry in site.iterdir():
            if entry.name in SIMULATOR_PACKAGES and entry.is_dir():
                shutil.copytree(entry, staging / entry.name)
            elif entry.is_file() and entry.name.split(".")[0] in SIMULATOR_PACKAGES:
                shutil.copy2(entry, staging / entry.name)
        for path in (staging, *staging.rglob("*")):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (staging / ".complete").touch()
        try:
            staging.rename(copy)
        except OSError:  # made meanwhile by another run
            shutil.rmtree(staging, ignore_errors=True)
    return copy


def _simulator_python() -> tuple[str, dict[str, str]]:
    """Interpreter and environment for snmpsim (see the module docstring for why)."""
    env = dict(os.environ)
    if os.geteuid() != 0:
        return sys.executable, env
    if not Path(SYSTEM_PYTHON).exists():
        raise RuntimeError(
            "snmpsim must drop root and needs /usr/bin/python3 (apt-get install python3 python3-gdbm)"
        )
    env["PYTHONPATH"] = str(_simulator_site_packages())
    return SYSTEM_PYTHON, env


class SnmpsimAgent(_Agent):
    """snmpsim on loopback serving ``.snmprec`` files; each file is a device addressed by community.

    ``endpoints`` > 1 listens on that many consecutive free ports (``ports``) with the same data, so a
    benchmark can address many distinct (port, community) devices through one process.
    """

    def __init__(
        self,
        workdir: Path | None = None,
        port: int | None = None,
        data_files: Sequence[Path] | None = None,
        v3_user: SnmpV3 = V3_USER,
        v3_data: str = "kiosk",
        endpoints: int = 1,
        max_var_binds: int = 256,
    ) -> None:
        super().__init__(workdir, port)
        self.data_files = list(data_files) if data_files is not None else sorted(DATA_DIR.glob("*.snmprec"))
        self.v3_user = v3_user
        self.v3_data = v3_data
        self.max_var_binds = max_var_binds
        self.ports = [self.port] + [free_udp_port() for _ in range(endpoints - 1)]
        self.data_dir = self.workdir / "data"
        self.cache_dir = self.workdir / "cache"

    @property
    def communities(self) -> list[str]:
        return [p.stem for p in self.data_files]

    def credential(self, name: str) -> SnmpV2c:
        if name not in self.communities:
            raise KeyError(f"snmpsim has no data file {name}.snmprec; have: {', '.join(self.communities)}")
        return SnmpV2c(name)

    def _ready_credential(self) -> SnmpV2c | SnmpV3:
        return SnmpV2c(self.communities[0])

    def _prepare(self) -> None:
        for directory in (self.data_dir, self.cache_dir):
            directory.mkdir(parents=True, exist_ok=True)
        for path in self.data_files:
            shutil.copyfile(path, self.data_dir / path.name)
        # "self" = the empty SNMPv3 context: what a v3 request without a context name is served from.
        v3_source = next((p for p in self.data_files if p.stem == self.v3_data), None)
        if v3_source is None:
            raise KeyError(f"v3_data {self.v3_data!r} is not among the data files")
        shutil.copyfile(v3_source, self.data_dir / "self.snmprec")
        if os.geteuid() == 0:
            # The simulator runs as nobody: it reads the data and writes its index cache.
            blocked = [p for p in self.workdir.parents if not os.stat(p).st_mode & 0o001]
            if blocked:
                raise RuntimeError(
                    f"snmpsim runs as nobody and cannot enter {blocked[0]} (mode "
                    f"{oct(os.stat(blocked[0]).st_mode & 0o777)}); use a workdir under /tmp"
                )
            for path in (self.workdir, self.data_dir, *self.data_dir.iterdir()):
                path.chmod(0o755 if path.is_dir() else 0o644)
            shutil.chown(self.cache_dir, "nobody", "nogroup")

    def _command(self) -> tuple[list[str], dict[str, str]]:
        self._prepare()
        python, env = _simulator_python()
        u = self.v3_user
        command = [
            python,
            "-m",
            "snmpsim.commands.responder",
            "--log-level=error",
            f"--data-dir={self.data_dir}",
            f"--cache-dir={self.cache_dir}",
            f"--max-var-binds={self.max_var_binds}",
            f"--v3-user={u.user}",
            f"--v3-auth-key={u.auth_key}",
            "--v3-auth-proto=SHA256",
            f"--v3-priv-key={u.priv_key}",
            "--v3-priv-proto=AES",
        ]
        command += [f"--agent-udpv4-endpoint={self.host}:{p}" for p in self.ports]
        if os.geteuid() == 0:
            command += ["--process-user=nobody", "--process-group=nogroup"]
        return command, env
