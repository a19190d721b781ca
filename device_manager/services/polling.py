"""The polling loop: every ``interval`` seconds, poll every active device that has SNMP credentials,
store what came back and evaluate the alert rules.

A device whose type has no poll profile (a type created through the API without a registry file, or
one the registry does not poll) is skipped: it is reported once with a ``not_polled`` event (and
``last_error``), and never fails the cycle for the other devices.

Cycles never overlap: when a cycle is still running at the next tick, that tick is skipped and counted
as an overrun. Each cycle reads the device list and decrypts credentials (in a worker thread, as are
the database writes), polls through the SNMP ``Poller`` on the event loop, then stores per device:
operational status, last seen, facts, a bounded metric history (a ring of ``history_samples`` slots per
device and metric, so the table cannot grow without bound), status-change events and alerts.
Notifications go out after the transaction commits.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from device_manager.core.metrics import Metrics
from device_manager.core.secrets import DecryptionError, SecretBox
from device_manager.db.models import CredentialProfile, Device, Event, MetricSample, Site, utcnow
from device_manager.device_types import default_registry
from device_manager.services import credentials as credential_service
from device_manager.services.alerts import (
    AlertEngine,
    Notification,
    PollResultLike,
    TrapEventLike,
    id_chunks,
    record_deliveries,
)
from device_manager.services.notifier import WebhookNotifier

__all__ = ["CycleReport", "PollerLike", "PollingService", "history", "snmp_credential", "upsert_samples"]

log = logging.getLogger(__name__)


class PollerLike(Protocol):
    async def poll_many(self, targets: list[Any]) -> Sequence[PollResultLike]: ...


@dataclass
class CycleReport:
    started_at: dt.datetime
    duration_s: float = 0.0
    targets: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    notifications: int = 0
    skipped: list[str] = field(default_factory=list)


def snmp_credential(kind: str, username: str, secret: dict[str, str]) -> Any:
    """The SNMP library's credential value for a decrypted profile."""
    from device_manager.snmp.credentials import SnmpV2c, SnmpV3

    if kind == "snmp_v2c":
        return SnmpV2c(community=secret["community"])
    if kind == "snmp_v3":
        return SnmpV3(user=username, auth_key=secret["auth_key"], priv_key=secret["priv_key"])
    raise ValueError(f"credential kind '{kind}' is not an SNMP credential")


def _json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(json.dumps(dict(value), default=str)))


