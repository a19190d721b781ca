"""The one place that opens SSH connections. Host keys come only from the caller (the keys trusted for
the device); a missing or different key is an error, never a prompt or an automatic add."""

from __future__ import annotations

import base64
import hashlib
import io
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paramiko

from device_manager.ssh.errors import (
    AuthFailed,
    Cancelled,
    CommandTimeout,
    HostKeyChanged,
    HostKeyUnknown,
    Unreachable,
)

__all__ = [
    "DEFAULT_PORT",
    "CommandResult",
    "HostKey",
    "SshTarget",
    "connect",
    "fingerprint_of",
    "known_hosts_name",
    "run_command",
    "scan_host_key",
]

DEFAULT_PORT = 22


@dataclass(frozen=True)
class HostKey:
    key_type: str
    key_base64: str

    @property
    def fingerprint(self) -> str:
        return fingerprint_of(base64.b64decode(self.key_base64))

    def to_paramiko(self) -> paramiko.PKey:
        return paramiko.PKey.from_type_string(self.key_type, base64.b64decode(self.key_base64))


def fingerprint_of(key_blob: bytes) -> str:
    """The SHA256 fingerprint as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key_blob).digest()).decode().rstrip("=")


def known_hosts_name(address: str, port: int) -> str:
    return address if port == DEFAULT_PORT else f"[{address}]:{port}"


@dataclass(frozen=True)
class SshTarget:
    """Everything needed to reach one device. ``private_key`` is decrypted text held only in memory."""

    name: str
    address: str
    username: str
    private_key: str = field(repr=False)
    host_keys: tuple[HostKey, ...] = ()
    port: int = DEFAULT_PORT


@dataclass(frozen=True)
class CommandResult:
    exit_status: int
    stdout: str
    stderr: str
    duration_s: float


def _load_private_key(text: str) -> paramiko.PKey:
    for cls in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return cls.from_private_key(io.StringIO(text))
        except (paramiko.SSHException, ValueError):
            continue
    raise AuthFailed("the credential profile's private key cannot be loaded (ed25519, ECDSA or RSA)")


class _RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def __init__(self, target: SshTarget) -> None:
        self.target = target

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        seen = fingerprint_of(key.asbytes())
        raise HostKeyUnknown(
            f"device '{self.target.name}' ({self.target.address}): no trusted SSH host key; it presents "
            f"{key.get_name()} {seen}; trust it first (POST /api/v1/devices/{{id}}/ssh/trust)"
        )


def scan_host_key(address: str, port: int = DEFAULT_PORT, timeout: float = 5.0) -> HostKey:
    """Fetch the key a server presents, without authenticating (for the trust step only)."""
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise Unreachable(f"{address}:{port}: cannot connect: {exc}") from exc
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return HostKey(key.get_name(), base64.b64encode(key.asbytes()).decode())
    except (paramiko.SSHException, EOFError, OSError) as exc:
        raise Unreachable(f"{address}:{port}: SSH handshake failed: {exc}") from exc
    finally:
        transport.close()


def connect(target: SshTarget, timeout: float = 10.0) -> paramiko.SSHClient:
    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(_RefuseUnknown(target))
    name = known_hosts_name(target.address, target.port)
    for key in target.host_keys:
        client.get_host_keys().add(name, key.key_type, key.to_paramiko())
    try:
        client.connect(
            target.address,
            port=target.port,
            username=target.username,
            pkey=_load_private_key(target.private_key),
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
        )
    except HostKeyUnknown:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        seen = fingerprint_of(exc.key.asbytes())
        trusted = fingerprint_of(exc.expected_key.asbytes())
        raise HostKeyChanged(
            f"device '{target.name}' ({target.address}): SSH host key changed: trusted {trusted}, presented "
            f"{seen}; connection refused. If the device was reinstalled, an admin must re-trust it",
            seen_fingerprint=seen,
            trusted_fingerprint=trusted,
        ) from None
    except paramiko.AuthenticationException as exc:
        client.close()
        raise AuthFailed(
            f"device '{target.name}' ({target.address}): user '{target.username}' was refused ({exc})"
        ) from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        raise Unreachable(f"device '{target.name}' ({target.address}:{target.port}): {exc}") from None
    return client


def run_command(
    target: SshTarget,
    command: str,
    *,
    timeout: float = 30.0,
    connect_timeout: float = 10.0,
    on_output: Callable[[str, str], None] | None = None,
    cancel: threading.Event | None = None,
    max_output: int = 1_000_000,
) -> CommandResult:
    """Run one command; stream complete output lines to ``on_output(stream, line)``."""
    started = time.monotonic()
    client = connect(target, connect_timeout)
    try:
        transport = client.get_transport()
        assert transport is not None
        channel = transport.open_session(timeout=connect_timeout)
        channel.exec_command(command)
        channel.settimeout(0.2)
        buffers = {"stdout": b"", "stderr": b""}
        captured = {"stdout": bytearray(), "stderr": bytearray()}

        def feed(stream: str, data: bytes) -> None:
            if len(captured[stream]) < max_output:
                captured[stream] += data[: max_output - len(captured[stream])]
            buffers[stream] += data
            *lines, buffers[stream] = buffers[stream].split(b"\n")
            if on_output:
                for line in lines:
                    on_output(stream, line.decode(errors="replace"))

        while True:
            if cancel is not None and cancel.is_set():
                channel.close()
                raise Cancelled(f"device '{target.name}': cancelled while running the command")
            if time.monotonic() - started > timeout:
                channel.close()
                raise CommandTimeout(f"device '{target.name}': command did not finish within {timeout:g} s")
            progressed = False
            while channel.recv_ready():
                feed("stdout", channel.recv(65536))
                progressed = True
            while channel.recv_stderr_ready():
                feed("stderr", channel.recv_stderr(65536))
                progressed = True
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            if not progressed:
                time.sleep(0.02)
        status = channel.recv_exit_status()
        for stream in ("stdout", "stderr"):
            if buffers[stream] and on_output:
                on_output(stream, buffers[stream].decode(errors="replace"))
        return CommandResult(
            status,
            captured["stdout"].decode(errors="replace"),
            captured["stderr"].decode(errors="replace"),
            time.monotonic() - started,
        )
    except (OSError, paramiko.SSHException, EOFError) as exc:
        raise Unreachable(f"device '{target.name}' ({target.address}): connection lost: {exc}") from None
    finally:
        client.close()
