"""The database's share of the registries, synced at every start (the app's lifespan).

* Device types: every type of the device-type registry has its row (inserted when missing, named
  'English (中文)'). Rows stay as IT staff edit them, and types created through the API without a
  registry file stay too: they are inventory, not polled (no poll profile).
* Default alert rules: each kind of ``alert_kinds`` with a default rule gets it once. ``seeded_defaults``
  remembers what was seeded, so a default someone deleted is not seeded again. The migrations keep the
  rows they seeded historically (0001) and record them there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from device_manager.alert_kinds import ALERT_KINDS
from device_manager.db.models import AlertRule, DeviceType, SeededDefault
from device_manager.device_types import Registry, default_registry

__all__ = ["SyncReport", "rule_seed_key", "sync", "sync_registry"]


@dataclass
class SyncReport:
    device_types: list[str] = field(default_factory=list)  # slugs inserted
    alert_rules: list[str] = field(default_factory=list)  # kinds whose default rule was inserted


def rule_seed_key(kind: str) -> str:
    return f"alert_rule:{kind}"


def sync_registry(db: Session, registry: Registry | None = None) -> SyncReport:
    """Insert what the registries have and the database lacks (in the caller's transaction)."""
    registry = registry or default_registry()
    report = SyncReport()
    have = set(db.scalars(select(DeviceType.slug)))
    for spec in registry:
        if spec.slug not in have:
            db.add(DeviceType(slug=spec.slug, name=spec.name, description=spec.description))
            report.device_types.append(spec.slug)
    seeded = set(db.scalars(select(SeededDefault.key)))
    names = set(db.scalars(select(AlertRule.name)))
    for kind in ALERT_KINDS.values():
        rule = kind.default_rule
        key = rule_seed_key(kind.name)
        if rule is None or key in seeded:
            continue
        if rule.name not in names:  # a rule of that name made by hand wins
            db.add(
                AlertRule(
                    name=rule.name,
                    kind=kind.name,
                    threshold=rule.threshold,
                    raise_after=rule.raise_after,
                    clear_after=rule.clear_after,
                    flap_threshold=4,
                    severity=rule.severity,
                    enabled=True,
                )
            )
            report.alert_rules.append(kind.name)
        db.add(SeededDefault(key=key))
    db.flush()
    return report


def sync(session_factory: sessionmaker[Session], registry: Registry | None = None) -> SyncReport:
    """:func:`sync_registry` in a transaction of its own. Processes starting together (API workers on
    one PostgreSQL) may race to insert the same row: the loser finds it on its second pass."""
    for attempt in range(2):
        try:
            with session_factory() as db, db.begin():
                return sync_registry(db, registry)
        except IntegrityError:
            if attempt:
                raise
    raise AssertionError("unreachable")
