"""Test hall devices: a network namespace per device, a veth pair to it on a private /30, and an
OpenSSH server inside with its own config, host key and authorized key in a temporary directory.

Every name carries a random tag (``hc-o-<tag>-<device type>``) so parallel sessions never clash, and
everything is undone by ``stop()``: the sshd we started (by pid), then the namespace (which takes its
end of the veth pair with it, and so ours). Logins are as root with a key; the playbooks write below
a per-device root directory (``hall_root``) because the namespaces share the host's file system.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

__all__ = ["HostFactory", "SshHost", "new_client_key"]


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=30, check=check)


def new_client_key() -> tuple[str, str]:
    """(OpenSSH private key text, authorized_keys line)."""
    key = ed25519.Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode() + " hallcloud-test"


@dataclass
class SshHost:
    device_type: str
    namespace: str
    host_if: str
    address: str  # inside the namespace
    gateway: str  # our end of the veth pair
    workdir: Path
    authorized_key: str
    sshd: subprocess.Popen[bytes] | None = None
    root: Path = field(init=False)

    def __post_init__(self) -> None:
        self.root = self.workdir / "root"

    @property
    def host_key_file(self) -> Path:
        return self.workdir / "ssh_host_ed25519_key"

    def host_key_fingerprint(self) -> str:
        out = _run("ssh-keygen", "-l", "-E", "sha256", "-f", str(self.host_key_file) + ".pub").stdout
        return out.split()[1]

    def new_host_key(self) -> None:
        for path in (self.host_key_file, Path(str(self.host_key_file) + ".pub")):
            path.unlink(missing_ok=True)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(self.host_key_file))

    def write_config(self) -> None:
        (self.workdir / "authorized_keys").write_text(self.authorized_key + "\n")
        (self.workdir / "sshd_config").write_text(
            "\n".join(
                [
                    "Port 22",
                    f"ListenAddress {self.address}",
                    f"HostKey {self.host_key_file}",
                    f"PidFile {self.workdir / 'sshd.pid'}",
                    f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
                    "StrictModes no",
                    "UsePAM no",
                    "PermitRootLogin prohibit-password",
                    "PasswordAuthentication no",
                    "KbdInteractiveAuthentication no",
                    "MaxStartups 100",
                    "MaxSessions 50",
                    "Subsystem sftp internal-sftp",
                    "LogLevel ERROR",
                    "",
                ]
            )
        )

    def start_sshd(self) -> None:
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
        with open(self.workdir / "sshd.log", "ab") as log:  # the child keeps its own descriptor
            self.sshd = subprocess.Popen(
                [
                    "ip",
                    "netns",
                    "exec",
                    self.namespace,
                    "/usr/sbin/sshd",
                    "-D",
                    "-e",
                    "-f",
                    str(self.workdir / "sshd_config"),
                ],
                stdout=subprocess.DEVNULL,
                stderr=log,
                # a device's own environment, not this test process's (virtualenv, pyenv shims)
                env={
                    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG": "C.UTF-8",
                },
            )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            probe = _run("ip", "netns", "exec", self.namespace, "ss", "-ltn", check=False)
            if f"{self.address}:22" in probe.stdout:
                return
            if self.sshd.poll() is not None:
                raise RuntimeError(
                    f"sshd in {self.namespace} exited: {(self.workdir / 'sshd.log').read_text()}"
                )
            time.sleep(0.05)
        raise RuntimeError(f"sshd in {self.namespace} did not listen within 10 s")

    def stop_sshd(self) -> None:
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.terminate()
            try:
                self.sshd.wait(5)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait(5)
        self.sshd = None

    def link_down(self) -> None:
        _run("ip", "link", "set", self.host_if, "down")

    def link_up(self) -> None:
        _run("ip", "link", "set", self.host_if, "up")

    def stop(self) -> None:
        self.stop_sshd()
        pids = _run("ip", "netns", "pids", self.namespace, check=False).stdout.split()
        for pid in pids:  # only processes inside our own namespace (sshd sessions we caused)
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), 9)
        _run("ip", "netns", "del", self.namespace, check=False)
        _run("ip", "link", "del", self.host_if, check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


class HostFactory:
    """Creates namespaced sshd hosts on one random private /24 and removes them all at the end."""

    def __init__(self, authorized_key: str) -> None:
        self.tag = secrets.token_hex(2)
        self.subnet = random.randint(16, 239)
        self.authorized_key = authorized_key
        self.hosts: list[SshHost] = []
        self.base = Path(tempfile.mkdtemp(prefix=f"hc-o-{self.tag}-"))

    def create(self, device_type: str) -> SshHost:
        index = len(self.hosts)
        if index >= 60:
            raise RuntimeError("at most 60 test hosts per factory")
        namespace = f"hc-o-{self.tag}-{device_type[:12]}{index}"
        host_if, ns_if = f"hco{self.tag}{index}h", f"hco{self.tag}{index}n"
        gateway = f"10.250.{self.subnet}.{4 * index + 1}"
        address = f"10.250.{self.subnet}.{4 * index + 2}"
        workdir = self.base / f"{device_type}{index}"
        workdir.mkdir()
        host = SshHost(device_type, namespace, host_if, address, gateway, workdir, self.authorized_key)
        self.hosts.append(host)
        _run("ip", "netns", "add", namespace)
        _run("ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _run("ip", "link", "set", ns_if, "netns", namespace)
        _run("ip", "addr", "add", f"{gateway}/30", "dev", host_if)
        _run("ip", "link", "set", host_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "addr", "add", f"{address}/30", "dev", ns_if)
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", ns_if, "up")
        _run("ip", "netns", "exec", namespace, "ip", "link", "set", "lo", "up")
        host.new_host_key()
        host.write_config()
        host.start_sshd()
        host.root.mkdir()
        return host

    def stop(self) -> None:
        for host in self.hosts:
            host.stop()
        shutil.rmtree(self.base, ignore_errors=True)
