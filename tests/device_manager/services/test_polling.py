"""The polling loop: targets from the database, no overlapping cycles, bounded history, metrics."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from device_manager.db.models import MetricSample
from device_manager.services.polling import PollingService
from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.snmp.poller import PollResult, PollTarget, Problem
from tests.device_manager.dm_helpers import API, create, device, site


class FakePoller:
    """Answers every target after ``delay`` seconds; records how many polls overlapped."""

    def __init__(self, delay: float = 0.0, status: str = "up") -> None:
        self.delay = delay
        self.status = status
        self.calls: list[list[PollTarget]] = []
        self.active = 0
        self.max_active = 0

    async def poll_many(self, targets: list[PollTarget]) -> list[PollResult]:
        self.calls.append(list(targets))
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            await asyncio.sleep(self.delay)
            return [
                PollResult(
                    t.device_id,
                    self.status,
                    metrics={"sys.uptime_s": 1.0 + len(self.calls), "supply.1.percent": 55.0},
                    duration_s=0.01,
                )
                for t in targets
            ]
        finally:
            self.active -= 1


@pytest.fixture
async def fleet(api):
    h = api.headers("admin")
    hall = await site(api.client, h)
    v2c = await create(api.client, h, "credential-profiles", kind="snmp_v2c", name="v2c", community="public")
    v3 = await create(
        api.client,
        h,
        "credential-profiles",
        kind="snmp_v3",
        name="v3",
        username="hallmon",
        auth_key="hallcloud-auth-key",
        priv_key="hallcloud-priv-key",
    )
    a = await device(
        api.client, h, hall["id"], name="printer-1", snmp_credential_id=v2c["id"], snmp_port=1161
    )
    b = await device(
        api.client,
        h,
        hall["id"],
        name="ups-1",
        device_type="ups",
        address="10.0.0.3",
        snmp_credential_id=v3["id"],
    )
    await device(api.client, h, hall["id"], name="no-creds", device_type="camera", address="10.0.0.4")
    await device(
        api.client,
        h,
        hall["id"],
        name="planned",
        device_type="camera",
        address="10.0.0.5",
        snmp_credential_id=v2c["id"],
        status="planned",
    )
    return {"printer": a["id"], "ups": b["id"], "site": hall}


async def test_targets_are_active_devices_with_snmp_credentials(api, fleet):
    targets, skipped = api.app.state.polling.build_targets()
    assert skipped == []
    by_id = {t.device_id: t for t in targets}
    assert set(by_id) == {fleet["printer"], fleet["ups"]}
    printer, ups = by_id[fleet["printer"]], by_id[fleet["ups"]]
    assert (printer.address, printer.port, printer.device_type) == ("10.20.0.5", 1161, "printer")
    assert printer.credential == SnmpV2c("public")
    assert ups.credential == SnmpV3("hallmon", "hallcloud-auth-key", "hallcloud-priv-key")
    assert ups.device_type == "ups"


async def test_cycles_never_overlap_and_overruns_are_counted(api, fleet):
    # each cycle polls for 0.5 s and ticks come every 0.2 s: some 3 cycles in 2 s, every other tick
    # skipped; the margins leave room for a loaded machine (a 0.25 s poll in a 1 s window once got
    # only one cycle done there)
    poller = FakePoller(delay=0.5)
    svc: PollingService = api.app.state.polling
    svc.poller = poller
    svc.interval_s = 0.2
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.sleep(2.0)
    stop.set()
    await task
    assert poller.max_active == 1
    assert svc.overruns >= 3
    assert 2 <= len(poller.calls) <= 5
    metrics = (await api.client.get("/metrics")).text
    assert "hallcloud_poll_cycle_overruns_total" in metrics
    overruns = next(
        line for line in metrics.splitlines() if line.startswith("hallcloud_poll_cycle_overruns_total")
    )
    assert float(overruns.split()[-1]) == svc.overruns


async def test_a_quick_loop_polls_on_every_tick(api, fleet):
    poller = FakePoller(delay=0.0)
    svc: PollingService = api.app.state.polling
    # a cycle here takes tens of milliseconds on a quiet machine; the interval leaves room for a loaded
    # CI machine (a 0.4 s interval once overran there) without changing what is asserted
    svc.poller, svc.interval_s = poller, 1.0
    stop = asyncio.Event()
    task = asyncio.create_task(svc.run(stop))
    await asyncio.sleep(3.3)
    stop.set()
    await task
    assert svc.overruns == 0 and len(poller.calls) >= 3
    device_row = (
        await api.client.get(f"{API}/devices/{fleet['printer']}", headers=api.headers("viewer"))
    ).json()
    assert device_row["oper_status"] == "up" and device_row["last_seen"] is not None


async def test_metric_history_is_bounded(api, fleet):
    svc: PollingService = api.app.state.polling
    svc.history_samples = 5
    pid = fleet["printer"]
    for cycle in range(12):
        svc.store_results(
            [PollResult(pid, "up", metrics={"sys.uptime_s": float(cycle), "supply.1.percent": 50.0})]
        )
    with api.session_factory() as db:
        per_metric = dict(
            db.execute(
                select(MetricSample.metric, func.count())
                .where(MetricSample.device_id == pid)
                .group_by(MetricSample.metric)
            ).all()
        )
    assert per_metric == {"sys.uptime_s": 5, "supply.1.percent": 5}
    history = (
        await api.client.get(
            f"{API}/devices/{pid}/metrics", params={"metric": "sys.uptime_s"}, headers=api.headers("viewer")
        )
    ).json()
    assert [s["value"] for s in history] == [7.0, 8.0, 9.0, 10.0, 11.0]  # the newest five, oldest first


async def test_prometheus_metrics(api, fleet):
    svc: PollingService = api.app.state.polling
    svc.store_results(
        [
            PollResult(
                fleet["printer"],
                "degraded",
                metrics={"supply.1.percent": 12.5, "supply.2.percent": 80.0},
                problems=[Problem("paper_out", "tray empty")],
                duration_s=0.12,
            ),
            PollResult(fleet["ups"], "auth_error", duration_s=0.03, error="unknown user name"),
        ]
    )
    response = await api.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert (
        'hallcloud_device_status{address="10.20.0.5",device="printer-1",device_type="printer",'
        'site="north-hall",status="degraded"} 1.0'
    ) in text
    assert (
        'hallcloud_device_status{address="10.0.0.3",device="ups-1",device_type="ups",site="north-hall",'
        'status="auth_error"} 1.0'
    ) in text
    assert 'hallcloud_supply_level_percent{device="printer-1",site="north-hall",supply="1"} 12.5' in text
    assert 'hallcloud_poll_errors_total{device_type="ups",status="auth_error"} 1.0' in text
    assert 'hallcloud_poll_duration_seconds_count{device_type="printer"} 1.0' in text
    # a second app in the same process has its own registry
    from device_manager.main import create_app

    other = create_app(api.app.state.settings, run_background=False)
    assert other.state.metrics.registry is not api.app.state.metrics.registry
    other.state.engine.dispose()


async def test_undecryptable_credentials_skip_the_device_without_leaking(api, fleet):
    from pydantic import SecretStr

    from device_manager.core.secrets import SecretBox, generate_master_key, load_master_key

    svc: PollingService = api.app.state.polling
    real = svc.box
    other_key = api.app.state.settings.model_copy(update={"master_key": SecretStr(generate_master_key())})
    svc.box = SecretBox(load_master_key(other_key))
    targets, skipped = svc.build_targets()
    svc.box = real
    assert targets == [] and len(skipped) == 2
    assert "wrong master key" in skipped[0] and "'v2c'" in skipped[0]
    assert not any("public" in problem or "hallcloud-auth-key" in problem for problem in skipped)


async def test_a_device_whose_type_has_no_poll_profile_is_skipped_with_one_event(api, fleet):
    """A device type created through the API has no registry file and so no poll profile: its devices
    are left out of the cycle and reported once, and the other devices are polled as usual."""
    from device_manager.db.models import Device, Event

    h = api.headers("admin")
    await create(api.client, h, "device-types", slug="wall_clock", name="挂钟 (wall clock)")
    v2c = await create(api.client, h, "credential-profiles", kind="snmp_v2c", name="clock", community="c")
    clock = await device(
        api.client,
        h,
        fleet["site"]["id"],
        name="clock-1",
        device_type="wall_clock",
        address="10.0.0.9",
        snmp_credential_id=v2c["id"],
    )
    poller = FakePoller()
    svc: PollingService = api.app.state.polling
    svc.poller = poller
    for _cycle in range(2):
        report = await svc.run_cycle()
        assert report.targets == 2 and report.by_status == {"up": 2}
        assert len(report.skipped) == 1 and "'wall_clock' has no poll profile" in report.skipped[0]
    assert {t.device_id for t in poller.calls[-1]} == {fleet["printer"], fleet["ups"]}
    with api.session_factory() as db:
        events = list(db.scalars(select(Event).where(Event.device_id == clock["id"])))
        row = db.get(Device, clock["id"])
        assert (
            row is not None and row.oper_status == "unknown" and "no poll profile" in (row.last_error or "")
        )
    assert [(e.kind, e.origin) for e in events] == [("not_polled", "poll")]  # once, not every cycle
    assert "device_manager/device_types/wall_clock.yaml" in events[0].message
