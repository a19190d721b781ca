"""The alert engine, fed with the SNMP library's own PollResult and TrapEvent values."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from device_manager.db.models import Alert, AlertState, Event
from device_manager.services.polling import PollingService
from device_manager.snmp.decode import Raw, decode
from device_manager.snmp.poller import PollResult, Problem
from device_manager.snmp.profiles import load_profiles
from device_manager.snmp.traps import TrapEvent
from tests.device_manager.dm_helpers import API, create, device, site

FIXED_DISK = "1.3.6.1.2.1.25.2.1.4"
RAM = "1.3.6.1.2.1.25.2.1.2"


@pytest.fixture
async def hall(api):
    h = api.headers("admin")
    north = await site(api.client, h)
    cred = await create(api.client, h, "credential-profiles", kind="snmp_v2c", name="v2c", community="public")
    ids = {"site": north["id"], "headers": h}
    for name, dtype, address in (
        ("printer-1", "printer", "10.0.0.11"),
        ("switch-1", "switch", "10.0.0.2"),
        ("ups-1", "ups", "10.0.0.3"),
        ("kiosk-1", "kiosk", "10.0.0.4"),
    ):
        ids[name] = (
            await device(
                api.client,
                h,
                north["id"],
                name=name,
                device_type=dtype,
                address=address,
                snmp_credential_id=cred["id"],
            )
        )["id"]
    return ids


def up(device_id: int, **kw) -> PollResult:
    return PollResult(device_id, "degraded" if kw.get("problems") else "up", **kw)


def down(device_id: int) -> PollResult:
    return PollResult(device_id, "down", error="no answer from 10.0.0.11:161 within 2.0 s x 2")


def alerts(api, **where) -> list[Alert]:
    with api.session_factory() as db:
        query = select(Alert).order_by(Alert.id)
        for key, value in where.items():
            query = query.where(getattr(Alert, key) == value)
        return list(db.scalars(query))


def polling(api) -> PollingService:
    return api.app.state.polling


async def test_device_down_after_n_cycles_then_auto_resolves(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    for _ in range(2):
        assert svc.store_results([down(pid)]) == []
    assert alerts(api) == []
    notes = svc.store_results([down(pid)])  # default rule: down for 3 cycles
    assert [n.event for n in notes] == ["alert.opened"]
    (alert,) = alerts(api)
    assert alert.kind == "device_down" and alert.status == "firing" and alert.severity == "critical"
    assert "printer-1" in alert.message and "10.0.0.11" in alert.message
    assert notes[0].alert["device"]["name"] == "printer-1"
    svc.store_results([down(pid)])
    assert len(alerts(api)) == 1  # one alert per condition, not one per cycle

    notes = svc.store_results([up(pid)])
    assert [n.event for n in notes] == ["alert.resolved"]
    (alert,) = alerts(api)
    assert alert.status == "resolved" and alert.resolved_by == "auto"
    detail = (await api.client.get(f"{API}/alerts/{alert.id}", headers=api.headers("viewer"))).json()
    assert [h["kind"] for h in detail["history"]] == ["opened", "resolved"]
    with api.session_factory() as db:
        kinds = [
            e.message for e in db.scalars(select(Event).where(Event.device_id == pid).order_by(Event.id))
        ]
    assert kinds[0].endswith("unknown -> down (no answer from 10.0.0.11:161 within 2.0 s x 2)")
    assert kinds[-1] == "printer-1: down -> up"


async def test_auth_error_is_not_down_and_judges_nothing_else(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    svc.store_results([up(pid, problems=[Problem("paper_out", "out of paper")])])
    assert [a.kind for a in alerts(api, status="firing")] == ["paper_out"]
    for _ in range(5):
        svc.store_results([PollResult(pid, "auth_error", error="wrong digest")])
    firing = alerts(api, status="firing")
    assert [a.kind for a in firing] == ["paper_out"]  # not down, and paper-out is not "cleared" either
    device_row = (await api.client.get(f"{API}/devices/{pid}", headers=api.headers("viewer"))).json()
    assert device_row["oper_status"] == "auth_error" and device_row["last_error"] == "wrong digest"


async def test_supply_low_uses_the_rule_threshold_per_supply(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    svc.store_results([up(pid, metrics={"supply.1.percent": 40.0, "supply.2.percent": 4.0})])
    (alert,) = alerts(api, kind="supply_low")
    assert alert.subject == "2" and alert.value == 4.0 and "threshold 10%" in alert.message
    svc.store_results([up(pid, metrics={"supply.1.percent": 40.0, "supply.2.percent": 3.0})])
    assert alerts(api, kind="supply_low")[0].value == 3.0
    # an empty supply reported without a percentage (state only) is low too
    svc.store_results(
        [
            up(
                pid,
                metrics={"supply.1.percent": 40.0},
                facts={
                    "supplies": {
                        "2": {"state": "some_remaining", "percent": None},
                        "3": {"state": "empty", "percent": None},
                    }
                },
            )
        ]
    )
    assert {(a.subject, a.status) for a in alerts(api, kind="supply_low")} == {
        ("2", "resolved"),
        ("3", "firing"),
    }
    # raising the threshold through the API raises the alert for supply 1
    rule_id = alerts(api, kind="supply_low")[0].rule_id
    patched = await api.client.patch(
        f"{API}/alert-rules/{rule_id}", json={"threshold": 50}, headers=api.headers("it_staff")
    )
    assert patched.status_code == 200
    svc.store_results([up(pid, metrics={"supply.1.percent": 40.0})])
    assert {a.subject for a in alerts(api, kind="supply_low", status="firing")} == {"1"}


@pytest.mark.parametrize("code", ["paper_out", "door_open", "jam"])
async def test_printer_conditions_open_and_clear(api, hall, code):
    svc, pid = polling(api), hall["printer-1"]
    notes = svc.store_results([up(pid, problems=[Problem(code, code.replace("_", " "))])])
    assert [n.event for n in notes] == ["alert.opened"]
    (alert,) = alerts(api)
    assert alert.kind == code and alert.status == "firing"
    notes = svc.store_results([up(pid)])
    assert [n.event for n in notes] == ["alert.resolved"] and alerts(api)[0].status == "resolved"


async def test_interface_down_from_polls_and_traps_share_the_ifindex(api, hall):
    svc, sid = polling(api), hall["switch-1"]
    facts = {"interfaces": {"3": {"name": "Gi0/3"}, "5": {"name": "Gi0/5"}}}
    svc.store_results([up(sid, facts=facts, problems=[Problem("interface_down", "Gi0/3 down", "Gi0/3")])])
    (alert,) = alerts(api, kind="interface_down")
    assert alert.subject == "3"
    link_up = TrapEvent(
        "link_up",
        "10.0.0.2",
        "1.3.6.1.6.3.1.1.5.4",
        {"1.3.6.1.2.1.2.2.1.1.3": "3", "1.3.6.1.2.1.2.2.1.7.3": "1"},
        dt.datetime.now(dt.UTC),
    )
    notes = svc.store_trap(link_up)
    assert [n.event for n in notes] == ["alert.resolved"]
    link_down = TrapEvent(
        "link_down",
        "10.0.0.2",
        "1.3.6.1.6.3.1.1.5.3",
        {"1.3.6.1.2.1.2.2.1.1.5": "5"},
        dt.datetime.now(dt.UTC),
    )
    assert [n.event for n in svc.store_trap(link_down)] == ["alert.opened"]  # traps act at once
    assert [a.subject for a in alerts(api, kind="interface_down", status="firing")] == ["5"]
    unknown = TrapEvent("cold_start", "192.0.2.99", "1.3.6.1.6.3.1.1.5.1", {}, dt.datetime.now(dt.UTC))
    assert svc.store_trap(unknown) == []
    events = (await api.client.get(f"{API}/events", params={"origin": "trap"}, headers=api.headers())).json()
    assert [e["kind"] for e in events["results"]] == ["cold_start", "link_down", "link_up"]
    assert events["results"][0]["device_id"] is None


async def test_ups_on_battery_by_poll_and_trap(api, hall):
    svc, uid = polling(api), hall["ups-1"]
    svc.store_results([up(uid, metrics={"ups.on_battery": 1.0})])
    assert [a.kind for a in alerts(api, status="firing")] == ["ups_on_battery"]
    on_line = TrapEvent("ups_on_line", "10.0.0.3", "1.3.6.1.2.1.33.2.4", {}, dt.datetime.now(dt.UTC))
    svc.store_trap(on_line)
    assert alerts(api, status="firing") == []


async def test_disk_high_only_for_fixed_disks(api, hall):
    svc, kid = polling(api), hall["kiosk-1"]
    storage = {
        "1": {"descr": "Physical memory", "type": RAM, "percent": 97.0},
        "31": {"descr": "/", "type": FIXED_DISK, "percent": 93.5},
        "32": {"descr": "/data", "type": FIXED_DISK, "percent": 20.0},
    }
    svc.store_results([up(kid, facts={"storage": storage})])
    (alert,) = alerts(api, kind="disk_high")
    assert alert.subject == "31" and alert.value == 93.5


async def test_flapping_is_held_open_and_announced_once(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    rule = next(
        r
        for r in (await api.client.get(f"{API}/alert-rules", headers=api.headers())).json()["results"]
        if r["kind"] == "device_down"
    )
    await api.client.patch(
        f"{API}/alert-rules/{rule['id']}",
        json={"raise_after": 1, "flap_threshold": 4},
        headers=api.headers("it_staff"),
    )
    events = []
    for cycle in range(12):
        events += [n.event for n in svc.store_results([down(pid) if cycle % 2 == 0 else up(pid)])]
    # without flap handling: 6 opened + 6 resolved. With it: a couple before it is recognised, then quiet.
    assert events.count("alert.flapping") == 1
    assert len(events) <= 5
    open_alerts = alerts(api, status="firing")
    assert len(open_alerts) == 1 and open_alerts[0].flapping
    for _ in range(16):  # settles: the flapping mark goes, and the alert resolves
        events.append([n.event for n in svc.store_results([up(pid)])])
    assert alerts(api, status="firing") == []
    assert ["alert.resolved"] in events[-16:]


async def test_maintenance_windows_suppress_alerts(api, hall):
    svc, pid, uid = polling(api), hall["printer-1"], hall["ups-1"]
    now = dt.datetime.now(dt.UTC)
    window = await create(
        api.client,
        api.headers("operator"),
        "maintenance-windows",
        device_id=pid,
        starts_at=(now - dt.timedelta(minutes=5)).isoformat(),
        ends_at=(now + dt.timedelta(hours=1)).isoformat(),
        reason="toner swap",
    )
    for _ in range(4):
        assert svc.store_results([down(pid)]) == []
    assert alerts(api) == []
    # the UPS is not in maintenance
    assert [n.event for n in svc.store_results([up(uid, metrics={"ups.on_battery": 1.0})])] == [
        "alert.opened"
    ]
    deleted = await api.client.delete(
        f"{API}/maintenance-windows/{window['id']}", headers=api.headers("operator")
    )
    assert deleted.status_code == 204
    assert [n.event for n in svc.store_results([down(pid)])] == ["alert.opened"]

    # a site-wide window silences every device of the hall, including new conditions
    await create(
        api.client,
        api.headers("operator"),
        "maintenance-windows",
        site_id=hall["site"],
        starts_at=(now - dt.timedelta(minutes=1)).isoformat(),
        ends_at=(now + dt.timedelta(hours=1)).isoformat(),
    )
    assert svc.store_results([up(hall["kiosk-1"], problems=[Problem("paper_out", "x")])]) == []
    current = (
        await api.client.get(
            f"{API}/maintenance-windows", params={"current": "true"}, headers=api.headers("viewer")
        )
    ).json()
    assert current["count"] == 1
    bad = await api.client.post(
        f"{API}/maintenance-windows",
        headers=api.headers("operator"),
        json={
            "site_id": hall["site"],
            "device_id": pid,
            "starts_at": now.isoformat(),
            "ends_at": now.isoformat(),
        },
    )
    assert bad.status_code == 422


async def test_acknowledge_and_resolve_by_hand(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    svc.store_results([up(pid, problems=[Problem("jam", "paper jam")])])
    (alert,) = alerts(api)
    viewer = await api.client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=api.headers("viewer"))
    assert viewer.status_code == 403
    operator = api.headers("operator")
    acked = await api.client.post(
        f"{API}/alerts/{alert.id}/acknowledge", headers=operator, json={"comment": "clerk is clearing it"}
    )
    assert acked.status_code == 200
    body = acked.json()
    assert body["status"] == "acknowledged" and body["acknowledged_by"].startswith("test-operator")
    assert body["history"][-1] == {
        **body["history"][-1],
        "kind": "acknowledged",
        "detail": "clerk is clearing it",
    }
    again = await api.client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=operator)
    assert again.status_code == 409 and list(again.json()["errors"]) == ["status"]
    listed = (await api.client.get(f"{API}/alerts", params={"active": "true"}, headers=operator)).json()
    assert listed["count"] == 1
    resolved = await api.client.post(f"{API}/alerts/{alert.id}/resolve", headers=operator)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    # the jam persists: with raise_after=1 the next cycle opens a new alert
    svc.store_results([up(pid, problems=[Problem("jam", "paper jam")])])
    assert [a.status for a in alerts(api)] == ["resolved", "firing"]
    history = (await api.client.get(f"{API}/alerts", params={"status": "resolved"}, headers=operator)).json()
    assert history["count"] == 1


async def test_rules_are_scoped_by_device_type_and_site(api, hall):
    h = api.headers("it_staff")
    rule = await create(
        api.client,
        h,
        "alert-rules",
        name="kiosk disk 50",
        kind="disk_high",
        threshold=50,
        device_type="kiosk",
    )
    assert rule["device_type"] == "kiosk"
    svc = polling(api)
    storage = {"31": {"descr": "/", "type": FIXED_DISK, "percent": 60.0}}
    svc.store_results(
        [up(hall["kiosk-1"], facts={"storage": storage}), up(hall["switch-1"], facts={"storage": storage})]
    )
    firing = alerts(api, status="firing")
    assert [(a.device_id, a.rule_id) for a in firing] == [(hall["kiosk-1"], rule["id"])]
    missing = await api.client.post(f"{API}/alert-rules", headers=h, json={"name": "x", "kind": "supply_low"})
    assert missing.status_code == 422
    unknown = await api.client.post(
        f"{API}/alert-rules", headers=h, json={"name": "y", "kind": "jam", "device_type": "toaster"}
    )
    assert unknown.status_code == 422 and list(unknown.json()["errors"]) == ["device_type"]
    with api.session_factory() as db:
        assert db.scalars(select(AlertState)).all()  # observations remembered for hysteresis


async def test_alerts_and_events_are_scoped_to_the_callers_sites(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    svc.store_results([up(pid, problems=[Problem("door_open", "front door open")])])
    (alert,) = alerts(api)
    south = await site(api.client, hall["headers"], "south-hall")
    outsider = api.headers("operator", site_ids=[south["id"]])
    insider = api.headers("viewer", site_ids=[hall["site"]])
    assert (await api.client.get(f"{API}/alerts", headers=outsider)).json()["count"] == 0
    assert (await api.client.get(f"{API}/alerts/{alert.id}", headers=outsider)).status_code == 404
    ack = await api.client.post(f"{API}/alerts/{alert.id}/acknowledge", headers=outsider)
    assert ack.status_code == 404 and alerts(api)[0].status == "firing"
    assert (await api.client.get(f"{API}/events", headers=outsider)).json()["count"] == 0
    assert (await api.client.get(f"{API}/alerts", headers=insider)).json()["count"] == 1
    assert (await api.client.get(f"{API}/events", headers=insider)).json()["count"] >= 1


def decoded(device_id: int, device_type: str, raw: Raw) -> PollResult:
    """What the poller hands the engine after decoding ``raw`` with ``device_type``'s profile."""
    out = decode(load_profiles().for_type(device_type), raw)
    return PollResult(device_id, "degraded" if out.problems else "up", out.metrics, out.facts, out.problems)


