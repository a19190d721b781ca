"""Trap and inform receiver, fed by net-snmp's snmptrap / snmpinform over loopback."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator

import pytest

from device_manager.snmp.credentials import SnmpV3
from device_manager.snmp.traps import TrapEvent, TrapReceiver, classify

SENDER_ENGINE_ID = "0x80001f8880c0ffee0000000001"  # what a device would have as snmpEngineID
USER = SnmpV3("hallmon", "hallcloud-auth-key", "hallcloud-priv-key")
V3 = [
    "-v3",
    "-l",
    "authPriv",
    "-u",
    USER.user,
    "-a",
    "SHA-256",
    "-A",
    USER.auth_key,
    "-x",
    "AES",
    "-X",
    USER.priv_key,
]
LINK_DOWN = "1.3.6.1.6.3.1.1.5.3"
IF_INDEX = "1.3.6.1.2.1.2.2.1.1"


class Inbox:
    def __init__(self) -> None:
        self.events: list[TrapEvent] = []
        self.arrived = asyncio.Event()

    async def handler(self, event: TrapEvent) -> None:  # an async handler, as the service uses
        self.events.append(event)
        self.arrived.set()

    async def next(self, timeout: float = 5.0) -> TrapEvent:
        await asyncio.wait_for(self.arrived.wait(), timeout)
        self.arrived.clear()
        return self.events.pop(0)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[TrapReceiver, Inbox, str]]:
    inbox = Inbox()
    trap_receiver = TrapReceiver()
    await trap_receiver.start(
        "127.0.0.1", 0, ["hall-traps"], [USER], inbox.handler, v3_trap_engine_ids=[SENDER_ENGINE_ID]
    )
    assert trap_receiver.address is not None
    host, port = trap_receiver.address
    yield trap_receiver, inbox, f"{host}:{port}"
    await trap_receiver.stop()


async def send(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(*args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _out, err = await process.communicate()
    assert process.returncode == 0, (args[0], err.decode())


V2C_CASES = [
    ("link_down", [LINK_DOWN, f"{IF_INDEX}.2", "i", "2"]),
    ("link_up", ["1.3.6.1.6.3.1.1.5.4", f"{IF_INDEX}.2", "i", "2"]),
    (
        "printer_alert",
        [
            "1.3.6.1.2.1.43.18.2.0.1",
            "1.3.6.1.2.1.43.18.1.1.7.1.1",
            "i",
            "806",
            "1.3.6.1.2.1.43.18.1.1.8.1.1",
            "s",
            "Tray 1 empty",
        ],
    ),
    ("ups_on_battery", ["1.3.6.1.2.1.33.2.1", "1.3.6.1.2.1.33.1.2.2.0", "i", "30"]),
    ("auth_failure", ["1.3.6.1.6.3.1.1.5.5"]),
    ("cold_start", ["1.3.6.1.6.3.1.1.5.1"]),
    ("other", ["1.3.6.1.4.1.99999.0.1"]),
]


@pytest.mark.integration
@pytest.mark.parametrize(("kind", "payload"), V2C_CASES, ids=[k for k, _ in V2C_CASES])
async def test_v2c_traps(receiver: tuple[TrapReceiver, Inbox, str], kind: str, payload: list[str]) -> None:
    _, inbox, address = receiver
    await send("snmptrap", "-v2c", "-c", "hall-traps", address, "", *payload)
    event = await inbox.next()
    assert event.kind == kind and event.oid == payload[0] and event.source == "127.0.0.1"
    assert event.protocol == "v2c" and not event.confirmed
    assert event.varbinds["1.3.6.1.6.3.1.1.4.1.0"] == payload[0]
    if kind == "printer_alert":
        assert event.varbinds["1.3.6.1.2.1.43.18.1.1.8.1.1"] == "Tray 1 empty"
        assert event.varbinds["1.3.6.1.2.1.43.18.1.1.7.1.1"] == "806"


@pytest.mark.integration
async def test_v3_authpriv_trap_from_a_known_engine(receiver: tuple[TrapReceiver, Inbox, str]) -> None:
    _, inbox, address = receiver
    await send(
        "snmptrap",
        *V3,
        "-e",
        SENDER_ENGINE_ID,
        address,
        "",
        "1.3.6.1.2.1.33.2.1",
        "1.3.6.1.2.1.33.1.2.2.0",
        "i",
        "12",
    )
    event = await inbox.next()
    assert (event.kind, event.protocol, event.security_name) == ("ups_on_battery", "v3", "hallmon")
    assert event.varbinds["1.3.6.1.2.1.33.1.2.2.0"] == "12"


@pytest.mark.integration
async def test_informs_are_acknowledged(receiver: tuple[TrapReceiver, Inbox, str]) -> None:
    _, inbox, address = receiver
    # snmpinform exits 0 only once the receiver has answered; v3 informs need no engine ID set up.
    await send("snmpinform", "-t", "2", "-r", "0", *V3, address, "", LINK_DOWN, f"{IF_INDEX}.5", "i", "5")
    event = await inbox.next()
    assert (event.kind, event.protocol, event.confirmed) == ("link_down", "v3", True)
    await send(
        "snmpinform", "-t", "2", "-r", "0", "-v2c", "-c", "hall-traps", address, "", "1.3.6.1.2.1.43.18.2.0.1"
    )
    event = await inbox.next()
    assert (event.kind, event.protocol, event.confirmed) == ("printer_alert", "v2c", True)


@pytest.mark.integration
async def test_rejected_notifications_never_arrive(receiver: tuple[TrapReceiver, Inbox, str]) -> None:
    trap_receiver, inbox, address = receiver
    await send("snmptrap", "-v2c", "-c", "wrong-community", address, "", LINK_DOWN)
    await send("snmptrap", *V3, "-e", "0x80001f8880deadbeef", address, "", LINK_DOWN)  # unknown engine
    wrong_key = list(V3)
    wrong_key[wrong_key.index(USER.auth_key)] = "not-the-auth-key"
    await send("snmptrap", *wrong_key, "-e", SENDER_ENGINE_ID, address, "", LINK_DOWN)
    with pytest.raises(TimeoutError):
        await inbox.next(timeout=1.0)
    # a sender registered later is accepted from then on
    trap_receiver.add_trap_sender("0x80001f8880deadbeef")
    await send("snmptrap", *V3, "-e", "0x80001f8880deadbeef", address, "", LINK_DOWN)
    assert (await inbox.next()).kind == "link_down"
    assert inbox.events == []


@pytest.mark.integration
async def test_sync_handler_and_port_in_use() -> None:
    events: list[TrapEvent] = []
    first = TrapReceiver()
    await first.start("127.0.0.1", 0, ["c"], [], events.append)
    try:
        assert first.address is not None
        host, port = first.address
        with pytest.raises(OSError, match=f"cannot listen on 127.0.0.1:{port}"):
            await TrapReceiver().start("127.0.0.1", port, ["c"], [], events.append)
        await send(
            "snmptrap",
            "-v1",
            "-c",
            "c",
            f"{host}:{port}",
            "1.3.6.1.4.1.8072",
            "127.0.0.1",
            "2",
            "0",
            "",
            f"{IF_INDEX}.3",
            "i",
            "3",
        )  # SNMPv1 linkDown (generic trap 2)
        for _ in range(50):
            if events:
                break
            await asyncio.sleep(0.05)
        assert [(e.kind, e.protocol) for e in events] == [("link_down", "v1")]
    finally:
        await first.stop()


def test_ups_alarm_table_notifications() -> None:
    on_battery = {"1.3.6.1.2.1.33.1.6.2.1.2.1": "1.3.6.1.2.1.33.1.6.3.2"}
    assert classify("1.3.6.1.2.1.33.2.3", on_battery) == "ups_on_battery"
    assert classify("1.3.6.1.2.1.33.2.4", on_battery) == "ups_on_line"
    assert classify("1.3.6.1.2.1.33.2.3", {"1.3.6.1.2.1.33.1.6.2.1.2.1": "1.3.6.1.2.1.33.1.6.3.8"}) == "other"
