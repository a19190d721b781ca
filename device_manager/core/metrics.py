"""Prometheus metrics on a dedicated registry (never the global one, so tests and several apps in one
process do not collide). Device status is read from the database at scrape time; poll timings, errors
and supply levels are recorded by the polling service."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from device_manager.db.models import Device, DeviceType, Site

__all__ = ["OPER_STATES", "Metrics"]

OPER_STATES = ("unknown", "up", "degraded", "down", "auth_error")


class _DeviceStatusCollector(Collector):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self.session_factory = session_factory

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "hallcloud_device_status",
            "1 for the device's current operational status (unknown, up, degraded, down, auth_error)",
            labels=["device", "site", "device_type", "address", "status"],
        )

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield self._family()  # without samples: registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = self._family()
        with self.session_factory() as db:
            rows = db.execute(
                select(Device.name, Site.slug, DeviceType.slug, Device.address, Device.oper_status)
                .join(Site, Site.id == Device.site_id)
                .join(DeviceType, DeviceType.id == Device.device_type_id)
                .where(Device.status == "active")
            ).all()
        for name, site, dtype, address, oper in rows:
            for state in OPER_STATES:
                family.add_metric([name, site, dtype, address, state], 1.0 if oper == state else 0.0)
        yield family


class Metrics:
    def __init__(self, session_factory: sessionmaker[Session] | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.poll_duration = Histogram(
            "hallcloud_poll_duration_seconds",
            "time to poll one device",
            ["device_type"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
            registry=self.registry,
        )
        self.poll_errors = Counter(
            "hallcloud_poll_errors",
            "polls that did not get a good answer",
            ["device_type", "status"],
            registry=self.registry,
        )
        self.polls = Counter("hallcloud_polls", "device polls", ["device_type"], registry=self.registry)
        self.cycle_duration = Histogram(
            "hallcloud_poll_cycle_duration_seconds",
            "time for one poll cycle over every device",
            buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120),
            registry=self.registry,
        )
        self.cycle_overruns = Counter(
            "hallcloud_poll_cycle_overruns",
            "cycles skipped because the previous one was still running",
            registry=self.registry,
        )
        self.supply_level = Gauge(
            "hallcloud_supply_level_percent",
            "printer supply level in percent of capacity",
            ["device", "site", "supply"],
            registry=self.registry,
        )
        self.traps = Counter("hallcloud_traps", "traps received", ["kind"], registry=self.registry)
        self.webhook_failures = Counter(
            "hallcloud_webhook_failures",
            "webhook deliveries that failed after retries",
            registry=self.registry,
        )
        if session_factory is not None:
            self.registry.register(_DeviceStatusCollector(session_factory))