def upsert_samples(db: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        pg_stmt = pg_insert(MetricSample)
        db.execute(
            pg_stmt.on_conflict_do_update(
                index_elements=["device_id", "metric", "slot"],
                set_={"ts": pg_stmt.excluded.ts, "value": pg_stmt.excluded.value},
            ),
            rows,
        )
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite_stmt = sqlite_insert(MetricSample)
        db.execute(
            lite_stmt.on_conflict_do_update(
                index_elements=["device_id", "metric", "slot"],
                set_={"ts": lite_stmt.excluded.ts, "value": lite_stmt.excluded.value},
            ),
            rows,
        )
    else:  # pragma: no cover - other backends: plain merge
        for row in rows:
            db.merge(MetricSample(**row))


class PollingService:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        poller: PollerLike | None,
        *,
        interval_s: float = 60.0,
        history_samples: int = 120,
        timeout_s: float = 2.0,
        retries: int = 1,
        notifier: WebhookNotifier | None = None,
        metrics: Metrics | None = None,
        engine: AlertEngine | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        polled_types: Collection[str] | None = None,
    ) -> None:
        self.session_factory = session_factory
        # device types with a poll profile (default: those of the device-type registry)
        self.polled_types = frozenset(
            polled_types if polled_types is not None else (t.slug for t in default_registry().polled())
        )
        self.box = box
        self.poller = poller
        self.interval_s = interval_s
        self.history_samples = history_samples
        self.timeout_s = timeout_s
        self.retries = retries
        self.notifier = notifier
        self.metrics = metrics
        self.engine = engine or AlertEngine(clock)
        self.clock = clock
        self.overruns = 0
        self.cycles = 0
        self.last_report: CycleReport | None = None
        self._running_cycles = 0
        self.shutdown_grace_s = 30.0

    # --- one cycle ---------------------------------------------------------------------------------

    def build_targets(self) -> tuple[list[Any], list[str]]:
        """(poll targets, problems that kept devices out of this cycle)."""
        from device_manager.snmp.poller import PollTarget

        targets: list[Any] = []
        skipped: list[str] = []
        with self.session_factory() as db, db.begin():
            rows = db.execute(
                select(Device, CredentialProfile)
                .join(CredentialProfile, CredentialProfile.id == Device.snmp_credential_id)
                .where(Device.status == "active")
                .order_by(Device.id)
            ).all()
            decrypted: dict[int, Any] = {}  # profile id -> credential (or the error): once per cycle
            for device, profile in rows:
                dtype = device.device_type.slug
                if dtype not in self.polled_types:
                    skipped.append(self._not_polled(db, device, dtype))
                    continue
                if profile.id not in decrypted:
                    try:
                        secret = credential_service.decrypt(self.box, profile)
                        decrypted[profile.id] = snmp_credential(profile.kind, profile.username, secret)
                    except (DecryptionError, ValueError, KeyError) as exc:
                        decrypted[profile.id] = exc
                credential = decrypted[profile.id]
                if isinstance(credential, Exception):
                    # the message names the profile, never its secret
                    skipped.append(f"device {device.name}: credential profile '{profile.name}': {credential}")
                    continue
                targets.append(
                    PollTarget(
                        device_id=device.id,
                        address=device.address,
                        port=device.snmp_port,
                        device_type=device.device_type.slug,
                        credential=credential,
                        timeout=self.timeout_s,
                        retries=self.retries,
                    )
                )
        return targets, skipped

    def _not_polled(self, db: Session, device: Device, device_type: str) -> str:
        """Say once (an event, ``last_error``) that ``device`` is not polled, and why."""
        message = (
            f"device {device.name}: device type '{device_type}' has no poll profile, so it is not polled; "
            f"give it a poll section (device_manager/device_types/{device_type}.yaml) or remove the "
            "device's SNMP credential"
        )
        if device.last_error != message:
            device.last_error = message
            db.add(
                Event(
                    device_id=device.id,
                    source=device.address,
                    origin="poll",
                    kind="not_polled",
                    message=message,
                    data={"device_type": device_type},
                    at=self.clock(),
                )
            )
        return message

    def store_results(self, results: Sequence[PollResultLike]) -> list[Notification]:
        """One transaction for the whole cycle; the reads it needs are done in bulk up front."""
        now = self.clock()
        notes: list[Notification] = []
        ids = [r.device_id for r in results]
        samples: list[dict[str, Any]] = []
        with self.session_factory() as db, db.begin():
            devices: dict[int, Device] = {}
            for chunk in id_chunks(ids):
                devices.update((d.id, d) for d in db.scalars(select(Device).where(Device.id.in_(chunk))))
            sites: dict[int, str] = {
                site_id: slug for site_id, slug in db.execute(select(Site.id, Site.slug))
            }
            batch = self.engine.load_batch(db, list(devices))
            for result in results:
                device = devices.get(result.device_id)
                if device is None:
                    continue  # deleted while it was being polled
                samples.extend(self._store_one(device, result, now, sites.get(device.site_id, ""), db))
                notes.extend(self.engine.evaluate_poll(db, device, result, batch))
            upsert_samples(db, samples)
        return notes

    def _store_one(
        self, device: Device, result: PollResultLike, now: dt.datetime, site: str, db: Session
    ) -> list[dict[str, Any]]:
        """Update the device row and events; return its metric samples (written in one batch)."""
        previous = device.oper_status
        device.oper_status = result.status
        device.last_polled = now
        device.last_error = result.error
        if result.status in ("up", "degraded"):
            device.last_seen = now
            if result.facts:
                device.facts = _json_safe(result.facts)
        device.poll_seq = (device.poll_seq or 0) + 1
        slot = device.poll_seq % self.history_samples
        if previous != result.status:
            db.add(
                Event(
                    device_id=device.id,
                    source=device.address,
                    origin="poll",
                    kind="status_changed",
                    message=f"{device.name}: {previous} -> {result.status}"
                    + (f" ({result.error})" if result.error else ""),
                    data={"from": previous, "to": result.status},
                    at=now,
                )
            )
        if self.metrics is not None:
            dtype = device.device_type.slug
            self.metrics.polls.labels(dtype).inc()
            self.metrics.poll_duration.labels(dtype).observe(result.duration_s)
            if result.status in ("down", "auth_error") or result.error:
                self.metrics.poll_errors.labels(dtype, result.status).inc()
            for name, value in result.metrics.items():
                if name.startswith("supply.") and name.endswith(".percent"):
                    supply = name[len("supply.") : -len(".percent")]
                    self.metrics.supply_level.labels(device.name, site, supply).set(value)
        return [
            {"device_id": device.id, "metric": name[:120], "slot": slot, "ts": now, "value": float(value)}
            for name, value in result.metrics.items()
        ]

    async def run_cycle(self) -> CycleReport:
        started = time.perf_counter()
        report = CycleReport(started_at=self.clock())
        self._running_cycles += 1
        try:
            if self._running_cycles > 1:  # the loop never does this; a second caller would be a bug
                raise RuntimeError("poll cycles overlap")
            targets, report.skipped = await asyncio.to_thread(self.build_targets)
            for problem in report.skipped:
                log.warning("not polled: %s", problem)
            report.targets = len(targets)
            results = list(await self.poller.poll_many(targets)) if (targets and self.poller) else []
            for result in results:
                report.by_status[result.status] = report.by_status.get(result.status, 0) + 1
            notes = await asyncio.to_thread(self.store_results, results)
            report.notifications = len(notes)
            await self.notify(notes)
        finally:
            self._running_cycles -= 1
        report.duration_s = time.perf_counter() - started
        if self.metrics is not None:
            self.metrics.cycle_duration.observe(report.duration_s)
        self.cycles += 1
        self.last_report = report
        return report

    async def notify(self, notes: Sequence[Notification]) -> None:
        if not notes or self.notifier is None or not self.notifier.urls:
            return
        deliveries = await self.notifier.send(notes)
        if self.metrics is not None:
            for delivery in deliveries:
                if not delivery.ok:
                    self.metrics.webhook_failures.inc()

        def _record() -> None:
            with self.session_factory() as db, db.begin():
                record_deliveries(db, [d.as_dict() for d in deliveries])

        await asyncio.to_thread(_record)

    # --- traps -------------------------------------------------------------------------------------

    def trap_credentials(self, extra_communities: Sequence[str] = ()) -> tuple[list[str], list[Any]]:
        """(v2c communities, v3 users) the trap receiver accepts: the configured trap communities plus
        every SNMP credential profile, so a device sends traps with the credentials it is polled with."""
        communities = list(dict.fromkeys(extra_communities))
        users: list[Any] = []
        with self.session_factory() as db:
            profiles = db.scalars(
                select(CredentialProfile).where(CredentialProfile.kind.in_(("snmp_v2c", "snmp_v3")))
            )
            for profile in profiles:
                try:
                    credential = snmp_credential(
                        profile.kind, profile.username, credential_service.decrypt(self.box, profile)
                    )
                except (DecryptionError, ValueError, KeyError) as exc:
                    log.warning("trap receiver: credential profile '%s' skipped: %s", profile.name, exc)
                    continue
                if profile.kind == "snmp_v2c":
                    if credential.community not in communities:
                        communities.append(credential.community)
                elif credential not in users:
                    users.append(credential)
        return communities, users

    def store_trap(self, event: TrapEventLike) -> list[Notification]:
        now = self.clock()
        notes: list[Notification] = []
        with self.session_factory() as db, db.begin():
            devices = list(db.scalars(select(Device).where(Device.address == event.source)))
            data = {"oid": event.oid, "varbinds": dict(event.varbinds)}
            if not devices:
                db.add(
                    Event(
                        device_id=None,
                        source=event.source,
                        origin="trap",
                        kind=event.kind,
                        message=f"trap {event.kind} from unknown device {event.source}",
                        data=data,
                        at=now,
                    )
                )
            for device in devices:
                db.add(
                    Event(
                        device_id=device.id,
                        source=event.source,
                        origin="trap",
                        kind=event.kind,
                        message=f"{device.name}: trap {event.kind}",
                        data=data,
                        at=now,
                    )
                )
                notes.extend(self.engine.evaluate_trap(db, device, event))
        return notes

    async def handle_trap(self, event: TrapEventLike) -> None:
        if self.metrics is not None:
            self.metrics.traps.labels(event.kind).inc()
        notes = await asyncio.to_thread(self.store_trap, event)
        await self.notify(notes)

    # --- the loop ----------------------------------------------------------------------------------

    async def _cycle_logged(self) -> None:
        try:
            report = await self.run_cycle()
        except Exception:
            log.exception("poll cycle failed")
            return
        log.info("poll cycle: %d device(s) in %.2f s %s", report.targets, report.duration_s, report.by_status)

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every ``interval_s`` until ``stop`` is set; skip (and count) ticks that find the previous
        cycle still running."""
        loop = asyncio.get_running_loop()
        next_tick = loop.time()
        current: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                if current is not None and not current.done():
                    self.overruns += 1
                    if self.metrics is not None:
                        self.metrics.cycle_overruns.inc()
                    log.warning("poll cycle overran its %.1f s interval; tick skipped", self.interval_s)
                else:
                    current = asyncio.create_task(self._cycle_logged())
                next_tick += self.interval_s
                if next_tick < loop.time():  # we fell behind (suspended host): do not burst
                    next_tick = loop.time()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_tick - loop.time()))
        finally:
            if current is not None and not current.done():
                # let the running cycle finish (its database work runs in a thread that cannot be
                # cancelled anyway); cancel only what outlives the grace period
                await asyncio.wait({current}, timeout=self.shutdown_grace_s)
                if not current.done():
                    current.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await current


def history(db: Session, device_id: int, metric: str | None = None) -> list[MetricSample]:
    query = select(MetricSample).where(MetricSample.device_id == device_id)
    if metric is not None:
        query = query.where(MetricSample.metric == metric)
    return list(db.scalars(query.order_by(MetricSample.metric, MetricSample.ts)))
