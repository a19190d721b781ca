"""One hall stack as operators and the controller drive it: the project, its config file, its state.

A hall stack is an ordinary Pulumi stack of the HallCloud project: the project directory is the
checkout (``Pulumi.yaml``, whose ``main`` is ``infra/``), the stack's config is the project's
``Pulumi.<stack>.yaml``, and its state lives in a file backend under the state directory
(:func:`vdi.paths.state_dir`), with a generated passphrase next to it (mode 0600). The ``pulumi`` CLI
in ``.venv/bin`` (a wrapper written by ``scripts/build-pulumi.sh``) defaults to exactly that backend
and passphrase, so ``pulumi preview / up / refresh / stack output`` in the project directory, ``hall
stack`` and window setup all see one stack and one state.

Config edits (window setup adding, changing or removing a window: :mod:`infra.windows`) go through
:mod:`infra.stack_config` under the stack's lock; engine operations hold the same lock, so two window
setups (or a setup and an ``up``) never interleave. An engine run that is interrupted leaves no
half-made object: :meth:`HallStack.resolve_interrupted_creates`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from infra.engine import EngineRun, Progress, StackInterrupted, resource_label, run_engine
from infra.pulumi_env import LocalBackend, PulumiCommandError, find_cli
from infra.settings import PROJECT_ROOT, project_dir
from infra.spec import HallConfigError, HallSpec, Issue
from infra.stack_config import LOCK_WAIT_SECONDS, StackConfigFile, StackLock
from vdi import cancel as cancel_module
from vdi.paths import state_dir as default_state_dir

__all__ = [
    "PROJECT",
    "PROJECT_DIR",
    "HallStack",
    "StackResult",
    "default_stack",
    "scratch_project",
    "stack_names",
]

PROJECT = "hallcloud"
PROJECT_DIR = PROJECT_ROOT
"""The checkout: ``Pulumi.yaml`` and the stacks' ``Pulumi.<stack>.yaml`` files."""
PROGRAM_DIR = Path(__file__).resolve().parent

Output = Callable[[str], None]


def stack_names(state: Path | None = None) -> list[str]:
    """The hall stacks whose state is in the file backend under ``state`` (default: the state directory)."""
    root = (
        Path(state or default_state_dir(create=False)) / "pulumi" / "state" / ".pulumi" / "stacks" / PROJECT
    )
    return sorted(p.name.removesuffix(".json") for p in root.glob("*.json")) if root.is_dir() else []


def default_stack(state: Path | None = None) -> str:
    """The stack commands act on when none is named: the only one there is."""
    names = stack_names(state)
    if len(names) == 1:
        return names[0]
    where = Path(state or default_state_dir(create=False))
    if not names:
        raise HallConfigError(
            [
                Issue(
                    "stack",
                    f"no hall stack exists under {where}",
                    "run `make demo` or `hall stack -s NAME up`",
                )
            ]
        )
    raise HallConfigError(
        [
            Issue(
                "stack",
                f"several hall stacks exist under {where}: {', '.join(names)}",
                "name one with --stack",
            )
        ]
    )


def scratch_project(directory: Path) -> Path:
    """A project directory of its own for a throw-away stack (tests, benchmarks): a ``Pulumi.yaml``
    that runs this checkout's program, so the stack's config file does not land in the checkout."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "Pulumi.yaml").write_text(
        yaml.safe_dump(
            {
                "name": PROJECT,
                "description": "HallCloud hall stack (scratch project of a test or benchmark)",
                "runtime": "python",
                "main": str(PROGRAM_DIR),
            },
            sort_keys=False,
        )
    )
    return directory


@dataclass
class StackResult:
    """What an engine operation on the stack did, and (after ``up``) the stack's outputs."""

    run: EngineRun
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def changes(self) -> dict[str, int]:
        return self.run.changes

    @property
    def seconds(self) -> float:
        return self.run.seconds


