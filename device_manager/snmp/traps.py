"""SNMP trap and inform receiver: notifications from hall devices -> ``TrapEvent``.

SNMPv1/v2c traps are accepted for the configured communities; SNMPv3 traps and informs for the
configured users at authPriv (SHA-256 + AES-128). INFORMs are acknowledged (the receiver answers them
before the event is handed on).

SNMPv3 engine IDs, the one thing to configure besides users: for an **inform** the receiver is the
authoritative engine, so the sender discovers the receiver's engine ID and the user alone suffices.
For a **trap** the *sender* is authoritative and does no discovery: the receiver must already know the
user *localised to the sender's engine ID* (RFC 3414). So every device that sends v3 traps must be
listed in ``v3_trap_engine_ids`` (its snmpEngineID, as bytes or hex; on net-snmp it is fixed with
``engineID`` in snmpd.conf, or ``-e`` on the ``snmptrap`` command line). v3 traps from other engines
are dropped by the USM layer (usmStatsUnknownEngineIDs) and never reach ``on_event``.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.entity import config
from pysnmp.entity.engine import SnmpEngine
from pysnmp.entity.rfc3413 import ntfrcv
from pysnmp.proto.api import v2c

from device_manager.snmp.credentials import SnmpV3

__all__ = ["TRAP_KINDS", "TrapEvent", "TrapKind", "TrapReceiver", "classify"]

log = logging.getLogger(__name__)

TrapKind = Literal[
    "link_down",
    "link_up",
    "printer_alert",
    "ups_on_battery",
    "ups_on_line",
    "auth_failure",
    "cold_start",
    "other",
]

SNMP_TRAP_OID = "1.3.6.1.6.3.1.1.4.1.0"
UPS_ALARM_DESCR = "1.3.6.1.2.1.33.1.6.2.1.2"  # upsAlarmDescr column; value names the alarm
UPS_ALARM_ON_BATTERY = "1.3.6.1.2.1.33.1.6.3.2"
UPS_TRAP_ALARM_ADDED = "1.3.6.1.2.1.33.2.3"
UPS_TRAP_ALARM_REMOVED = "1.3.6.1.2.1.33.2.4"
TRAP_KINDS: dict[str, TrapKind] = {
    "1.3.6.1.6.3.1.1.5.1": "cold_start",
    "1.3.6.1.6.3.1.1.5.3": "link_down",  # IF-MIB linkDown
    "1.3.6.1.6.3.1.1.5.4": "link_up",  # IF-MIB linkUp
    "1.3.6.1.6.3.1.1.5.5": "auth_failure",  # SNMPv2-MIB authenticationFailure
    "1.3.6.1.2.1.43.18.2.0.1": "printer_alert",  # Printer-MIB printerV2Alert
    "1.3.6.1.2.1.33.2.1": "ups_on_battery",  # UPS-MIB upsTrapOnBattery
}


@dataclass
class TrapEvent:
    kind: TrapKind
    source: str  # sender's IP address
    oid: str  # snmpTrapOID
    varbinds: dict[str, str]
    received_at: datetime
    # Not in the shared interface, for logs and audit: how it arrived.
    protocol: str = field(default="", compare=False)  # "v1", "v2c" or "v3"
    security_name: str = field(default="", compare=False)  # community index or v3 user
    confirmed: bool = field(default=False, compare=False)  # an INFORM (acknowledged)


def classify(trap_oid: str, varbinds: dict[str, str]) -> TrapKind:
    """The event kind of a notification from its snmpTrapOID (and, for UPS alarms, its payload)."""
    if trap_oid in TRAP_KINDS:
        return TRAP_KINDS[trap_oid]
    if trap_oid in (UPS_TRAP_ALARM_ADDED, UPS_TRAP_ALARM_REMOVED):
        on_battery = any(
            k.startswith(UPS_ALARM_DESCR + ".") and v.lstrip(".") == UPS_ALARM_ON_BATTERY
            for k, v in varbinds.items()
        )
        if on_battery:
            return "ups_on_battery" if trap_oid == UPS_TRAP_ALARM_ADDED else "ups_on_line"
    return "other"


def _text(value: Any) -> str:
    if isinstance(value, univ.OctetString):
        raw = value.asOctets()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return "0x" + raw.hex()
        return text if text.isprintable() else "0x" + raw.hex()
    return str(value.prettyPrint()) if hasattr(value, "prettyPrint") else str(value)


def _engine_id(value: bytes | str) -> bytes:
    if isinstance(value, bytes):
        return value
    text = value.lower().removeprefix("0x")
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ValueError(f"SNMPv3 engine ID {value!r} is not hex (like 0x8000000001020304)") from None


class TrapReceiver:
    """Listens on one UDP address; hands every accepted notification to ``on_event``."""

    def __init__(self) -> None:
        self._engine: SnmpEngine | None = None
        self._receiver: ntfrcv.NotificationReceiver | None = None
        self._on_event: Callable[[TrapEvent], Awaitable[None] | None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._users: list[SnmpV3] = []
        self.address: tuple[str, int] | None = None

    @property
    def engine_id(self) -> bytes:
        """This receiver's snmpEngineID (informs are localised to it)."""
        if self._engine is None:
            raise RuntimeError("trap receiver is not started")
        return bytes(self._engine.snmpEngineID.asOctets())

    async def start(
        self,
        host: str,
        port: int,
        v2c_communities: list[str],
        v3_users: list[SnmpV3],
        on_event: Callable[[TrapEvent], Awaitable[None] | None],
        *,
        v3_trap_engine_ids: Sequence[bytes | str] = (),
    ) -> None:
        """Listen on ``host:port`` (port 0 picks a free one: see ``address``)."""
        if self._engine is not None:
            raise RuntimeError(f"trap receiver already listening on {self.address}")
        # Bind here, not inside pysnmp (which binds in a background task): a taken port fails now,
        # and port 0 tells us what it got.
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind((host, port))
        except OSError as exc:
            sock.close()
            raise OSError(exc.errno, f"trap receiver cannot listen on {host}:{port}: {exc.strerror}") from exc
        sock.setblocking(False)
        self.address = sock.getsockname()[:2]
        engine = SnmpEngine()
        transport = udp.UdpAsyncioTransport().open_server_mode(sock=sock)
        config.add_transport(engine, udp.DOMAIN_NAME, transport)
        for index, community in enumerate(v2c_communities):
            config.add_v1_system(engine, f"trap-community-{index}", community)
        self._engine = engine
        self._users = list(v3_users)
        for user in v3_users:
            self._add_user(user, None)  # informs: localised to our own engine ID
        for engine_id in v3_trap_engine_ids:
            self.add_trap_sender(engine_id)
        self._on_event = on_event
        self._receiver = ntfrcv.NotificationReceiver(engine, self._received)
        await asyncio.sleep(0)  # let pysnmp attach the socket to the loop

    def add_trap_sender(self, engine_id: bytes | str) -> None:
        """Accept v3 traps from the device whose snmpEngineID is ``engine_id`` (see module docs)."""
        for user in self._users:
            self._add_user(user, _engine_id(engine_id))

    def _add_user(self, user: SnmpV3, engine_id: bytes | None) -> None:
        assert self._engine is not None
        kwargs: dict[str, Any] = {}
        if engine_id is not None:
            kwargs["securityEngineId"] = univ.OctetString(engine_id)
        config.add_v3_user(
            self._engine,
            user.user,
            config.USM_AUTH_HMAC192_SHA256,
            user.auth_key,
            config.USM_PRIV_CFB128_AES,
            user.priv_key,
            **kwargs,
        )

    async def stop(self) -> None:
        engine, self._engine = self._engine, None
        if engine is None:
            return
        if self._receiver is not None:
            self._receiver.close(engine)
            self._receiver = None
        engine.close_dispatcher()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.address = None

    # pysnmp calls this synchronously while the message's execution context is still available.
    def _received(
        self,
        engine: SnmpEngine,
        state_reference: Any,
        context_engine_id: Any,
        context_name: Any,
        var_binds: Iterable[tuple[Any, Any]],
        _ctx: Any,
    ) -> None:
        context = engine.observer.get_execution_context("rfc3412.receiveMessage:request")
        address = context.get("transportAddress")
        source = str(address[0]) if address else ""
        model = int(context.get("securityModel", 0))
        pdu = context.get("pdu")
        confirmed = pdu is not None and pdu.tagSet == v2c.InformRequestPDU.tagSet
        bindings = {str(oid): _text(value) for oid, value in var_binds}
        trap_oid = bindings.get(SNMP_TRAP_OID, "").lstrip(".")
        event = TrapEvent(
            kind=classify(trap_oid, bindings),
            source=source,
            oid=trap_oid,
            varbinds=bindings,
            received_at=datetime.now(UTC),
            protocol={1: "v1", 2: "v2c", 3: "v3"}.get(model, str(model)),
            security_name=_text(context.get("securityName", "")),
            confirmed=confirmed,
        )
        if self._on_event is None:
            return
        try:
            result = self._on_event(event)
        except Exception:
            log.exception("trap handler failed for %s from %s", event.kind, event.source)
            return
        if inspect.isawaitable(result):
            task = asyncio.ensure_future(result)
            self._tasks.add(task)
            task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("trap handler failed", exc_info=task.exception())
