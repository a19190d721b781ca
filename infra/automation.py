"""One hall stack as operators and the controller drive it: the project, its config file, its state.

A hall stack is an ordinary Pulumi stack of the HallCloud project: the project directory is the
checkout (``Pulumi.yaml``, whose ``main`` is ``infra/``), the stack's config is the project's
``Pulumi.<stack>.yaml``, and its state lives in a file backend under the state directory
(:func:`vdi.paths.state_dir`), with a generated passphrase next to it (mode 0600). The ``pulumi`` CLI
in ``.venv/bin`` (a wrapper written by ``scripts/build-pulumi.sh``) defaults to exactly that backend
and passphrase, so ``pulumi preview / up / refresh / stack output`` in the project directory, ``hall
stack`` and window setup all see one stack and one state.

Config edits (window setup adding, changing or removing a window) go through :meth:`HallStack.edit_config`:
under the stack's lock, read the file, change the ``hall:*`` values, validate the result as a whole
hall, and replace the file atomically, keeping the operator's comments and every other key (the
passphrase salt among them). Engine operations hold the same lock, so two window setups (or a setup
and an ``up``) never interleave.

Window helpers apply only that window's resources: a targeted ``up`` on the URNs of the window's
:class:`~infra.components.Seat` and its children, with ``--target-dependents``.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import json
import os
import secrets
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from ruamel.yaml import YAML

from infra.engine import EngineRun, Progress, StackInterrupted, resource_label, run_engine
from infra.plan import window_resource
from infra.pulumi_env import LocalBackend, PulumiCommandError, find_cli
from infra.spec import NAMESPACE, HallConfigError, HallSpec, Issue, WindowSpec, load_spec
from vdi import cancel as cancel_module
from vdi.paths import state_dir as default_state_dir

__all__ = [
    "PROJECT",
    "PROJECT_DIR",
    "HallStack",
    "StackBusy",
    "StackResult",
    "WindowResult",
    "add_window",
    "apply_window",
    "change_window",
    "default_stack",
    "remove_window",
    "scratch_project",
    "seat_urns",
    "stack_names",
]

PROJECT = "hallcloud"
PROJECT_DIR = Path(__file__).resolve().parent.parent
"""The checkout: ``Pulumi.yaml`` and the stacks' ``Pulumi.<stack>.yaml`` files."""
PROGRAM_DIR = Path(__file__).resolve().parent
SEAT_TYPE = "hallcloud:hall:Seat"
DYNAMIC = "pulumi-python:dynamic/hallcloud"
LOCK_WAIT_SECONDS = 600.0

Output = Callable[[str], None]


class StackBusy(RuntimeError):
    """Another process holds the stack's lock (an ``up``, a window setup) for too long."""


def seat_urns(stack: str, number: int) -> list[str]:
    """URNs of window ``number``'s seat component and its children (disks and desktops)."""
    seat = window_resource(number)
    urns = [f"urn:pulumi:{stack}::{PROJECT}::{SEAT_TYPE}::{seat}"]
    for side in ("gov", "internet"):
        urns.append(f"urn:pulumi:{stack}::{PROJECT}::{SEAT_TYPE}${DYNAMIC}:Volume::{seat}-{side}-disk")
        urns.append(f"urn:pulumi:{stack}::{PROJECT}::{SEAT_TYPE}${DYNAMIC}:Domain::{seat}-{side}")
    return urns


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
class WindowResult:
    number: int
    action: str
    seconds: float
    changes: dict[str, int]
    seat: dict[str, Any] | None
    """The seat's exported outputs after the change (None after a removal)."""


def _yaml() -> YAML:
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096
    rt.indent(mapping=2, sequence=4, offset=2)
    return rt


def _plain(node: Any) -> Any:
    """A ruamel round-trip node as plain Python data."""
    return json.loads(json.dumps(node, default=str))


