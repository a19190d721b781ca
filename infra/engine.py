"""Running one Pulumi engine operation (up, preview, refresh, destroy) for a hall stack, the way an
operator wants to watch it: short progress lines, one summary when it fails, Ctrl-C that stops it.

The CLI runs in its own session with everything it prints going to a log file, and its structured
event stream (``--event-log``, JSON lines) is read while it runs. From those events come the progress
lines (``+ created Domain window-001-gov (31.2 s)``), the per-resource failures with the provider's
own message (the last line of the provider's traceback: our providers raise errors that name the
object, the problem and the fix), and the change counts. Nothing the engine prints reaches the
terminal twice; the full output is in the log file the summary names.

Stopping (Ctrl-C, SIGTERM, a cancelled job, a timeout): the engine is asked to cancel (SIGINT: it
starts no new step) and its provider processes are told to stop (their waits raise
:class:`vdi.cancel.Interrupted`, and a create that is interrupted removes what it made before
reporting the failure), so the stack's state stays consistent: finished resources stay recorded and
the next run resumes. If the engine is still running after :data:`GRACE_SECONDS` it is interrupted
again and then killed with everything it started.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from infra.pulumi_env import find_cli

__all__ = [
    "GRACE_SECONDS",
    "EngineRun",
    "Progress",
    "ResourceFailure",
    "StackCommandFailed",
    "StackInterrupted",
    "clean_message",
    "resource_label",
    "run_engine",
]

GRACE_SECONDS = (1.0, 0.5)
"""Seconds after the first and the second interrupt before the engine is interrupted again / killed.
Creates that do not finish in time stay *pending* in the state; :class:`infra.automation.HallStack`
then removes what they made."""
POLL_SECONDS = 0.1
QUIET_TYPES = ("pulumi:pulumi:Stack", "pulumi:providers:")
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*): (.+)$")
"""The last line of a Python traceback: ``package.module.ErrorClass: message``."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class ResourceFailure:
    urn: str
    message: str

    @property
    def label(self) -> str:
        return resource_label(self.urn)


@dataclass
class EngineRun:
    """What one engine operation did."""

    command: str
    stack: str
    result: str
    """``succeeded``, ``failed`` or ``cancelled``."""
    seconds: float
    log_file: Path
    changes: dict[str, int] = field(default_factory=dict)
    failures: list[ResourceFailure] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    """Engine-level error messages that name no resource (besides 'update failed')."""
    returncode: int | None = None
    signum: int | None = None
    pid: int | None = None
    """The engine's process id (the owner of the stack lock it may have left when it was killed)."""

    def summary(self) -> str:
        """The short text a person reads when the operation did not succeed."""
        if self.signum == signal.SIGALRM:
            head = f"pulumi {self.command} of stack {self.stack} timed out after {self.seconds:.1f} s"
        elif self.result == "cancelled":
            head = f"pulumi {self.command} of stack {self.stack} was interrupted after {self.seconds:.1f} s"
        else:
            head = f"pulumi {self.command} of stack {self.stack} failed after {self.seconds:.1f} s"
        done = ", ".join(f"{n} {op.replace('_', ' ')}" for op, n in sorted(self.changes.items()) if n)
        lines = [head + (f" ({done})" if done else "")]
        for failure in self.failures:
            lines.append(f"  {failure.label}: {failure.message}")
        for error in self.errors:
            lines.append(f"  {error}")
        if self.result != "cancelled" and not self.failures and not self.errors:
            lines.append(f"  the engine exited with status {self.returncode}")
        lines.append(f"full log: {self.log_file}")
        if self.result == "cancelled":
            lines.append("finished resources are kept in the stack's state; run the command again to resume")
        else:
            lines.append("after fixing the cause, run the command again: it resumes where this run stopped")
        return "\n".join(lines)


class StackCommandFailed(Exception):
    """An engine operation failed; ``str()`` is the summary a person reads."""

    def __init__(self, run: EngineRun) -> None:
        self.run = run
        super().__init__(run.summary())


