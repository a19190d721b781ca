"""A hall stack's config file and its lock: the one place ``Pulumi.<stack>.yaml`` is read and written.

:class:`StackLock` serialises everything that changes a stack (config edits, engine runs) across threads
and processes: an ``flock`` on ``<state>/locks/stack-<name>.lock`` that names its holder, re-entrant
within one process. :class:`StackConfigFile` edits the ``hall:*`` values: read the file, change them,
validate the result as a whole hall, and replace the file atomically, keeping the operator's comments
and every other key (the engine's passphrase salt among them, which :meth:`forget_secrets_salt` drops).
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import io
import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from infra.spec import NAMESPACE, HallConfigError, HallSpec, Issue, load_spec

__all__ = ["LOCK_WAIT_SECONDS", "StackBusy", "StackConfigFile", "StackLock"]

LOCK_WAIT_SECONDS = 600.0


class StackBusy(RuntimeError):
    """Another process holds the stack's lock (an ``up``, a window setup) for too long."""


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


class StackLock:
    """The lock of stack ``name``: one holder at a time across processes, re-entrant within one."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        self.lock_path = path
        self._thread_lock = threading.RLock()
        self._lock_depth = 0

    @contextlib.contextmanager
    def hold(self, what: str, wait_seconds: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
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
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                handle.truncate(0)
                fcntl.flock(handle, fcntl.LOCK_UN)
                handle.close()


class StackConfigFile:
    """``Pulumi.<stack>.yaml``: its ``hall:*`` values, changed only under the stack's lock."""

    def __init__(self, path: Path, lock: StackLock) -> None:
        self.config_file = path
        self.lock = lock

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

    def raw(self) -> dict[str, Any]:
        """The ``hall:*`` values of the stack's config file, as plain data."""
        config = _plain(self._read_document()["config"]) or {}
        return {k: v for k, v in config.items() if k.startswith(f"{NAMESPACE}:")}

    def edit(self, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> HallSpec:
        """Apply ``change`` to the ``hall:*`` config values, validate the whole hall, write atomically.

        ``change`` gets a copy of the values and returns the new ones (or changes them in place and
        returns None). Nothing is written when the result is not a valid hall.
        """
        with self.lock.hold("editing the stack config"):
            document = self._read_document()
            current = self.raw()
            proposed = copy.deepcopy(current)
            returned = change(proposed)
            new = proposed if returned is None else returned
            spec = load_spec(new)
            config = document["config"]
            others = {k: v for k, v in _plain(config).items() if not k.startswith(f"{NAMESPACE}:")}
            _merge(config, {**others, **new})
            self._write_document(document)
            return spec

    def write(self, spec: HallSpec | Mapping[str, Any]) -> HallSpec:
        """Make ``spec`` (a HallSpec or raw ``hall:*`` config) the stack's whole hall config."""
        checked = spec if isinstance(spec, HallSpec) else load_spec(spec)
        wanted = checked.to_config() if isinstance(spec, HallSpec) else dict(spec)
        self.edit(lambda _current: wanted)
        return checked

    def spec(self) -> HallSpec:
        """The hall the stack's config currently describes."""
        if not self.config_file.exists():
            raise HallConfigError(
                [
                    Issue(
                        str(self.config_file),
                        f"stack {self.lock.name} has no config file",
                        f"write the hall into {self.config_file.name} (see Pulumi.demo.yaml), or "
                        "create the stack with `pulumi stack init` and `pulumi config set`",
                    )
                ]
            )
        return load_spec(self.raw())

    def forget_secrets_salt(self) -> None:
        """Drop the passphrase salt the engine wrote into the config file (after the stack is removed,
        so that a later stack of this name with a new passphrase starts clean)."""
        with self.lock.hold("editing the stack config"):
            if not self.config_file.exists():
                return
            document = self._read_document()
            if "encryptionsalt" in document:
                del document["encryptionsalt"]
                self._write_document(document)