def _merge(old: Any, new: Any) -> Any:
    """``new``, reusing ``old``'s nodes (and so their comments) wherever the values are equal."""
    if _plain(old) == new:
        return old
    if isinstance(old, dict) and isinstance(new, dict):
        for key in [k for k in old if k not in new]:
            del old[key]
        for key, value in new.items():
            old[key] = _merge(old[key], value) if key in old else value
        return old
    if isinstance(old, list) and isinstance(new, list):
        keyed = all(isinstance(x, dict) and "number" in x for x in [*old, *new])
        if keyed:
            by_number = {x["number"]: x for x in old}
            merged = [_merge(by_number[x["number"]], x) if x["number"] in by_number else x for x in new]
        elif len(old) == len(new):
            merged = [_merge(o, n) for o, n in zip(old, new, strict=True)]
        else:
            return new
        old[:] = merged
        return old
    return new


@dataclass
class HallStack:
    """One hall stack: ``Pulumi.<name>.yaml`` in ``project_dir``, state under ``state_dir``."""

    name: str
    state_dir: Path = field(default_factory=default_state_dir)
    env: Mapping[str, str] = field(default_factory=dict)
    """Extra environment for the engine and providers (e.g. ``HALLCLOUD_LIBVIRT_URI`` in tests)."""
    project_dir: Path = PROJECT_DIR

    def __post_init__(self) -> None:
        self.state_dir = Path(self.state_dir)
        self.project_dir = Path(self.project_dir)
        self._thread_lock = threading.RLock()
        self._lock_depth = 0
        self._lock_file: io.TextIOWrapper | None = None

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

    @property
    def lock_path(self) -> Path:
        return self.state_dir / "locks" / f"stack-{self.name}.lock"

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

    @contextlib.contextmanager
    def locked(self, what: str, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
        """Hold the stack's lock (re-entrant in this process) while changing its config or state."""
        with self._thread_lock:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.lock_path.open("a+")
            deadline = time.monotonic() + wait_seconds
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        handle.seek(0)
                        holder = handle.read().strip() or "another process"
                        handle.close()
                        raise StackBusy(
                            f"stack {self.name}: busy for more than {wait_seconds:.0f} s ({holder}). Fix: "
                            "wait for that operation to finish, or stop it"
                        ) from None
                    time.sleep(0.2)
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()}: {what} since {datetime.now():%Y-%m-%d %H:%M:%S}\n")
            handle.flush()
            self._lock_file, self._lock_depth = handle, 1
            try:
                yield
            finally:
                self._lock_depth = 0
                self._lock_file = None
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()

    # -- config ----------------------------------------------------------------------------------------

    def _read_document(self) -> Any:
        if not self.config_file.exists():
            return _yaml().load("config: {}\n")
        document = _yaml().load(self.config_file.read_text()) or _yaml().load("config: {}\n")
        if document.get("config") is None:
            document["config"] = {}
        return document

    def _write_document(self, document: Any) -> None:
        buffer = io.StringIO()
        _yaml().dump(document, buffer)
        tmp = self.config_file.with_name(f".{self.config_file.name}.{os.getpid()}.tmp")
        tmp.write_text(buffer.getvalue())
        os.replace(tmp, self.config_file)

    def raw_config(self) -> dict[str, Any]:
        """The ``hall:*`` values of the stack's config file, as plain data."""
        config = _plain(self._read_document()["config"]) or {}
        return {k: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}

    def edit_config(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> HallSpec:
        """Apply ``change`` to the ``hall:*`` config values, validate the whole hall, write atomically.

        ``change`` gets a copy of the values and returns the new ones (or changes them in place and
        returns None). Nothing is written when the result is not a valid hall.
        """
        with self.locked("editing the stack config"):
            document = self._read_document()
            current = self.raw_config()
            proposed = copy.deepcopy(current)
            returned = change(proposed)
            new = proposed if returned is None else returned
            spec = load_spec(new)
            config = document["config"]
            others = {k: v for k, v in _plain(config).items() if not k.startswith(f"{NAMESPACE}:")}
            _merge(config, {**others, **new})
            self._write_document(document)
            return spec

    def write_config(self, spec: HallSpec | Mapping[str, Any]) -> HallSpec:
        """Make ``spec`` (a HallSpec or raw ``hall:*`` config) the stack's whole hall config."""
        checked = spec if isinstance(spec, HallSpec) else load_spec(spec)
        wanted = checked.to_config() if isinstance(spec, HallSpec) else dict(spec)
        self.edit_config(lambda _current: wanted)
        return checked

    def spec(self) -> HallSpec:
        """The hall the stack's config currently describes."""
        if not self.config_file.exists():
            raise HallConfigError(
                [
                    Issue(
                        str(self.config_file),
                        f"stack {self.name} has no config file",
                        f"write the hall into {self.config_file.name} (see Pulumi.demo.yaml), or "
                        "create the stack with `pulumi stack init` and `pulumi config set`",
                    )
                ]
            )
        return load_spec(self.raw_config())

    def forget_secrets_salt(self) -> None:
        """Drop the passphrase salt the engine wrote into the config file (after the stack is removed,
        so that a later stack of this name with a new passphrase starts clean)."""
        with self.locked("editing the stack config"):
            if not self.config_file.exists():
                return
            document = self._read_document()
            if "encryptionsalt" in document:
                del document["encryptionsalt"]
                self._write_document(document)

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


def _apply_window(
    hall: HallStack,
    number: int,
    action: str,
    progress: Progress | None,
    cancel: threading.Event | None,
    timeout: float | None,
) -> WindowResult:
    result = hall.up(targets=seat_urns(hall.name, number), progress=progress, cancel=cancel, timeout=timeout)
    seat = None
    if action != "remove":
        seat = (result.outputs.get("seats") or {}).get(f"{number:03d}")
    return WindowResult(number, action, result.seconds, result.changes, seat)


def _window_spec(window: WindowSpec | Mapping[str, Any]) -> dict[str, Any]:
    return (
        window.model_dump(mode="json", exclude_none=True) if isinstance(window, WindowSpec) else dict(window)
    )


def _windows(config: dict[str, Any]) -> list[dict[str, Any]]:
    windows = config.setdefault(f"{NAMESPACE}:windows", [])
    assert isinstance(windows, list)
    return windows


def add_window(
    hall: HallStack,
    window: WindowSpec | Mapping[str, Any],
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Add a window to the stack's config and create only its seat."""
    new = _window_spec(window)

    def change(config: dict[str, Any]) -> None:
        if any(w.get("number") == new.get("number") for w in _windows(config)):
            raise HallConfigError(
                [
                    Issue(
                        "hall:windows",
                        f"window {new.get('number')} already exists",
                        "use change_window() to change it, or choose a free number",
                    )
                ]
            )
        _windows(config).append(new)

    with hall.locked(f"adding window {new.get('number')}"):
        hall.edit_config(change)
        return _apply_window(hall, int(new["number"]), "add", progress, cancel, timeout)


def change_window(
    hall: HallStack,
    number: int,
    window: WindowSpec | Mapping[str, Any],
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Replace window ``number``'s definition and apply only its seat (changed desktops are replaced)."""
    new = {**_window_spec(window), "number": number}

    def change(config: dict[str, Any]) -> None:
        windows = _windows(config)
        if not any(w.get("number") == number for w in windows):
            raise HallConfigError(
                [Issue("hall:windows", f"window {number} does not exist", "use add_window() to add it")]
            )
        windows[:] = [new if w.get("number") == number else w for w in windows]

    with hall.locked(f"changing window {number}"):
        hall.edit_config(change)
        return _apply_window(hall, number, "change", progress, cancel, timeout)


def remove_window(
    hall: HallStack,
    number: int,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Remove window ``number`` from the config and delete only its seat."""

    def change(config: dict[str, Any]) -> None:
        windows = _windows(config)
        if not any(w.get("number") == number for w in windows):
            raise HallConfigError(
                [
                    Issue(
                        "hall:windows",
                        f"window {number} does not exist",
                        "check the number (hall stack summary lists the windows)",
                    )
                ]
            )
        windows[:] = [w for w in windows if w.get("number") != number]

    with hall.locked(f"removing window {number}"):
        hall.edit_config(change)
        return _apply_window(hall, number, "remove", progress, cancel, timeout)


def apply_window(
    hall: HallStack,
    number: int,
    *,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> WindowResult:
    """Apply window ``number`` as the config has it (e.g. to retry a failed setup)."""
    hall.spec().window(number)
    return _apply_window(hall, number, "apply", progress, cancel, timeout)