@dataclass
class HallStack:
    """One hall stack: ``Pulumi.<name>.yaml`` in ``project_dir``, state under ``state_dir``."""

    name: str
    state_dir: Path = field(default_factory=default_state_dir)
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the engine and providers (e.g. ``HALLCLOUD_LIBVIRT_URI`` in tests)."""
    project_dir: Path = field(default_factory=project_dir)

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.project_dir = Path(self.project_dir)
        self.lock = StackLock(self.name, self.state_dir / "locks" / f"stack-{self.name}.lock")
        self.config = StackConfigFile(self.project_dir / f"Pulumi.{self.name}.yaml", self.lock)

    # -- layout ----------------------------------------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.project_dir / f"Pulumi.{self.name}.yaml"

    @property
    def passphrase_file(self) -> Path:
        return self.state_dir / "passphrase"

    @property
    def log_dir(self) -> Path:
        return self.state_dir / "logs"

    def passphrase(self) -> str:
        path = self.passphrase_file
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "w") as out:
                    out.write(secrets.token_urlsafe(32) + "\n")
        return path.read_text().strip()

    @property
    def backend(self) -> LocalBackend:
        return LocalBackend(root=self.state_dir / "pulumi", passphrase=self.passphrase())

    def engine_env(self) -> dict[str, str]:
        backend = self.backend
        backend.home.mkdir(parents=True, exist_ok=True)
        backend.state_dir.mkdir(parents=True, exist_ok=True)
        env = backend.env()
        env["PULUMI_BACKEND_URL"] = backend.url
        env.update(self.env)
        return env

    # -- the stack's lock ------------------------------------------------------------------------------

    def locked(
        self, what: str, wait_seconds: float = LOCK_WAIT_SECONDS
    ) -> contextlib.AbstractContextManager[None]:
        """Hold the stack's lock (re-entrant in this process) while changing its config or state."""
        return self.lock.hold(what, wait_seconds)

    # -- config ----------------------------------------------------------------------------------------

    def raw_config(self) -> dict[str, Any]:
        """The ``hall:*`` values of the stack's config file, as plain data."""
        return self.config.raw()

    def edit_config(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> HallSpec:
        """Change the ``hall:*`` values (see :meth:`infra.stack_config.StackConfigFile.edit`)."""
        return self.config.edit(change)

    def write_config(self, spec: HallSpec | Mapping[str, Any]) -> HallSpec:
        """Make ``spec`` (a HallSpec or raw ``hall:*`` config) the stack's whole hall config."""
        return self.config.write(spec)

    def spec(self) -> HallSpec:
        """The hall the stack's config currently describes."""
        return self.config.spec()

    def forget_secrets_salt(self) -> None:
        """Drop the passphrase salt the engine wrote into the config file."""
        self.config.forget_secrets_salt()

    # -- engine ----------------------------------------------------------------------------------------

    def _cli(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        argv = [str(find_cli()), *args, "--non-interactive"]
        proc = subprocess.run(
            argv,
            cwd=self.project_dir,
            env=self.engine_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and proc.returncode != 0:
            raise PulumiCommandError(
                ["pulumi", *args], self.project_dir, proc.returncode, proc.stdout, proc.stderr
            )
        return proc

    def ensure_stack(self) -> None:
        """Create the stack in the backend if it does not exist yet (its config file may), and record the
        backend as the login of the stack's ``PULUMI_HOME``, which the plain CLI wrapper shares."""
        backend = self.backend
        credentials = backend.home / "credentials.json"
        try:
            current = json.loads(credentials.read_text()).get("current")
        except (OSError, ValueError):
            current = None
        if current != backend.url:
            backend.login()
        if not self.exists():
            self._cli("stack", "init", self.name)

    def select(self) -> None:
        """Make this the stack the plain ``pulumi`` CLI works on in the project directory."""
        self.ensure_stack()
        self._cli("stack", "select", self.name)

    def resolve_interrupted_creates(self, progress: Progress | None = None) -> list[str]:
        """Remove what creates the engine was interrupted in may have made, and forget them.

        An engine that is stopped while a provider creates an object records a *pending create*: it
        cannot know whether the object exists. Each one is handed to its provider's ``abandon`` (which
        deletes by name, idempotently), then the pending operations are dropped from the state. Returns
        the resources it resolved.
        """
        from pulumi.dynamic import ConfigureRequest

        from infra.providers import PROVIDERS

        if not self.exists():
            return []
        exported = json.loads(self._cli("stack", "export", "--stack", self.name).stdout)
        pending = exported.get("deployment", {}).get("pending_operations") or []
        if not pending:
            return []
        hosts = {key: {"uri": host.uri} for key, host in self.spec().hosts.items()}
        resolved = []
        for operation in pending:
            resource = operation.get("resource") or {}
            provider_class = PROVIDERS.get(str(resource.get("type")))
            if operation.get("type") != "creating" or provider_class is None:
                continue
            provider = provider_class()
            provider.configure(ConfigureRequest({"hall:hosts": json.dumps(hosts)}))  # type: ignore[arg-type]
            inputs = {k: v for k, v in (resource.get("inputs") or {}).items() if k != "__provider"}
            provider.abandon(inputs)
            label = resource_label(str(resource.get("urn")))
            resolved.append(label)
            if progress is not None:
                progress(f"  - removed    {label} (its create was interrupted)")
        exported["deployment"]["pending_operations"] = []
        with tempfile.NamedTemporaryFile("w", suffix=".json", dir=self.state_dir, delete=False) as out:
            json.dump(exported, out)
        try:
            self._cli("stack", "import", "--stack", self.name, "--file", out.name)
        finally:
            os.unlink(out.name)
        return resolved

    def _engine(
        self,
        command: str,
        args: list[str],
        progress: Progress | None,
        cancel: threading.Event | None,
        timeout: float | None,
    ) -> EngineRun:
        with self.locked(f"pulumi {command}"):
            self.spec()  # an invalid hall is refused before the engine or the state is touched
            self.ensure_stack()
            if command in ("up", "destroy"):  # a run killed outright (kill -9) left pending creates
                self.resolve_interrupted_creates(progress)
            stamp = datetime.now().strftime("%Y%m%dT%H%M%S")
            log_file = self.log_dir / f"{self.name}-{command}-{stamp}-{os.getpid()}.log"
            try:
                return run_engine(
                    command,
                    args,
                    stack=self.name,
                    cwd=self.project_dir,
                    env=self.engine_env(),
                    log_file=log_file,
                    progress=progress,
                    cancel=cancel,
                    timeout=timeout,
                )
            except StackInterrupted as exc:
                with cancel_module.deferred():
                    self._remove_stale_locks(exc.run.pid)
                    self.resolve_interrupted_creates(progress)
                raise

    def _remove_stale_locks(self, pid: int | None) -> None:
        """Drop the stack lock an engine we killed left in the file backend (it names its pid)."""
        locks = self.backend.state_dir / ".pulumi" / "locks"
        for lock in locks.glob(f"*/{PROJECT}/{self.name}/*.json"):
            try:
                owner = json.loads(lock.read_text())
            except (OSError, ValueError):
                continue
            if owner.get("pid") == pid and owner.get("hostname") == socket.gethostname():
                lock.unlink(missing_ok=True)
                lock.with_name(lock.name + ".attrs").unlink(missing_ok=True)

    def preview(
        self, progress: Progress | None = None, *, cancel: threading.Event | None = None
    ) -> StackResult:
        return StackResult(self._engine("preview", [], progress, cancel, None))

    def up(
        self,
        *,
        targets: list[str] | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
    ) -> StackResult:
        args = ["--yes", "--skip-preview"]
        for target in targets or []:
            args += ["--target", target]
        if targets:
            args.append("--target-dependents")
        run = self._engine("up", args, progress, cancel, timeout)
        return StackResult(run, self.outputs())

    def refresh(
        self, progress: Progress | None = None, *, cancel: threading.Event | None = None
    ) -> StackResult:
        return StackResult(self._engine("refresh", ["--yes", "--skip-preview"], progress, cancel, None))

    def destroy(
        self, progress: Progress | None = None, *, cancel: threading.Event | None = None
    ) -> StackResult:
        return StackResult(self._engine("destroy", ["--yes", "--skip-preview"], progress, cancel, None))

    def outputs(self) -> dict[str, Any]:
        proc = self._cli("stack", "output", "--json", "--show-secrets", "--stack", self.name)
        data: dict[str, Any] = json.loads(proc.stdout or "{}")
        return data

    def exists(self) -> bool:
        stacks = self.backend.state_dir / ".pulumi" / "stacks" / PROJECT
        return (stacks / f"{self.name}.json").exists()

    def remove(self) -> None:
        """Forget the stack (after destroy): its state and its passphrase salt, not its config."""
        with self.locked("removing the stack"):
            if self.exists():
                self._cli("stack", "rm", self.name, "--yes", "--preserve-config")
            self.forget_secrets_salt()


# -- one window at a time ------------------------------------------------------------------------------
