"""The snapshot/backup scheduler: one loop applying every desktop's :class:`~vdi.policy.Policy`.

``hall snapshots scheduler --policies FILE`` runs it (``hall stack policies`` writes that file from the
stack). It is also embeddable: a long-running service creates a :class:`Scheduler` and calls
:meth:`Scheduler.tick` from its own loop, or runs :meth:`Scheduler.run_forever` in a thread with a stop
event (nothing in HallCloud embeds it yet).

- **State survives restarts**: for every job (desktop x snapshot/backup) the last cron slot handled,
  its outcome and the missed slots are kept in a JSON file in the state directory, replaced atomically.
- **Never the same job twice at once**: a job runs only while holding the desktop's operation lock
  (:func:`vdi.desktops.desktop_lock`, shared with the CLI and other schedulers), and it re-reads the
  state under that lock, so a slot another scheduler process already handled is not run again.
- **Missed runs are reported**: when more than one slot passed since the last one handled (the
  scheduler was down, or a job took longer than the interval), the skipped slots are reported as a
  ``missed`` event and only the latest slot runs. A desktop seen for the first time starts from now.
- After each scheduled snapshot/backup, retention prunes the scheduled (``auto-``) ones.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import yaml

from vdi.conn import connection
from vdi.desktops import DesktopBusy, desktop_lock
from vdi.exceptions import VdiError
from vdi.paths import state_dir
from vdi.policy import Policy, PolicyError, due_times

JobKind = Literal["snapshot", "backup"]
Status = Literal["ok", "failed", "busy", "missed"]


@dataclass(frozen=True)
class DesktopPolicy:
    desktop: str
    policy: Policy


def load_policies(path: Path) -> tuple[str | None, list[DesktopPolicy]]:
    """Read a policy file: ``uri`` (optional), ``defaults`` and ``desktops: {name: overrides}``.

    Every desktop's policy is ``defaults`` updated with its own settings, validated with the config path
    in errors (``policies.yaml:desktops.win01-gov.snapshot_schedule: ...``).
    """
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(str(path), f"cannot be read: {exc}", "check the file") from exc
    if not isinstance(data, Mapping):
        raise PolicyError(str(path), "is not a mapping", "write uri:, defaults: and desktops: keys")
    unknown = sorted(set(data) - {"uri", "defaults", "desktops"})
    if unknown:
        raise PolicyError(f"{path}:{unknown[0]}", "is not a known key", "use uri, defaults and desktops")
    defaults = data.get("defaults") or {}
    desktops = data.get("desktops") or {}
    if not isinstance(defaults, Mapping) or not isinstance(desktops, Mapping) or not desktops:
        raise PolicyError(
            f"{path}:desktops",
            "must map desktop names to policies (at least one)",
            "write desktops: {win01-gov: {}}",
        )
    Policy.from_mapping(defaults, f"{path}:defaults")
    out = []
    for name, overrides in desktops.items():
        merged = {**defaults, **(overrides or {})}
        out.append(DesktopPolicy(str(name), Policy.from_mapping(merged, f"{path}:desktops.{name}")))
    uri = data.get("uri")
    return (str(uri) if uri else None), out


# -- state ------------------------------------------------------------------------------------------


@dataclass
class JobState:
    last_slot: str | None = None
    """ISO time of the last cron slot handled (run, failed or skipped as missed)."""
    last_status: str | None = None
    last_detail: str | None = None
    last_started: str | None = None
    last_finished: str | None = None
    runs: int = 0
    failures: int = 0
    missed: int = 0


class StateFile:
    """Job states in one JSON file; every update is read-modify-replace under an flock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, JobState]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except (ValueError, OSError) as exc:
            raise VdiError(
                f"scheduler state {self.path}",
                f"cannot be read: {exc}",
                "move the file away; the scheduler then starts from now",
            ) from exc
        return {key: JobState(**value) for key, value in raw.get("jobs", {}).items()}

    def update(self, key: str, change: Callable[[JobState], None]) -> JobState:
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            jobs = self.load()
            state = jobs.setdefault(key, JobState())
            change(state)
            tmp = self.path.with_suffix(f".tmp{os.getpid()}")
            tmp.write_text(
                json.dumps({"jobs": {k: asdict(v) for k, v in jobs.items()}}, indent=2, sort_keys=True)
            )
            os.replace(tmp, self.path)
            return state


# -- running jobs -----------------------------------------------------------------------------------


@dataclass
class JobEvent:
    desktop: str
    kind: JobKind
    status: Status
    slot: datetime
    detail: str = ""
    missed: list[datetime] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.slot.isoformat(timespec='minutes')} {self.kind} {self.desktop}: {self.status}"
        return f"{text} ({self.detail})" if self.detail else text


class JobRunner(Protocol):
    """Runs one job while the scheduler holds the desktop's lock; returns a short detail line."""

    def __call__(self, desktop: str, kind: JobKind, policy: Policy, slot: datetime) -> str: ...