class StackInterrupted(StackCommandFailed):
    """An engine operation was stopped by a signal, a cancelled job or a timeout."""


def resource_label(urn: str) -> str:
    """``Domain window-001-gov`` for a URN (type's last segment and the resource's name)."""
    _, _, rest = urn.partition("::")
    parts = urn.split("::")
    if len(parts) < 4:
        return rest or urn
    kind = parts[2].split("$")[-1].split(":")[-1]
    return f"{kind} {parts[3]}"


def clean_message(message: str) -> str:
    """The provider's own error text: the last ``Type: message`` line of a Python traceback, else the
    message itself with the engine's decorations removed."""
    lines = [line.rstrip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return message.strip()
    if lines[0].startswith("Traceback") or any(line.startswith("  File ") for line in lines):
        for line in reversed(lines):
            match = EXCEPTION_LINE.match(line)
            if match and not line.startswith(" "):
                return match.group(2).strip()
        return lines[-1].strip()
    text = " ".join(lines)
    for noise in ("Exception calling application: ", "rpc error: code = Unknown desc = "):
        text = text.replace(noise, "")
    return text.strip()


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children first found by walking /proc), deepest last."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as stat:
                fields = stat.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pids: Sequence[int], signum: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


class _EventReader:
    """Reads the engine's JSON-lines event log as it grows and keeps what the summary needs."""

    def __init__(self, path: Path, progress: Progress | None) -> None:
        self.path = path
        self.progress = progress
        self.offset = 0
        self.partial = b""
        self.started: dict[str, float] = {}
        self.failures: dict[str, ResourceFailure] = {}
        self.errors: list[str] = []
        self.changes: dict[str, int] = {}
        self.summary_result: str | None = None

    def poll(self) -> None:
        try:
            with self.path.open("rb") as log:
                log.seek(self.offset)
                data = log.read()
        except FileNotFoundError:
            return
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        for line in complete:
            if line.strip():
                with contextlib.suppress(ValueError):
                    self._handle(json.loads(line))

    def _say(self, text: str) -> None:
        if self.progress is not None:
            self.progress(text)

    def _handle(self, event: Mapping[str, Any]) -> None:
        if "diagnosticEvent" in event:
            diag = event["diagnosticEvent"]
            if diag.get("severity") != "error":
                return
            urn, message = diag.get("urn") or "", clean_message(str(diag.get("message") or ""))
            if urn and urn.split("::")[2:3] != ["pulumi:pulumi:Stack"]:
                self.failures[urn] = ResourceFailure(urn, message)
            elif (
                message
                not in (
                    "update failed",
                    "update canceled",
                    "preview failed",
                    "refresh failed",
                    "destroy failed",
                )
                and message not in self.errors
            ):
                self.errors.append(message)
            return
        for key, verb in (
            ("resourcePreEvent", None),
            ("resOutputsEvent", "done"),
            ("resOpFailedEvent", "failed"),
        ):
            if key not in event:
                continue
            meta = event[key].get("metadata") or {}
            op, urn, kind = meta.get("op"), meta.get("urn") or "", meta.get("type") or ""
            if op in (None, "same", "read", "refresh") or kind.startswith(QUIET_TYPES):
                return
            if not ((meta.get("new") or meta.get("old") or {}).get("custom")):
                return  # components: their children say what happened
            if verb is None:
                self.started[urn] = time.monotonic()
                return
            took = time.monotonic() - self.started.pop(urn, time.monotonic())
            word = {
                "create": "created",
                "update": "updated",
                "delete": "deleted",
                "replace": "replaced",
                "create-replacement": "created replacement",
                "delete-replaced": "deleted old",
                "discard": "discarded",
                "import": "imported",
            }.get(str(op), str(op))
            mark = "x" if verb == "failed" else {"delete": "-", "delete-replaced": "-"}.get(str(op), "+")
            if verb == "failed":
                word = f"{op} failed"
            self._say(f"  {mark} {word:<10} {resource_label(urn)} ({took:.1f} s)")
            return
        if "summaryEvent" in event:
            summary = event["summaryEvent"]
            self.changes = {str(k): int(v) for k, v in (summary.get("resourceChanges") or {}).items()}
            self.summary_result = summary.get("result")


