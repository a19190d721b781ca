"""The poller against real agents on loopback: snmpsim with our data files, and net-snmp's snmpd."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.snmp.poller import Poller, PollResult, PollTarget
from device_manager.snmp.profiles import load_profiles
from device_manager.testing.snmp_agents import V3_USER, SnmpdAgent, SnmpsimAgent

pytestmark = pytest.mark.integration

PROFILES = load_profiles()


async def _poll(
    agent: SnmpsimAgent | SnmpdAgent,
    device_type: str,
    credential: SnmpV2c | SnmpV3,
    timeout: float = 1.0,
    retries: int = 1,
) -> PollResult:
    poller = Poller(PROFILES)
    try:
        target = PollTarget(1, agent.host, agent.port, device_type, credential, timeout, retries)
        return await poller.poll(target)
    finally:
        poller.close()


def _problems(result: PollResult) -> set[tuple[str, str | None]]:
    return {(p.code, p.subject) for p in result.problems}


async def test_odd_vendor_printer(snmpsim_agent: SnmpsimAgent) -> None:
    result = await _poll(snmpsim_agent, "printer", snmpsim_agent.credential("printer"))
    assert result.status == "degraded", result.error
    assert result.facts["sysName"] == "prn-window-07"
    supplies = result.facts["supplies"]
    # -3 "some remaining": a state, no number, no problem
    assert supplies["1"]["state"] == "some_remaining" and supplies["1"]["percent"] is None
    assert "supply.1.percent" not in result.metrics
    # level 1200 of max 1000: clamped to 100 % and flagged
    assert result.metrics["supply.3.percent"] == 100.0 and supplies["3"]["level_above_max"] is True
    # max -2 (unknown), max -1 / level -1 (other)
    assert supplies["4"]["state"] == "no_max" and supplies["5"]["state"] == "other"
    assert result.metrics["supply.2.percent"] == 8.0 and result.metrics["supply.6.percent"] == 75.0
    trays = result.facts["trays"]
    assert trays["1"]["state"] == "empty" and trays["2"]["state"] == "some_remaining"
    assert trays["3"]["state"] == "unknown"
    assert result.facts["printer_errors"] == ["noPaper", "lowToner", "doorOpen", "inputTrayEmpty"]
    assert result.facts["printer_status"] == "other"
    assert [a["code"] for a in result.facts["alerts"]] == [
        "inputMediaSupplyEmpty",
        "doorOpen",
        "markerTonerAlmostEmpty",
    ]
    assert result.metrics["printer.alerts_critical"] == 2.0
    assert _problems(result) == {("paper_out", "Tray 1"), ("door_open", None), ("supply_low", "Cyan Toner")}
    assert result.values_count >= 50 and result.error is None


async def test_healthy_and_jammed_printers(snmpsim_agent: SnmpsimAgent) -> None:
    healthy = await _poll(snmpsim_agent, "printer", snmpsim_agent.credential("printer_ok"))
    assert healthy.status == "up" and healthy.problems == []
    assert healthy.metrics["supply.1.percent"] == 80.0 and healthy.facts["printer_status"] == "idle"
    jammed = await _poll(snmpsim_agent, "printer", snmpsim_agent.credential("printer_jam"))
    assert jammed.status == "degraded" and {p.code for p in jammed.problems} == {"jam"}
    assert jammed.facts["alerts"][0]["code"] == "jam"


async def test_ups_on_battery_then_on_line(snmpsim_agent: SnmpsimAgent) -> None:
    on_battery = await _poll(snmpsim_agent, "ups", snmpsim_agent.credential("ups"))
    assert on_battery.status == "degraded"
    assert on_battery.metrics["ups.on_battery"] == 1.0 and on_battery.metrics["ups.charge_percent"] == 87.0
    assert on_battery.metrics["ups.seconds_on_battery"] == 180.0
    assert [p.code for p in on_battery.problems] == ["ups_on_battery"]
    on_line = await _poll(snmpsim_agent, "ups", snmpsim_agent.credential("ups_online"))
    assert on_line.status == "up" and on_line.metrics["ups.on_battery"] == 0.0


async def test_switch_interfaces(snmpsim_agent: SnmpsimAgent) -> None:
    result = await _poll(snmpsim_agent, "switch", snmpsim_agent.credential("switch"))
    assert result.status == "degraded"
    assert _problems(result) == {("interface_down", "Gi0/2")}  # Gi0/3 is admin down: not a problem
    assert result.metrics["if.1.oper_up"] == 1.0 and result.metrics["if.2.oper_up"] == 0.0
    assert result.metrics["if.4.in_octets"] == 4_000_000 and result.metrics["if.2.in_errors"] == 1.0
    assert len(result.facts["interfaces"]) == 4


async def test_kiosk_host_resources(snmpsim_agent: SnmpsimAgent) -> None:
    result = await _poll(snmpsim_agent, "kiosk", snmpsim_agent.credential("kiosk"))
    assert result.metrics["hr.cpu.load"] == 45.0 and result.metrics["hr.uptime_s"] == 43205.0
    assert result.metrics["hr.storage.31.percent"] == 95.0 and result.metrics["hr.storage.32.percent"] == 40.0
    assert result.metrics["hr.storage.31.size_bytes"] == 4096 * 1_000_000
    assert _problems(result) == {("disk_high", "/")} and result.status == "degraded"


async def test_v3_authpriv_against_snmpsim(snmpsim_agent: SnmpsimAgent) -> None:
    result = await _poll(snmpsim_agent, "kiosk", V3_USER)
    assert result.status == "degraded", result.error
    assert result.facts["sysName"] == "kiosk-03"


async def test_snmpd_v2c_and_v3(snmpd_agent: SnmpdAgent) -> None:
    for credential in (snmpd_agent.v2c, V3_USER):
        result = await _poll(snmpd_agent, "kiosk", credential)
        assert result.status in ("up", "degraded"), result.error
        assert result.facts["sysName"] == "hallcloud-snmpd"
        assert result.metrics["hr.uptime_s"] > 0 and result.facts["storage"]
    switch = await _poll(snmpd_agent, "switch", snmpd_agent.v2c)
    assert any(i["name"] == "lo" for i in switch.facts["interfaces"].values())


@pytest.mark.parametrize(
    ("credential", "reason"),
    [
        (SnmpV3(V3_USER.user, "wrong-auth-key", V3_USER.priv_key), "Wrong SNMP PDU digest"),
        (SnmpV3("intruder", V3_USER.auth_key, V3_USER.priv_key), "Unknown USM user"),
        (SnmpV3(V3_USER.user, V3_USER.auth_key, "wrong-priv-key"), "privacy key is probably wrong"),
    ],
    ids=["wrong-auth-key", "unknown-user", "wrong-priv-key"],
)
async def test_wrong_v3_credentials_are_auth_error_not_down(
    snmpd_agent: SnmpdAgent,
    snmpsim_agent: SnmpsimAgent,
    credential: SnmpV3,
    reason: str,
) -> None:
    result = await _poll(snmpd_agent, "kiosk", credential, timeout=0.5, retries=0)
    assert result.status == "auth_error" and reason in (result.error or "")
    assert result.metrics == {} and result.values_count == 0
    # pysnmp's agent (snmpsim) reports a decryption error where net-snmp stays silent
    result = await _poll(snmpsim_agent, "kiosk", credential, timeout=0.5, retries=0)
    assert result.status == "auth_error", result.error


async def test_wrong_and_right_keys_for_one_user_in_one_poller(snmpd_agent: SnmpdAgent) -> None:
    poller = Poller(PROFILES)
    wrong = SnmpV3(V3_USER.user, "wrong-auth-key", V3_USER.priv_key)
    try:
        results = await poller.poll_many(
            [
                PollTarget(i, snmpd_agent.host, snmpd_agent.port, "ups", cred, 1.0, 0)
                for i, cred in enumerate([V3_USER, wrong, V3_USER, wrong])
            ]
        )
    finally:
        poller.close()
    assert [r.status for r in results] == ["up", "auth_error", "up", "auth_error"]


async def test_wrong_v2c_community_looks_down(snmpsim_agent: SnmpsimAgent) -> None:
    result = await _poll(snmpsim_agent, "kiosk", SnmpV2c("not-the-community"), timeout=0.3, retries=0)
    assert result.status == "down" and "wrong SNMPv2c community looks the same" in (result.error or "")


async def test_stopped_agent_is_down_and_comes_back(own_snmpsim: SnmpsimAgent) -> None:
    poller = Poller(PROFILES)
    target = PollTarget(7, own_snmpsim.host, own_snmpsim.port, "ups", own_snmpsim.credential("ups"), 0.3, 1)
    try:
        assert (await poller.poll(target)).status == "degraded"
        own_snmpsim.stop()
        down = await poller.poll(target)
        assert down.status == "down" and "no response after 2 tries of 0.3 s" in (down.error or "")
        assert 0.5 <= down.duration_s < 3
        own_snmpsim.restart()
        back = await poller.poll(target)
        assert back.status == "degraded" and back.metrics["ups.on_battery"] == 1.0
    finally:
        poller.close()


async def test_poll_many_mixed_fleet_is_bounded(snmpsim_agent: SnmpsimAgent) -> None:
    kinds = [("printer", "printer"), ("ups", "ups"), ("switch", "switch"), ("kiosk", "kiosk")]
    targets = [
        PollTarget(
            i,
            snmpsim_agent.host,
            snmpsim_agent.port,
            kinds[i % 4][0],
            snmpsim_agent.credential(kinds[i % 4][1]),
            2.0,
            1,
        )
        for i in range(40)
    ]
    poller = Poller(PROFILES, concurrency=5)
    try:
        first = await poller.poll_many(targets)
        second = await poller.poll_many(targets)  # adapted max-repetitions, same answers
    finally:
        poller.close()
    assert [r.device_id for r in first] == list(range(40))
    assert all(r.status == "degraded" for r in first + second)
    for a, b in zip(first, second, strict=True):
        assert a.metrics == b.metrics and a.values_count == b.values_count


async def test_unknown_device_type_is_an_error(snmpsim_agent: SnmpsimAgent) -> None:
    poller = Poller(PROFILES)
    with pytest.raises(ValueError, match="'fax' has no poll profile"):
        await poller.poll(PollTarget(1, snmpsim_agent.host, snmpsim_agent.port, "fax", SnmpV2c("kiosk")))
    poller.close()


async def test_poll_many_keeps_polling_the_others_when_a_type_has_no_profile(
    snmpsim_agent: SnmpsimAgent,
) -> None:
    poller = Poller(PROFILES)
    good = PollTarget(1, snmpsim_agent.host, snmpsim_agent.port, "ups", snmpsim_agent.credential("ups"))
    fax = PollTarget(2, snmpsim_agent.host, snmpsim_agent.port, "fax", SnmpV2c("kiosk"))
    try:
        first, second = await poller.poll_many([fax, good])
    finally:
        poller.close()
    assert (first.device_id, first.status) == (2, "unknown")
    assert "not polled" in (first.error or "") and "'fax' has no poll profile" in (first.error or "")
    assert (second.device_id, second.status) == (1, "degraded") and second.metrics["ups.on_battery"] == 1.0


@pytest.mark.parametrize("agent_fixture", ["own_snmpd", "own_snmpsim"])
async def test_v3_device_with_a_new_engine_id_after_restart_comes_back(
    agent_fixture: str, request: pytest.FixtureRequest
) -> None:
    agent: SnmpdAgent | SnmpsimAgent = request.getfixturevalue(agent_fixture)
    poller = Poller(PROFILES)
    target = PollTarget(3, agent.host, agent.port, "ups", V3_USER, 0.5, 1)
    wrong_priv = PollTarget(
        4, agent.host, agent.port, "ups", SnmpV3(V3_USER.user, V3_USER.auth_key, "wrong-priv-key"), 0.5, 0
    )
    try:
        assert (await poller.poll(target)).status in ("up", "degraded")
        agent.restart()  # both agents come back with a new snmpEngineID
        for _ in range(2):
            result = await poller.poll(target)
            assert result.status in ("up", "degraded"), result.error
        agent.stop()
        assert (await poller.poll(target)).status == "down"
        agent.start()
        assert (await poller.poll(target)).status in ("up", "degraded")
        if agent_fixture == "own_snmpd":  # net-snmp: silent on a wrong privacy key, same engine ID
            assert (await poller.poll(wrong_priv)).status == "auth_error"
    finally:
        poller.close()


async def test_walks_continue_over_truncated_answers(snmpsim_agent: SnmpsimAgent) -> None:
    """Agents may return fewer var-binds than asked (message size limits): every row still arrives,
    over more rounds. Here every answer is cut to 7 var-binds on arrival (the kiosk's 7 scalars fill
    the first one entirely)."""
    capped_poller = Poller(PROFILES)
    real_request = capped_poller._bulk_request
    rounds = 0

    async def truncated(*args: Any) -> Sequence[Any]:
        nonlocal rounds
        rounds += 1
        return (await real_request(*args))[:7]

    capped_poller._bulk_request = truncated  # type: ignore[method-assign]
    try:
        for device_type, community in (("printer", "printer"), ("switch", "switch"), ("kiosk", "kiosk")):
            target = PollTarget(
                1,
                snmpsim_agent.host,
                snmpsim_agent.port,
                device_type,
                snmpsim_agent.credential(community),
                2.0,
                1,
            )
            rounds = 0
            capped = await capped_poller.poll(target)
            full = await _poll(snmpsim_agent, device_type, snmpsim_agent.credential(community))
            assert rounds > 3, "the cut must force extra rounds"
            assert capped.status == full.status and capped.error is None
            assert capped.metrics == full.metrics and capped.values_count == full.values_count
            assert capped.facts == full.facts
    finally:
        capped_poller.close()