class LibvirtJobRunner:
    """Snapshots and backups through vdi on one hypervisor, each followed by its retention."""

    def __init__(self, uri: str) -> None:
        self.uri = uri

    def __call__(self, desktop: str, kind: JobKind, policy: Policy, slot: datetime) -> str:
        from vdi.backup.create import create_backup
        from vdi.backup.retention import prune_backups
        from vdi.snapshots import create_snapshot, prune_snapshots, scheduled_name

        with connection(self.uri) as conn:
            if kind == "snapshot":
                result = create_snapshot(
                    conn, desktop, scheduled_name(slot), quiesce=policy.quiesce, lock=False
                )
                plan = prune_snapshots(conn, desktop, policy.snapshot_retention, tz=policy.tz, lock=False)
                return f"{result.info.name}; pruned {len(plan.delete)}" + (
                    f"; {'; '.join(result.notes)}" if result.notes else ""
                )
            assert policy.backup_pool is not None
            manifest = create_backup(
                conn, desktop, policy.backup_pool, quiesce=policy.quiesce, origin="auto", now=slot, lock=False
            )
            plan = prune_backups(conn, policy.backup_pool, desktop, policy.backup_retention, tz=policy.tz)
            return f"{manifest.id}; pruned {len(plan.delete)}"


class Scheduler:
    def __init__(
        self,
        uri: str,
        policies: list[DesktopPolicy],
        *,
        state_path: Path | None = None,
        runner: JobRunner | None = None,
        report: Callable[[JobEvent], None] | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.uri = uri
        self.policies = policies
        self.state = StateFile(state_path or state_dir() / "scheduler.json")
        self.runner: JobRunner = runner or LibvirtJobRunner(uri)
        self.report = report or (lambda _e: None)
        self.clock = clock or (lambda: datetime.now(UTC))

    def _key(self, desktop: str, kind: JobKind) -> str:
        return f"{self.uri}|{desktop}|{kind}"

    def jobs(self) -> list[tuple[DesktopPolicy, JobKind, str]]:
        out: list[tuple[DesktopPolicy, JobKind, str]] = []
        for dp in self.policies:
            if dp.policy.snapshot_schedule:
                out.append((dp, "snapshot", dp.policy.snapshot_schedule))
            if dp.policy.backup_schedule:
                out.append((dp, "backup", dp.policy.backup_schedule))
        return out

    def tick(self, now: datetime | None = None) -> list[JobEvent]:
        """Run every job whose cron slot has come; returns (and reports) what happened."""
        now = now or self.clock()
        events: list[JobEvent] = []
        for dp, kind, expr in self.jobs():
            event = self._run_job(dp, kind, expr, now)
            events.extend(event)
        return events

    def _run_job(self, dp: DesktopPolicy, kind: JobKind, expr: str, now: datetime) -> list[JobEvent]:
        key = self._key(dp.desktop, kind)
        known = self.state.load().get(key)
        if known is None or known.last_slot is None:
            # first sight of this job: start counting slots from now, do not replay the past
            self.state.update(key, lambda s: setattr(s, "last_slot", now.isoformat()))
            return []
        slots = due_times(expr, datetime.fromisoformat(known.last_slot), now, dp.policy.tz)
        if not slots:
            return []
        events = []
        try:
            with connection(self.uri) as conn, desktop_lock(conn, dp.desktop, f"scheduled {kind}"):
                # re-read under the lock: another scheduler may have handled these slots meanwhile
                fresh = self.state.load().get(key)
                if fresh and fresh.last_slot and datetime.fromisoformat(fresh.last_slot) >= slots[-1]:
                    return []
                missed, slot = slots[:-1], slots[-1]
                if missed:
                    events.append(
                        self._emit(
                            JobEvent(
                                dp.desktop,
                                kind,
                                "missed",
                                missed[0],
                                f"{len(missed)} slot(s) missed, last {missed[-1].isoformat()}"
                                f"; running the latest only",
                                missed,
                            )
                        )
                    )
                started = self.clock().isoformat()
                try:
                    detail = self.runner(dp.desktop, kind, dp.policy, slot)
                    status: Status = "ok"
                except Exception as exc:  # one broken desktop must not stop the loop
                    detail, status = (
                        str(exc) if isinstance(exc, VdiError) else f"{type(exc).__name__}: {exc}",
                        "failed",
                    )
                finished = self.clock().isoformat()

                def record(s: JobState) -> None:
                    s.last_slot, s.last_status, s.last_detail = slot.isoformat(), status, detail
                    s.last_started, s.last_finished = started, finished
                    s.runs += 1
                    s.failures += status == "failed"
                    s.missed += len(missed)

                self.state.update(key, record)
                events.append(self._emit(JobEvent(dp.desktop, kind, status, slot, detail)))
        except DesktopBusy as exc:
            # the slot stays pending and is retried on the next tick
            events.append(self._emit(JobEvent(dp.desktop, kind, "busy", slots[-1], exc.problem)))
        except VdiError as exc:
            events.append(self._emit(JobEvent(dp.desktop, kind, "failed", slots[-1], str(exc))))
        return events

    def _emit(self, event: JobEvent) -> JobEvent:
        self.report(event)
        return event

    def run_forever(self, stop: threading.Event | None = None, interval: float = 30.0) -> None:
        """Tick every ``interval`` seconds until ``stop`` is set."""
        stop = stop or threading.Event()
        while not stop.is_set():
            self.tick()
            stop.wait(interval)

    def status(self) -> dict[str, dict[str, Any]]:
        states = self.state.load()
        return {
            f"{dp.desktop} {kind}": asdict(states.get(self._key(dp.desktop, kind), JobState()))
            for dp, kind, _ in self.jobs()
        }


__all__ = [
    "DesktopPolicy",
    "JobEvent",
    "JobRunner",
    "JobState",
    "LibvirtJobRunner",
    "Scheduler",
    "load_policies",
]