async def test_problem_codes_that_no_rule_observed_before_raise_alerts(api, hall):
    """cpu_high, ups_battery_low, paper_low and printer_error come out of the decoders; their default
    rules turn them into alerts (and clear them), like every other problem code."""
    svc = polling(api)
    busy = Raw(tables={"hrProcessorTable": {"1": {"hrProcessorLoad": 97}, "2": {"hrProcessorLoad": 95}}})
    printer = Raw(
        tables={
            # offline (bit 6 of hrPrinterDetectedErrorState), and tray 1 at 25 of 500 sheets
            "hrPrinterTable": {"1": {"hrPrinterStatus": 3, "hrPrinterDetectedErrorState": b"\x02\x00"}},
            "prtInputTable": {
                "1.1": {"prtInputMaxCapacity": 500, "prtInputCurrentLevel": 25, "prtInputName": b"Tray 1"}
            },
        }
    )
    ups = Raw(scalars={"upsBatteryStatus": 3, "upsEstimatedChargeRemaining": 12, "upsOutputSource": 3})
    polls = [
        decoded(hall["kiosk-1"], "kiosk", busy),
        decoded(hall["printer-1"], "printer", printer),
        decoded(hall["ups-1"], "ups", ups),
    ]
    assert {p.code for p in polls[1].problems} == {"printer_error"}  # paper_low: from the tray's level
    assert [p.code for p in polls[2].problems] == ["ups_battery_low"]
    svc.store_results(polls)
    assert {a.kind for a in alerts(api, status="firing")} == {"printer_error", "paper_low", "ups_battery_low"}
    svc.store_results(polls)
    svc.store_results(polls)  # the CPU must stay high for 3 cycles
    firing = {a.kind: a for a in alerts(api, status="firing")}
    assert set(firing) == {"cpu_high", "printer_error", "paper_low", "ups_battery_low"}
    assert (
        firing["cpu_high"].value == 96.0 and "CPU load at 96% (threshold 90%)" in firing["cpu_high"].message
    )
    assert (
        firing["paper_low"].subject == "1" and "tray 1 at 5% (threshold 10%)" in firing["paper_low"].message
    )
    assert firing["ups_battery_low"].severity == "critical"
    assert firing["printer_error"].device_id == hall["printer-1"]

    calm = Raw(tables={"hrProcessorTable": {"1": {"hrProcessorLoad": 10}}})
    fine_printer = Raw(
        tables={
            "hrPrinterTable": {"1": {"hrPrinterStatus": 3, "hrPrinterDetectedErrorState": b"\x00\x00"}},
            "prtInputTable": {"1.1": {"prtInputMaxCapacity": 500, "prtInputCurrentLevel": 400}},
        }
    )
    charged = Raw(scalars={"upsBatteryStatus": 2, "upsEstimatedChargeRemaining": 100, "upsOutputSource": 3})
    svc.store_results(
        [
            decoded(hall["kiosk-1"], "kiosk", calm),
            decoded(hall["printer-1"], "printer", fine_printer),
            decoded(hall["ups-1"], "ups", charged),
        ]
    )
    assert alerts(api, status="firing") == []
    assert {a.kind for a in alerts(api, status="resolved")} == set(firing)


async def test_an_empty_tray_is_paper_out_not_paper_low(api, hall):
    svc, pid = polling(api), hall["printer-1"]
    empty = Raw(tables={"prtInputTable": {"1.1": {"prtInputMaxCapacity": 500, "prtInputCurrentLevel": 0}}})
    svc.store_results([decoded(pid, "printer", empty)])
    assert [(a.kind, a.subject) for a in alerts(api, status="firing")] == [("paper_out", "tray 1")]
