"""The demo's controller: its settings file, ``hall serve`` in the background, and the admin token.

The settings file (``<state>/device-manager/controller.env``, mode 0600) is what makes every later
``hall`` command on this machine (``hall window setup 1``, ``hall admin ...``) talk to the same database
with the same keys: :func:`device_manager.core.config.settings_file`. It is written once with generated
secrets (production mode: no default secret is accepted) and kept across ``hall demo up`` runs.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from device_manager.core.config import Settings, default_data_dir

__all__ = ["Controller", "write_private"]

HOST = "127.0.0.1"
DEFAULT_PORT = 8710


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` readable by its owner only (made 0600 before anything is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


@dataclass
class Controller:
    """``hall serve`` for the demo: settings, pid and log files under the state directory."""

    demo_dir: Path
    port: int = DEFAULT_PORT

    @property
    def data_dir(self) -> Path:
        return default_data_dir()

    @property
    def settings_file(self) -> Path:
        return self.data_dir / "controller.env"

    @property
    def pid_file(self) -> Path:
        return self.demo_dir / "controller.pid"

    @property
    def log_file(self) -> Path:
        return self.demo_dir / "controller.log"

    @property
    def token_file(self) -> Path:
        return self.demo_dir / "admin.token"

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def write_settings(self, device_root: Path) -> Settings:
        """The settings file, written the first time (secrets generated), read back as Settings."""
        if not self.settings_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.data_dir.chmod(0o700)
            key_file = self.data_dir / "master.key"
            if not key_file.exists():
                write_private(key_file, base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() + "\n")
            lines = {
                "HALLCLOUD_ENVIRONMENT": "production",
                "HALLCLOUD_SECRET_KEY": secrets.token_urlsafe(32),
                "HALLCLOUD_MASTER_KEY_FILE": str(key_file),
                "HALLCLOUD_POLL_INTERVAL_S": "15",
                # the demo's window devices are namespaces on this machine: they share its file system
                "HALLCLOUD_OPS_DEVICE_ROOT_TEMPLATE": f"{device_root}/{{device}}",
                "HALLCLOUD_OPS_ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
                "HALLCLOUD_OPS_STACK": "demo",
            }
            text = "# written by `hall demo up` (make demo); read by every hall command on this machine\n"
            text += "".join(f"{key}={value}\n" for key, value in lines.items())
            write_private(self.settings_file, text)
        return Settings()

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"serve" in cmdline.read():
                    return pid
        except (OSError, ValueError):
            pass
        return None

    def start(self, timeout: float = 120) -> int:
        """``hall serve`` in its own session (it outlives this command); wait until it answers."""
        pid = self.running_pid()
        if pid is None:
            self.demo_dir.mkdir(parents=True, exist_ok=True)
            with self.log_file.open("ab") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "hall", "serve", "--host", HOST, "--port", str(self.port)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            pid = proc.pid
            self.pid_file.write_text(f"{pid}\n")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code < 500:
                    return pid
            if self.running_pid() is None:
                tail = self.log_file.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"hall serve exited; the end of {self.log_file}:\n{tail}")
            time.sleep(0.3)
        raise RuntimeError(
            f"hall serve did not answer at {self.url} within {timeout:.0f} s (log: {self.log_file})"
        )

    def stop(self) -> bool:
        pid = self.running_pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and self.running_pid() is not None:
            time.sleep(0.1)
        if self.running_pid() is not None:
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def admin_token(self, settings: Settings) -> str:
        """The demo's admin token: issued once (its hash in the database), kept in a 0600 file."""
        if self.token_file.exists():
            return self.token_file.read_text().strip()
        from device_manager.core.security import issue_token
        from device_manager.db import migrate
        from device_manager.db.session import make_engine, make_session_factory

        settings.prepare_data_dir()
        engine = make_engine(settings.sqlalchemy_url)
        try:
            migrate.upgrade(engine)
            with make_session_factory(engine)() as db:
                _row, token = issue_token(
                    db,
                    settings.secret_key.get_secret_value(),
                    name="demo admin",
                    role="admin",
                    site_ids=None,
                    expires_days=30,
                    created_by="hall demo up",
                )
                db.commit()
        finally:
            engine.dispose()
        write_private(self.token_file, token + "\n")
        return token
