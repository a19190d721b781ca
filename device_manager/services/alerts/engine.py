"""The alert engine: turns poll results and traps into alerts (what each rule kind sees in them is
``observers.py``).

For every (rule, device, subject) - the subject is a supply index, an ifIndex, a storage index or empty -
``alert_states`` remembers the last 16 observations. An alert opens after ``raise_after`` consecutive
active observations and resolves after ``clear_after`` consecutive clear ones (hysteresis). When the
observation history changes state ``flap_threshold`` times or more, the alert is *flapping*: it is held
open, marked, announced once, and not re-announced until it settles. During a maintenance window (of
the device or its site) no alert opens and nothing is announced. Traps are edges: a linkDown or UPS
on-battery trap opens its alert at once, the matching linkUp / on-line trap clears it at once.

A poll that could not reach the device (down, auth_error) says nothing about supplies or doors: only the
``device_down`` rule is judged from it, so an unreachable printer does not "resolve" its paper-out alert.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.db.models import (
    Alert,
    AlertEvent,
    AlertRule,
    AlertState,
    Device,
    MaintenanceWindow,
    utcnow,
)
from device_manager.errors import Conflict
from device_manager.services.alerts.observers import (
    Observation,
    PollResultLike,
    TrapEventLike,
    describe,
    observe,
    observe_trap,
)

__all__ = [
    "HISTORY",
    "AlertEngine",
    "Batch",
    "Notification",
    "alert_payload",
    "id_chunks",
    "record_deliveries",
]

HISTORY = 16


@dataclass
class Notification:
    event: str  # alert.opened | alert.resolved | alert.acknowledged | alert.flapping
    alert: dict[str, Any]
    alert_id: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Batch:
    """What one evaluation pass over many devices needs, loaded in a handful of queries."""

    now: dt.datetime
    rules: list[AlertRule]
    maintenance_devices: set[int]
    maintenance_sites: set[int]
    states: dict[tuple[int, int], dict[str, AlertState]]  # (rule, device) -> subject -> state
    open_alerts: dict[tuple[int, int, str], Alert]  # (rule, device, subject) -> firing/acknowledged alert

    def in_maintenance(self, device: Device) -> bool:
        return device.id in self.maintenance_devices or device.site_id in self.maintenance_sites


def id_chunks(ids: Sequence[int], size: int = 900) -> Iterable[list[int]]:
    """``ids``, sorted and without repeats, in slices small enough for one ``IN (...)`` query."""
    ordered = sorted(set(ids))
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def alert_payload(alert: Alert, device: Device | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": alert.id,
        "rule_id": alert.rule_id,
        "device_id": alert.device_id,
        "subject": alert.subject,
        "kind": alert.kind,
        "severity": alert.severity,
        "status": alert.status,
        "message": alert.message,
        "value": alert.value,
        "flapping": alert.flapping,
        "opened_at": alert.opened_at.isoformat(),
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "acknowledged_by": alert.acknowledged_by,
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "resolved_by": alert.resolved_by,
    }
    if device is not None:
        data["device"] = {
            "name": device.name,
            "address": device.address,
            "site_id": device.site_id,
            "device_type": device.device_type.slug,
        }
    return data


def _applies(rule: AlertRule, device: Device) -> bool:
    if not rule.enabled:
        return False
    if rule.site_id is not None and rule.site_id != device.site_id:
        return False
    return rule.device_type_id is None or rule.device_type_id == device.device_type_id


def _changes(history: str) -> int:
    return sum(1 for a, b in itertools.pairwise(history) if a != b)


class AlertEngine:
    def __init__(self, clock: Any = utcnow) -> None:
        self.clock = clock

    # --- entry points ------------------------------------------------------------------------------

    def load_batch(self, db: Session, device_ids: Sequence[int]) -> Batch:
        now = self.clock()
        windows = db.execute(
            select(MaintenanceWindow.device_id, MaintenanceWindow.site_id).where(
                MaintenanceWindow.starts_at <= now, MaintenanceWindow.ends_at > now
            )
        ).all()
        batch = Batch(
            now=now,
            rules=list(db.scalars(select(AlertRule).order_by(AlertRule.id))),
            maintenance_devices={d for d, _s in windows if d is not None},
            maintenance_sites={s for _d, s in windows if s is not None},
            states={},
            open_alerts={},
        )
        for chunk in id_chunks(device_ids):
            for state in db.scalars(select(AlertState).where(AlertState.device_id.in_(chunk))):
                batch.states.setdefault((state.rule_id, state.device_id), {})[state.subject] = state
            open_alerts = db.scalars(
                select(Alert).where(
                    Alert.device_id.in_(chunk), Alert.status != "resolved", Alert.rule_id.is_not(None)
                )
            )
            for alert in open_alerts:
                assert alert.rule_id is not None
                batch.open_alerts[(alert.rule_id, alert.device_id, alert.subject)] = alert
        return batch

    def evaluate_poll(
        self, db: Session, device: Device, result: PollResultLike, batch: Batch | None = None
    ) -> list[Notification]:
        batch = batch or self.load_batch(db, [device.id])
        maintenance = batch.in_maintenance(device)
        notes: list[Notification] = []
        for rule in batch.rules:
            if not _applies(rule, device):
                continue
            seen = observe(rule, result)
            if seen is None:
                continue
            states = batch.states.get((rule.id, device.id), {})
            for subject in sorted(set(seen) | set(states)):
                obs = seen.get(subject, Observation(False))
                notes.extend(self._step(db, batch, rule, device, subject, obs, maintenance, False))
        return notes

    def evaluate_trap(self, db: Session, device: Device, event: TrapEventLike) -> list[Notification]:
        parsed = observe_trap(event)
        if parsed is None:
            return []
        kind, subject, obs = parsed
        batch = self.load_batch(db, [device.id])
        maintenance = batch.in_maintenance(device)
        notes: list[Notification] = []
        for rule in batch.rules:
            if rule.kind == kind and _applies(rule, device):
                notes.extend(self._step(db, batch, rule, device, subject, obs, maintenance, True))
        return notes

    def acknowledge(self, db: Session, alert: Alert, actor: str, comment: str = "") -> Notification:
        if alert.status == "resolved":
            raise Conflict.field("status", f"alert {alert.id} is already resolved")
        if alert.status == "acknowledged":
            raise Conflict.field(
                "status", f"alert {alert.id} is already acknowledged by {alert.acknowledged_by}"
            )
        alert.status = "acknowledged"
        alert.acknowledged_at = self.clock()
        alert.acknowledged_by = actor
        db.add(
            AlertEvent(
                alert_id=alert.id, at=alert.acknowledged_at, kind="acknowledged", actor=actor, detail=comment
            )
        )
        db.flush()
        return Notification("alert.acknowledged", alert_payload(alert), alert.id)

    def resolve(self, db: Session, alert: Alert, actor: str, comment: str = "") -> Notification:
        """Manual resolve. If the condition persists the alert reopens after ``raise_after`` cycles."""
        if alert.status == "resolved":
            raise Conflict.field("status", f"alert {alert.id} is already resolved")
        self._close(db, alert, actor, comment)
        if alert.rule_id is not None:
            state = db.get(AlertState, (alert.rule_id, alert.device_id, alert.subject))
            if state is not None:
                state.consecutive_true = 0
        db.flush()
        return Notification("alert.resolved", alert_payload(alert), alert.id)

    # --- the state machine -------------------------------------------------------------------------

    def _close(self, db: Session, alert: Alert, actor: str, detail: str) -> None:
        alert.status = "resolved"
        alert.resolved_at = self.clock()
        alert.resolved_by = actor
        alert.flapping = False
        db.add(
            AlertEvent(alert_id=alert.id, at=alert.resolved_at, kind="resolved", actor=actor, detail=detail)
        )

    def _step(
        self,
        db: Session,
        batch: Batch,
        rule: AlertRule,
        device: Device,
        subject: str,
        obs: Observation,
        maintenance: bool,
        immediate: bool,
    ) -> list[Notification]:
        now = batch.now
        states = batch.states.setdefault((rule.id, device.id), {})
        state = states.get(subject)
        if state is None:
            if not obs.active:
                return []  # nothing to remember about a condition that never held
            state = AlertState(
                rule_id=rule.id,
                device_id=device.id,
                subject=subject,
                consecutive_true=0,
                consecutive_false=0,
                history="",
            )
            db.add(state)
            states[subject] = state
        state.history = (state.history + ("1" if obs.active else "0"))[-HISTORY:]
        state.updated_at = now
        if obs.active:
            state.consecutive_true += 1
            state.consecutive_false = 0
        else:
            state.consecutive_false += 1
            state.consecutive_true = 0
        flapping = _changes(state.history) >= rule.flap_threshold
        key = (rule.id, device.id, subject)
        alert = batch.open_alerts.get(key)
        notes: list[Notification] = []

        if alert is None:
            if obs.active and (immediate or state.consecutive_true >= rule.raise_after) and not maintenance:
                alert = Alert(
                    rule_id=rule.id,
                    device_id=device.id,
                    subject=subject,
                    kind=rule.kind,
                    severity=rule.severity,
                    status="firing",
                    message=self._message(rule, device, subject, obs),
                    value=obs.value,
                    flapping=flapping,
                    opened_at=now,
                )
                db.add(alert)
                db.flush()
                batch.open_alerts[key] = alert
                db.add(AlertEvent(alert_id=alert.id, at=now, kind="opened", detail=alert.message))
                event = "alert.flapping" if flapping else "alert.opened"
                notes.append(Notification(event, alert_payload(alert, device), alert.id))
            elif not obs.active and not state.history.count("1"):
                db.delete(state)  # fully clear: forget it
                del states[subject]
            return notes

        if obs.value is not None:
            alert.value = obs.value
        if flapping and not alert.flapping:
            alert.flapping = True
            db.add(AlertEvent(alert_id=alert.id, at=now, kind="flapping", detail=f"history {state.history}"))
            if not maintenance:
                notes.append(Notification("alert.flapping", alert_payload(alert, device), alert.id))
            return notes
        if flapping:
            return notes  # held open and quiet while it flaps
        if alert.flapping:
            alert.flapping = False
            db.add(AlertEvent(alert_id=alert.id, at=now, kind="flapping_stopped"))
        if not obs.active and (immediate or state.consecutive_false >= rule.clear_after):
            self._close(db, alert, "auto", "condition cleared")
            del batch.open_alerts[key]
            db.flush()
            if not maintenance:
                notes.append(Notification("alert.resolved", alert_payload(alert, device), alert.id))
        return notes

    @staticmethod
    def _message(rule: AlertRule, device: Device, subject: str, obs: Observation) -> str:
        where = f"{device.name} ({device.device_type.slug} at {device.address})"
        return f"{where}: {describe(rule, subject, obs)}"


def record_deliveries(db: Session, deliveries: Iterable[Mapping[str, Any]]) -> None:
    """Write webhook delivery outcomes into each alert's history."""
    for delivery in deliveries:
        if not delivery.get("alert_id"):
            continue
        db.add(
            AlertEvent(
                alert_id=delivery["alert_id"],
                kind="notified" if delivery["ok"] else "notify_failed",
                detail=f"{delivery['event']} -> {delivery['url']}: {delivery['detail']}",
            )
        )
