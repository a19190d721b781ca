"""WebSocket proxies for browser consoles: one websockify process per console connection.

Each console a clerk opens gets its own ``websockify`` (Debian's, 0.10) child process: its own port,
its own random path token (websockify's ``TokenFile`` plugin, so a port alone is not enough), exactly
one connection (``--run-once``) and a short deadline to be used (``--timeout``). Two consoles therefore
never share a connection or a process, and a proxy cannot be reused after its session ends. The VNC
password is not involved here: the browser sends it inside the RFB protocol.

Processes are tracked by their handle and stopped by it (never by name); finished ones are reaped on
every call and everything left is stopped by :meth:`ConsoleProxies.close`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["READY_TIMEOUT_S", "WEBSOCKIFY", "ConsoleProxies", "Proxy", "ProxyError"]

log = logging.getLogger(__name__)

WEBSOCKIFY = "websockify"
READY_TIMEOUT_S = 30.0


class ProxyError(Exception):
    """websockify is missing or did not start."""


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Proxy:
    """One running websockify: the browser connects to ``ws://<host>:<port>/?token=<token>``."""

    key: str
    """What the proxy is for (e.g. ``seat w1 gov``), for listing and replacing."""
    port: int
    token: str = field(repr=False)
    target: tuple[str, int]
    process: subprocess.Popen[bytes] = field(repr=False)
    started: float = field(default_factory=time.monotonic)

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    @property
    def path(self) -> str:
        return f"websockify?token={self.token}"


class ConsoleProxies:
    """Starts and stops the websockify children of this process."""

    def __init__(
        self, listen: str = "127.0.0.1", *, connect_timeout_s: int = 30, binary: str | None = None
    ) -> None:
        self.listen = listen
        self.connect_timeout_s = connect_timeout_s
        self.binary = binary or shutil.which(WEBSOCKIFY) or WEBSOCKIFY
        self._lock = threading.Lock()
        self._proxies: list[Proxy] = []
        self._dir = Path(tempfile.mkdtemp(prefix="hallcloud-vncproxy-"))
        os.chmod(self._dir, 0o700)

    def open(self, key: str, target_host: str, target_port: int) -> Proxy:
        """A fresh proxy to ``target_host:target_port``; an unused one for the same ``key`` is stopped."""
        if shutil.which(self.binary) is None and not Path(self.binary).exists():
            raise ProxyError(f"console proxy: {self.binary} is not installed; install Debian's websockify")
        self.reap()
        with self._lock:
            for old in [p for p in self._proxies if p.key == key]:
                self._stop(old)
        token = secrets.token_urlsafe(24)
        port = _free_port(self.listen)
        token_file = self._dir / f"{port}.tokens"
        fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"{token}: {target_host}:{target_port}\n")
        command = [
            self.binary,
            "--run-once",
            f"--timeout={self.connect_timeout_s}",
            "--token-plugin=TokenFile",
            f"--token-source={token_file}",
            f"{self.listen}:{port}",
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        proxy = Proxy(key, port, token, (target_host, target_port), process)
        try:
            self._wait_ready(proxy)
        except ProxyError:
            self._stop(proxy)
            raise
        with self._lock:
            self._proxies.append(proxy)
        log.info("console proxy for %s on %s:%d (pid %d)", key, self.listen, port, process.pid)
        return proxy

    def _wait_ready(self, proxy: Proxy) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if not proxy.running:
                raise ProxyError(
                    f"console proxy for {proxy.key}: websockify exited at start "
                    f"(code {proxy.process.returncode})"
                )
            try:
                with socket.create_connection((self.listen, proxy.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise ProxyError(
            f"console proxy for {proxy.key}: websockify did not listen within {READY_TIMEOUT_S:g} s"
        )

    def _stop(self, proxy: Proxy) -> None:
        if proxy.running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proxy.process.pid, signal.SIGTERM)  # its own session: it and its children
            try:
                proxy.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proxy.process.kill()
                proxy.process.wait(timeout=5)
        (self._dir / f"{proxy.port}.tokens").unlink(missing_ok=True)
        if proxy in self._proxies:
            self._proxies.remove(proxy)

    def reap(self) -> None:
        """Forget proxies whose websockify has exited (session over or never used)."""
        with self._lock:
            for proxy in [p for p in self._proxies if not p.running]:
                self._stop(proxy)

    def active(self) -> list[Proxy]:
        self.reap()
        with self._lock:
            return list(self._proxies)

    def close(self) -> None:
        with self._lock:
            for proxy in list(self._proxies):
                self._stop(proxy)
        shutil.rmtree(self._dir, ignore_errors=True)