def run_engine(
    command: str,
    args: Sequence[str],
    *,
    stack: str,
    cwd: Path,
    env: Mapping[str, str],
    log_file: Path,
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
) -> EngineRun:
    """Run ``pulumi COMMAND ARGS`` for ``stack`` in ``cwd``; raise on failure or interruption.

    ``progress`` receives one line per finished resource. The whole output lands in ``log_file``
    (its events beside it, ``*.events.jsonl``). SIGINT/SIGTERM in the calling thread (as
    KeyboardInterrupt), ``cancel`` being set or ``timeout`` passing stop the engine cleanly within
    about two seconds; :class:`StackInterrupted` then says what had finished.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    events = log_file.with_name(log_file.stem + ".events.jsonl")
    events.unlink(missing_ok=True)
    argv = [
        str(find_cli()),
        command,
        *args,
        "--non-interactive",
        "--color",
        "never",
        "--stack",
        stack,
        "--event-log",
        str(events),
    ]
    run_env = {**env, "PULUMI_DEBUG_COMMANDS": "true"}  # --event-log is a debug flag of the CLI
    reader = _EventReader(events, progress)
    started = time.monotonic()
    signum: int | None = None
    with log_file.open("w") as out:
        out.write(f"$ {' '.join(argv)}\n(in {cwd})\n")
        out.flush()
        proc = subprocess.Popen(
            argv, cwd=cwd, env=run_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            while proc.poll() is None:
                reader.poll()
                if cancel is not None and cancel.is_set():
                    signum = int(signal.SIGINT)
                    break
                if timeout is not None and time.monotonic() - started > timeout:
                    signum = int(signal.SIGALRM)
                    out.write(f"\nhallcloud: timeout after {timeout:.0f} s: interrupting the engine\n")
                    break
                time.sleep(POLL_SECONDS)
        except KeyboardInterrupt as exc:
            signum = int(getattr(exc, "signum", None) or signal.SIGINT)
        finally:
            if proc.poll() is None:
                _stop(proc, reader)
            else:
                proc.wait()
    reader.poll()
    seconds = time.monotonic() - started
    result = "cancelled" if signum is not None else "succeeded" if proc.returncode == 0 else "failed"
    run = EngineRun(
        command=command,
        stack=stack,
        result=result,
        seconds=seconds,
        log_file=log_file,
        changes=reader.changes,
        failures=list(reader.failures.values()),
        errors=[e for e in reader.errors if result != "cancelled" or "cancel" not in e],
        returncode=proc.returncode,
        signum=signum,
        pid=proc.pid,
    )
    if result == "cancelled":
        raise StackInterrupted(run)
    if result == "failed":
        raise StackCommandFailed(run)
    return run


def _stop(proc: subprocess.Popen[bytes], reader: _EventReader) -> None:
    """Interrupt the engine and its providers; escalate to a kill if they do not end in time."""
    tree = _descendants(proc.pid)
    _signal([proc.pid, *tree], signal.SIGINT)
    for grace, next_signal in zip(GRACE_SECONDS, (signal.SIGINT, signal.SIGKILL), strict=True):
        deadline = time.monotonic() + grace
        while proc.poll() is None and time.monotonic() < deadline:
            reader.poll()
            time.sleep(0.05)
        if proc.poll() is not None:
            break
        tree = sorted({*tree, *_descendants(proc.pid)})
        _signal([proc.pid] if next_signal == signal.SIGINT else [proc.pid, *tree], next_signal)
    proc.wait()
    # plugins the engine started but did not stop (it was killed) must not outlive it
    _signal([p for p in tree if _alive(p)], signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True
