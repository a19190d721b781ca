"""Snapshot and backup policies of desktops, and the pure retention plan.

A :class:`Policy` says *when* to snapshot and back up a desktop (cron expressions), *how many* to keep
(:class:`Retention`: the last N, plus the newest of each of the last D days and W ISO weeks), *where*
backups go (a storage-tier pool) and whether to quiesce the guest's file systems first. The infra
stack's config validates each window's policy with :meth:`Policy.from_mapping`, which names the config
path in every error. :func:`plan_retention` decides, without libvirt, which items a retention keeps and
why; only items named by the scheduler (``auto-``) are ever pruned, manual ones are the operator's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from vdi.exceptions import InvalidSpec

AUTO_PREFIX = "auto-"
"""Names of snapshots and backups the scheduler made; retention prunes only these."""


class PolicyError(InvalidSpec):
    """A policy in the config is invalid; ``obj`` is its config path."""


@dataclass(frozen=True)
class Retention:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0

    def validate(self, path: str) -> Retention:
        for name in ("keep_last", "keep_daily", "keep_weekly"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise PolicyError(
                    f"{path}.{name}",
                    f"must be a whole number >= 0, got {value!r}",
                    f"set {name}: 7 (or 0 to not keep by this rule)",
                )
        if self.keep_last == self.keep_daily == self.keep_weekly == 0:
            raise PolicyError(
                path,
                "keeps nothing (keep_last, keep_daily and keep_weekly are all 0)",
                "keep at least one, e.g. keep_last: 3",
            )
        return self


@dataclass(frozen=True)
class Policy:
    """Snapshot and backup schedule of one desktop (or every desktop of a window)."""

    snapshot_schedule: str | None = "0 * * * *"
    """Cron expression (5 fields) in ``timezone``; None: no scheduled snapshots."""
    snapshot_retention: Retention = field(default_factory=lambda: Retention(keep_last=24, keep_daily=7))
    backup_schedule: str | None = None
    """Cron expression; None: no scheduled backups."""
    backup_retention: Retention = field(default_factory=lambda: Retention(keep_last=3, keep_weekly=4))
    backup_pool: str | None = None
    """The storage-tier pool that receives backups; required when ``backup_schedule`` is set."""
    quiesce: bool = True
    """Freeze the guest's file systems through the QEMU guest agent (when it has one) for disk-only
    copies. Snapshots that include memory need no freeze: the memory holds the file system state."""
    timezone: str = "UTC"
    """The hall's local time zone: schedules and the daily/weekly buckets of retention use it."""

    @property
    def tz(self) -> tzinfo:
        return ZoneInfo(self.timezone)

    def validate(self, path: str = "policy") -> Policy:
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise PolicyError(
                f"{path}.timezone",
                f"unknown time zone {self.timezone!r}",
                "use an IANA name such as Asia/Shanghai or UTC",
            ) from exc
        for key in ("snapshot_schedule", "backup_schedule"):
            expr = getattr(self, key)
            if expr is not None:
                _check_cron(f"{path}.{key}", expr)
        self.snapshot_retention.validate(f"{path}.snapshot_retention")
        self.backup_retention.validate(f"{path}.backup_retention")
        if self.backup_schedule is not None and not self.backup_pool:
            raise PolicyError(
                f"{path}.backup_pool",
                "is required when backup_schedule is set",
                "name the storage tier's backup pool, e.g. backup_pool: hall-backups",
            )
        return self

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None, path: str = "policy") -> Policy:
        """A validated policy from config data (unknown keys are refused, so typos do not pass)."""
        data = dict(data or {})
        known = {
            "snapshot_schedule",
            "snapshot_retention",
            "backup_schedule",
            "backup_retention",
            "backup_pool",
            "quiesce",
            "timezone",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(
                f"{path}.{unknown[0]}", "is not a policy setting", f"use one of: {', '.join(sorted(known))}"
            )
        kwargs: dict[str, Any] = {}
        for key in ("snapshot_schedule", "backup_schedule", "backup_pool", "timezone"):
            if key in data:
                value = data[key]
                if value is not None and not isinstance(value, str):
                    raise PolicyError(
                        f"{path}.{key}", f"must be a string, got {value!r}", "quote the value in the config"
                    )
                kwargs[key] = value
        if "quiesce" in data:
            if not isinstance(data["quiesce"], bool):
                raise PolicyError(
                    f"{path}.quiesce",
                    f"must be true or false, got {data['quiesce']!r}",
                    "write quiesce: true or quiesce: false",
                )
            kwargs["quiesce"] = data["quiesce"]
        for key in ("snapshot_retention", "backup_retention"):
            if key in data:
                kwargs[key] = _retention(data[key], f"{path}.{key}")
        return cls(**kwargs).validate(path)


def _retention(data: Any, path: str) -> Retention:
    if not isinstance(data, Mapping):
        raise PolicyError(
            path, f"must be a mapping, got {data!r}", "write e.g. {keep_last: 3, keep_daily: 7}"
        )
    known = {"keep_last", "keep_daily", "keep_weekly"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise PolicyError(
            f"{path}.{unknown[0]}", "is not a retention rule", f"use one of: {', '.join(sorted(known))}"
        )
    return Retention(**{k: data[k] for k in known if k in data}).validate(path)


def _check_cron(path: str, expr: str) -> None:
    if len(expr.split()) != 5 or not croniter.is_valid(expr):
        raise PolicyError(
            path,
            f"{expr!r} is not a 5-field cron expression",
            "write minute hour day-of-month month day-of-week, e.g. '0 */2 * * *'",
        )


def due_times(expr: str, after: datetime, until: datetime, tz: tzinfo, limit: int = 1000) -> list[datetime]:
    """Times ``expr`` fires in (``after``, ``until``], as aware datetimes in ``tz`` (at most ``limit``)."""
    it = croniter(expr, after.astimezone(tz))
    out: list[datetime] = []
    while len(out) < limit:
        nxt: datetime = it.get_next(datetime)
        if nxt > until:
            break
        out.append(nxt)
    return out


# -- retention --------------------------------------------------------------------------------------


@dataclass
class RetentionPlan:
    keep: dict[str, list[str]]
    """Kept name -> the rules keeping it: ``last``, ``daily 2026-11-25``, ``weekly 2026-W48``, ``manual``."""
    delete: list[str]
    """Names to delete, oldest first."""


def plan_retention(
    items: Iterable[tuple[str, datetime]], retention: Retention, tz: tzinfo | None = None
) -> RetentionPlan:
    """Which of ``items`` (name, aware creation time) ``retention`` keeps, newest first per rule.

    ``keep_last`` keeps the N newest; ``keep_daily`` the newest item of each of the D newest days that
    have one; ``keep_weekly`` likewise per ISO week. Days and weeks are in ``tz`` (UTC by default).
    Items whose name does not start with ``auto-`` are manual: always kept, and not counted.
    """
    zone = tz or ZoneInfo("UTC")
    ordered = sorted(items, key=lambda item: (item[1], item[0]), reverse=True)
    keep: dict[str, list[str]] = {}
    auto = []
    for name, created in ordered:
        if name.startswith(AUTO_PREFIX):
            auto.append((name, created))
        else:
            keep[name] = ["manual"]
    for name, _ in auto[: retention.keep_last]:
        keep.setdefault(name, []).append("last")
    for rule, limit, bucket in (
        ("daily", retention.keep_daily, lambda t: t.astimezone(zone).date().isoformat()),
        ("weekly", retention.keep_weekly, _iso_week(zone)),
    ):
        seen: list[str] = []
        for name, created in auto:
            if len(seen) >= limit:
                break
            key = bucket(created)
            if key not in seen:
                seen.append(key)
                keep.setdefault(name, []).append(f"{rule} {key}")
    delete = [name for name, _ in reversed(auto) if name not in keep]
    return RetentionPlan(keep=keep, delete=delete)


def _iso_week(zone: tzinfo) -> Any:
    def bucket(t: datetime) -> str:
        year, week, _ = t.astimezone(zone).isocalendar()
        return f"{year}-W{week:02d}"

    return bucket


__all__ = [
    "AUTO_PREFIX",
    "Policy",
    "PolicyError",
    "Retention",
    "RetentionPlan",
    "due_times",
    "plan_retention",
]
