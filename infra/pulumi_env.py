"""Running the Pulumi CLI that ``make setup`` provides, against a local file backend.

``scripts/build-pulumi.sh`` puts the CLI, the Python language host and the dynamic-provider launcher in
the virtualenv's ``bin`` directory. The engine finds the last two on ``PATH``, and the language host runs
programs with ``$PULUMI_PYTHON_CMD`` (or ``python3`` from ``PATH``): so every command here runs with that
directory first on ``PATH`` and the virtualenv's python named explicitly, which makes programs and
dynamic providers import our installed packages. Each :class:`LocalBackend` has its own ``PULUMI_HOME``
(credentials, plugin cache) so nothing leaks into ``~/.pulumi``, and nothing is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "LocalBackend",
    "PulumiCliMissingError",
    "PulumiCommandError",
    "find_cli",
    "sdk_version",
    "venv_bin",
]


class PulumiCliMissingError(RuntimeError):
    """No Pulumi CLI in the virtualenv nor on PATH."""


class PulumiCommandError(RuntimeError):
    """A pulumi command exited with a non-zero status."""

    def __init__(self, args: list[str], cwd: Path, returncode: int, stdout: str, stderr: str) -> None:
        self.args_ = args
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        tail = "\n".join((stderr.strip() or stdout.strip()).splitlines()[-30:])
        super().__init__(f"`{' '.join(args)}` (in {cwd}) exited with {returncode}:\n{tail}")


def venv_bin() -> Path:
    """The ``bin`` directory of the running Python environment (``.venv/bin`` under make setup)."""
    return Path(sys.prefix) / "bin"


def sdk_version() -> str:
    """The installed ``pulumi`` Python SDK version; the CLI must print ``v`` + this."""
    return metadata.version("pulumi")


def find_cli() -> Path:
    """The CLI in the virtualenv (what make setup provides), else one on PATH."""
    candidate = venv_bin() / "pulumi"
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return candidate
    on_path = shutil.which("pulumi")
    if on_path:
        return Path(on_path)
    raise PulumiCliMissingError(
        f"no Pulumi CLI in {venv_bin()} nor on PATH; run `make setup` (scripts/build-pulumi.sh builds "
        f"pulumi v{sdk_version()}) or install it with the official installer (README, 'Pulumi CLI')"
    )


@dataclass(frozen=True)
class LocalBackend:
    """A Pulumi file backend (state) and ``PULUMI_HOME`` under ``root``, secrets under ``passphrase``."""

    root: Path
    passphrase: str

    @property
    def state_dir(self) -> Path:
        return self.root / "state"

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def url(self) -> str:
        return f"file://{self.state_dir}"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment for the CLI: ``base`` (default: ours) plus PATH, home and passphrase."""
        env = dict(os.environ if base is None else base)
        bin_dir = str(venv_bin())
        env["PATH"] = os.pathsep.join([bin_dir, *(p for p in env.get("PATH", "").split(os.pathsep) if p)])
        env.update(
            PULUMI_HOME=str(self.home),
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            PULUMI_PYTHON_CMD=str(venv_bin() / "python"),
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_SKIP_CONFIRMATIONS="true",
        )
        env.pop("PULUMI_CONFIG_PASSPHRASE_FILE", None)
        env.pop("PULUMI_BACKEND_URL", None)  # login() decides, in our PULUMI_HOME
        return env

    def login(self) -> None:
        """``pulumi login file://<root>/state`` (recorded in this backend's PULUMI_HOME)."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.home.mkdir(parents=True, exist_ok=True)
        self.run("login", self.url, cwd=self.root)

    def run(
        self, *args: str, cwd: Path, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """Run ``pulumi ARGS`` non-interactively in ``cwd``; raise :class:`PulumiCommandError` on failure."""
        argv = [str(find_cli()), *args, "--non-interactive"]
        proc = subprocess.run(
            argv, cwd=cwd, env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and proc.returncode != 0:
            raise PulumiCommandError(["pulumi", *args], cwd, proc.returncode, proc.stdout, proc.stderr)
        return proc

    def run_json(self, *args: str, cwd: Path, json_flag: bool = True, timeout: float = 600) -> Any:
        """Run ``pulumi ARGS --json`` and parse what it prints (``json_flag=False`` for commands such as
        ``stack export`` that print JSON without being asked and refuse the flag)."""
        proc = self.run(*args, *(["--json"] if json_flag else []), cwd=cwd, timeout=timeout)
        return json.loads(proc.stdout)
