"""Asynchronous SNMP poller: one request plan per device type, one shared engine per protocol.

Each poll is a short conversation of GETBULK requests: the first carries every scalar of the profile as
a non-repeater (GETNEXT of the scalar's parent returns the ``.0`` instance) plus every table column as a
repeater; later requests continue only the columns that have not left their table yet. A device with
small tables is polled in one round trip. ``max-repetitions`` adapts per device to the table sizes seen
on the previous poll (rows + 1, the one past the end closing the walk), and when a device's tables
differ much in length (a printer's 6 supplies and 1 printer row) they are split over two concurrent
GETBULKs, so short tables do not drag back pages of unrelated OIDs.

Transports, for speed (see ARCHITECTURE.md):

* SNMPv2c goes through pysnmp's *v1arch* dispatcher: it encodes the community into each message and
  keeps no per-community state, whereas the v3arch engine slows down sharply with many communities.
* SNMPv3 goes through one *v3arch* ``SnmpEngine`` (USM, engine-ID discovery, key localisation), with
  the command generator called directly with numeric var-binds (the high-level ``bulk_cmd`` resolves
  every OID through the MIB, which costs more than the request). USM keeps one set of keys per user
  name, so credentials that share a user name but differ in keys get their own engine.

Status of a device after a poll:

* ``down``: no answer within ``timeout`` x (``retries`` + 1). **A wrong SNMPv2c community looks the
  same**: agents drop such requests silently (at most they send an authenticationFailure trap, which
  the trap receiver reports as ``auth_failure``).
* ``auth_error``: the SNMPv3 agent answered with a USM report (unknown user name, wrong digest,
  decryption error, unsupported security level) or an authorization error.
* ``degraded``: answered, and the decoded values show problems (paper out, interface down, ...).
* ``up``: answered, no problems.
* ``unknown``: not polled (only from :meth:`Poller.poll_many`): its device type has no poll profile, or
  the poll itself failed; ``error`` says why. One such device never fails the others' polls.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config
from pysnmp.entity.rfc3413 import cmdgen as rfc3413_cmdgen
from pysnmp.hlapi.v1arch import asyncio as v1
from pysnmp.hlapi.v3arch import asyncio as v3
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind, rfc1902, rfc1905

from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.snmp.decode import Problem, Raw, Value, decode
from device_manager.snmp.profiles import PollProfile, ProfileError, ProfileSet

__all__ = ["PollResult", "PollTarget", "Poller", "Problem", "Status"]

log = logging.getLogger(__name__)

Status = Literal["up", "degraded", "down", "auth_error", "unknown"]

# USM reports and errors that mean "the credentials are wrong", not "the device is away".
_AUTH_ERRORS: tuple[type[errind.ErrorIndication], ...] = (
    errind.UnknownUserName,
    errind.WrongDigest,
    errind.DecryptionError,
    errind.AuthenticationFailure,
    errind.AuthenticationError,
    errind.UnsupportedSecurityLevel,
    errind.UnsupportedAuthProtocol,
    errind.UnsupportedPrivProtocol,
    errind.NoAuthentication,
)
_PDU_AUTH_ERRORS = {6: "noAccess", 16: "authorizationError"}
_RECEIVE_BUFFER = 8 * 1024 * 1024  # the kernel caps it at net.core.rmem_max
_MAX_ROUNDS = 40  # GETBULK requests per device and poll; bounds a misbehaving agent
# What one more request costs, in var-binds' worth of CPU (encode, decode; USM and AES for v3). Used to
# decide whether to split a device's tables over two GETBULKs of different max-repetitions.
_V2C_MESSAGE_COST = 10
_V3_MESSAGE_COST = 60


def _group_columns(
    columns: Sequence[tuple[str, str, univ.ObjectIdentifier]],
    rows: dict[str, int] | None,
    default_max_rep: int,
    message_cost: int,
) -> list[tuple[list[tuple[str, str, univ.ObjectIdentifier]], int]]:
    """Columns per GETBULK and its max-repetitions. A GETBULK fetches max-repetitions rows of *every*
    column, so a long table (supplies) makes short ones (alerts) drag back unrelated OIDs. Knowing each
    table's rows from the last poll, split the tables in two requests when that saves more var-binds
    than the extra message costs. Rows + 1: the one past the end tells the walk the table ended."""
    if not columns or rows is None:
        return [(list(columns), default_max_rep)]
    by_table: dict[str, list[tuple[str, str, univ.ObjectIdentifier]]] = {}
    for column in columns:
        by_table.setdefault(column[0], []).append(column)
    need = {t: max(1, min(default_max_rep, rows.get(t, 0) + 1)) for t in by_table}
    ordered = sorted(by_table, key=lambda t: need[t])

    def cost(tables: list[str]) -> int:
        return sum(len(by_table[t]) for t in tables) * max(need[t] for t in tables) + message_cost

    best = (cost(ordered), len(ordered))
    for split in range(1, len(ordered)):
        best = min(best, (cost(ordered[:split]) + cost(ordered[split:]), split))
    parts = [ordered[: best[1]], ordered[best[1] :]] if best[1] < len(ordered) else [ordered]
    # the largest group first: it also carries the scalars
    parts.sort(key=lambda tables: -sum(len(by_table[t]) for t in tables))
    return [([c for t in part for c in by_table[t]], max(need[t] for t in part)) for part in parts]


@dataclass
class PollTarget:
    device_id: int
    address: str
    port: int
    device_type: str
    credential: SnmpV2c | SnmpV3
    timeout: float = 2.0
    retries: int = 1


@dataclass
class PollResult:
    device_id: int
    status: Status
    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    values_count: int = 0


class _Failure(Exception):
    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status: Status = status


@dataclass(frozen=True)
class _Plan:
    """A profile's request, prepared once: OIDs as pyasn1 objects, ready to go on the wire."""

    scalar_names: tuple[str, ...]
    scalar_oids: tuple[univ.ObjectIdentifier, ...]
    scalar_requests: tuple[tuple[univ.ObjectIdentifier, univ.Null], ...]  # parents, for GETNEXT
    columns: tuple[tuple[str, str, univ.ObjectIdentifier], ...]

    @classmethod
    def build(cls, profile: PollProfile) -> _Plan:
        names = tuple(n for n, _ in profile.scalar_oids)
        oids = tuple(rfc1902.ObjectName(o) for _, o in profile.scalar_oids)
        parents = tuple((rfc1902.ObjectName(o[:-1]), univ.Null("")) for o in oids)
        columns = tuple((t, c, rfc1902.ObjectName(o)) for t, c, o in profile.columns)
        return cls(names, oids, parents, columns)


def _plain(value: Any) -> Value | None:
    """pyasn1/pysnmp value -> int, bytes or str; None for noSuchObject/noSuchInstance/endOfMibView."""
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.Null):
        return None
    return str(value)


def _client_socket() -> socket.socket:
    """The one UDP socket a protocol engine sends from, with a receive buffer big enough for the
    burst of GETBULK responses that ``concurrency`` outstanding requests bring back at once (the
    default ~200 KB drops packets, which then look like timeouts)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
    sock.bind(("0.0.0.0", 0))
    sock.setblocking(False)
    return sock


def _tlv(tag: int, content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes([tag, length]) + content
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(encoded)]) + encoded + content


def _ber_int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


# RFC 3414 section 4 discovery: noAuthNoPriv, empty user and engine ID, reportable. Any agent with
# SNMPv3 answers it with a usmStatsUnknownEngineIDs report.
_DISCOVERY_PROBE = _tlv(
    0x30,
    (
        _ber_int(3)
        + _tlv(0x30, _ber_int(0x4A69) + _ber_int(65507) + _tlv(0x04, b"\x04") + _ber_int(3))
        + _tlv(0x04, _tlv(0x30, _tlv(0x04, b"") + _ber_int(0) + _ber_int(0) + _tlv(0x04, b"") * 3))
        + _tlv(
            0x30,
            _tlv(0x04, b"")
            + _tlv(0x04, b"")
            + _tlv(0xA0, _ber_int(0x37F0) + _ber_int(0) + _ber_int(0) + _tlv(0x30, b"")),
        )
    ),
)


class _FirstDatagram(asyncio.DatagramProtocol):
    def __init__(self, future: asyncio.Future[bytes]) -> None:
        self.future = future

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        if not self.future.done():
            self.future.set_result(data)


def _ignore_datagram(*_args: Any) -> None:
    return None


def _ber_items(data: bytes) -> list[tuple[int, bytes]]:
    """(tag, contents) of the BER elements laid end to end in ``data`` (definite lengths only)."""
    items, pos = [], 0
    while pos + 2 <= len(data):
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            size = length & 0x7F
            length = int.from_bytes(data[pos : pos + size], "big")
            pos += size
        items.append((tag, data[pos : pos + length]))
        pos += length
    return items


def _reported_engine_id(message: bytes) -> bytes | None:
    """msgAuthoritativeEngineID of an SNMPv3 message (RFC 3412 / 3414), or None if it is not one."""
    try:
        (tag, body), *_ = _ber_items(message)
        version, _global, security, *_ = _ber_items(body)
        if tag != 0x30 or version != (0x02, b"\x03") or security[0] != 0x04:
            return None
        (_seq, usm), *_ = _ber_items(security[1])
        engine_tag, engine_id = _ber_items(usm)[0]
    except (ValueError, IndexError):
        return None
    return engine_id if engine_tag == 0x04 else None


def _forget_peer_engine(engine: v3.SnmpEngine, target: PollTarget, unless: bytes) -> bool:
    """Drop pysnmp's cached engine ID for the target if it differs from ``unless``; True if dropped.

    pysnmp keeps a discovered peer engine ID for 300 s and, when the peer's engine ID changes, drops
    the peer's unknownEngineID reports instead of rediscovering (every request times out meanwhile).
    """
    model = engine.message_processing_subsystems.get(3)
    cache = getattr(model, "_SnmpV3MessageProcessingModel__engineIdCache", None)
    if not isinstance(cache, dict):
        return False
    dropped = False
    for key in list(cache):
        address = key[1]
        if (str(address[0]), int(address[1])) == (target.address, target.port):
            cached = cache[key].get("securityEngineId")
            if cached is None or bytes(cached) != unless:
                del cache[key]
                dropped = True
    return dropped


async def _discover_engine_id(target: PollTarget) -> bytes | None:
    """The engine ID the target reports to an SNMPv3 discovery probe, None if nothing answers."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _FirstDatagram(future), remote_addr=(target.address, target.port)
        )
    except OSError:
        return None
    try:
        for _attempt in range(target.retries + 1):
            transport.sendto(_DISCOVERY_PROBE)
            try:
                answer = await asyncio.wait_for(asyncio.shield(future), target.timeout)
            except TimeoutError:
                continue
            return _reported_engine_id(answer) or b""
        return None
    finally:
        transport.close()


class Poller:
    """Polls devices per their type's profile. Create once and reuse: it caches engines, transport
    targets and credentials; ``concurrency`` bounds outstanding devices across ``poll_many`` calls."""

    def __init__(self, profiles: ProfileSet, concurrency: int = 200) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self._profiles = profiles
        self._concurrency = concurrency
        self._plans = {t: _Plan.build(p) for t, p in profiles.profiles.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._dispatcher: v1.SnmpDispatcher | None = None
        self._v1_targets: dict[tuple[str, int, float, int], v1.UdpTransportTarget] = {}
        self._v1_auth: dict[str, v1.CommunityData] = {}
        self._engines: list[v3.SnmpEngine] = []
        self._engine_users: list[dict[str, SnmpV3]] = []  # per engine: user name -> its credential
        self._v3_route: dict[tuple[SnmpV3, str, int, float, int], tuple[v3.SnmpEngine, str]] = {}
        self._lcd = CommandGeneratorLcdConfigurator()
        self._bulk = rfc3413_cmdgen.BulkCommandGeneratorSingleRun()
        # device_id -> (device type, rows per table) seen on the last poll
        self._learned_rows: dict[int, tuple[str, dict[str, int]]] = {}
        self._transports: list[udp.UdpAsyncioTransport] = []

    # ---- lifecycle -------------------------------------------------------------------------------
    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self.close()
        self._loop = loop
        self._semaphore = asyncio.Semaphore(self._concurrency)

    def _open_transport(self) -> udp.UdpAsyncioTransport:
        transport = udp.UdpAsyncioTransport().open_server_mode(sock=_client_socket())
        self._transports.append(transport)
        return transport

    def close(self) -> None:
        """Release sockets. The poller can be used again afterwards (it reopens lazily)."""
        for transport in self._transports:
            # Late answers already read from the socket would otherwise reach a dispatcher that no
            # longer knows this transport ("Unregistered transport").
            transport.datagram_received = _ignore_datagram
        self._transports.clear()
        if self._dispatcher is not None:
            self._dispatcher.close()
            self._dispatcher.transport_dispatcher.close_dispatcher()
            self._dispatcher = None
        for engine in self._engines:
            engine.close_dispatcher()
        self._engines.clear()
        self._engine_users.clear()
        self._v3_route.clear()
        self._v1_targets.clear()
        self._loop = None

    # ---- public API ------------------------------------------------------------------------------
    async def poll(self, target: PollTarget) -> PollResult:
        self._bind_loop()
        assert self._semaphore is not None
        async with self._semaphore:
            return await self._poll(target)

    async def poll_many(self, targets: list[PollTarget]) -> list[PollResult]:
        """One result per target, in order. A target that cannot be polled (no poll profile for its
        type, or an unexpected error) gets status ``unknown`` and its reason; the others are unaffected."""
        self._bind_loop()
        outcomes = await asyncio.gather(*(self.poll(t) for t in targets), return_exceptions=True)
        results = []
        for target, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, PollResult):
                results.append(outcome)
                continue
            if not isinstance(outcome, Exception):  # CancelledError, KeyboardInterrupt: not ours to keep
                raise outcome
            if not isinstance(outcome, ProfileError):
                log.error("poll of device %s failed", target.device_id, exc_info=outcome)
            where = f"device {target.device_id} ({target.address}:{target.port})"
            results.append(PollResult(target.device_id, "unknown", error=f"{where}: not polled: {outcome}"))
        return results

    # ---- one device ------------------------------------------------------------------------------
    async def _poll(self, target: PollTarget) -> PollResult:
        started = time.perf_counter()
        profile = self._profiles.for_type(target.device_type)
        plan = self._plans[target.device_type]
        try:
            raw, count, rows = await self._fetch(target, profile, plan)
        except _Failure as failure:
            return PollResult(
                target.device_id, failure.status, duration_s=time.perf_counter() - started, error=str(failure)
            )
        self._learned_rows[target.device_id] = (target.device_type, rows)
        decoded = decode(profile, raw)
        status: Status = "degraded" if decoded.problems else "up"
        return PollResult(
            target.device_id,
            status,
            decoded.metrics,
            decoded.facts,
            decoded.problems,
            time.perf_counter() - started,
            None,
            count,
        )

    async def _fetch(
        self, target: PollTarget, profile: PollProfile, plan: _Plan
    ) -> tuple[Raw, int, dict[str, int]]:
        learned = self._learned_rows.get(target.device_id)
        rows = learned[1] if learned is not None and learned[0] == target.device_type else None
        message_cost = _V3_MESSAGE_COST if isinstance(target.credential, SnmpV3) else _V2C_MESSAGE_COST
        groups = _group_columns(plan.columns, rows, profile.max_repetitions, message_cost)
        raw = Raw()
        rows_by_table: dict[str, set[str]] = {}
        counts = await asyncio.gather(
            *(
                self._walk(
                    target,
                    plan,
                    with_scalars=index == 0,
                    columns=columns,
                    max_rep=max_rep,
                    raw=raw,
                    rows_by_table=rows_by_table,
                )
                for index, (columns, max_rep) in enumerate(groups)
            )
        )
        return raw, sum(counts), {table: len(indices) for table, indices in rows_by_table.items()}

    async def _walk(
        self,
        target: PollTarget,
        plan: _Plan,
        *,
        with_scalars: bool,
        columns: Sequence[tuple[str, str, univ.ObjectIdentifier]],
        max_rep: int,
        raw: Raw,
        rows_by_table: dict[str, set[str]],
    ) -> int:
        """GETBULK conversation for some columns (and the scalars); fills ``raw``, returns values."""
        count = 0
        # Column state: (table, column, base oid, base length, last oid requested from).
        active = [(t, c, oid, len(oid), oid) for t, c, oid in columns]
        non_repeaters = len(plan.scalar_requests) if with_scalars else 0
        request: list[tuple[univ.ObjectIdentifier, univ.Null]] = list(plan.scalar_requests[:non_repeaters])
        request += [(oid, univ.Null("")) for *_, oid in active]
        for _round in range(_MAX_ROUNDS):
            if not active and not non_repeaters:
                break
            var_binds = await self._bulk_request(target, non_repeaters, max_rep if active else 0, request)
            for i in range(min(non_repeaters, len(var_binds))):
                oid, value = var_binds[i]
                if oid == plan.scalar_oids[i]:
                    plain = _plain(value)
                    if plain is not None:
                        raw.scalars[plan.scalar_names[i]] = plain
                        count += 1
            repeated = var_binds[non_repeaters:]
            width = len(active)
            still: list[tuple[str, str, univ.ObjectIdentifier, int, univ.ObjectIdentifier]] = []
            progressed = False
            if width:
                reps = (len(repeated) + width - 1) // width
                for col, (table, column, base, base_len, start) in enumerate(active):
                    last = start
                    finished = False
                    for r in range(reps):
                        pos = r * width + col
                        if pos >= len(repeated):
                            break  # the agent truncated its answer: carry on from here next round
                        oid, value = repeated[pos]
                        # leaving the column, or an agent that does not move forward, ends the walk
                        if isinstance(value, rfc1905.EndOfMibView) or not base.isPrefixOf(oid) or oid <= last:
                            finished = True
                            break
                        last = oid
                        progressed = True
                        plain = _plain(value)
                        if plain is None:
                            continue
                        index = ".".join(str(x) for x in oid[base_len:])
                        raw.tables.setdefault(table, {}).setdefault(index, {})[column] = plain
                        rows_by_table.setdefault(table, set()).add(index)
                        count += 1
                    if not finished:
                        still.append((table, column, base, base_len, last))
            answered_scalars = non_repeaters > 0 and len(var_binds) > 0
            if not progressed and not answered_scalars:
                break  # nothing new came back: stop rather than ask the same again
            active = still
            non_repeaters = 0
            request = [(last, univ.Null("")) for *_, last in active]
        return count

    async def _bulk_request(
        self,
        target: PollTarget,
        non_repeaters: int,
        max_rep: int,
        var_binds: Sequence[tuple[univ.ObjectIdentifier, univ.Null]],
    ) -> Sequence[tuple[univ.ObjectIdentifier, Any]]:
        credential = target.credential
        if isinstance(credential, SnmpV2c):
            return await self._v2c_bulk(target, credential, non_repeaters, max_rep, var_binds)
        if isinstance(credential, SnmpV3):
            return await self._v3_bulk(target, credential, non_repeaters, max_rep, var_binds)
        raise TypeError(f"device {target.device_id}: unsupported credential {type(credential).__name__}")

    # ---- SNMPv2c over the v1arch dispatcher --------------------------------------------------------
    async def _v2c_bulk(
        self,
        target: PollTarget,
        credential: SnmpV2c,
        non_repeaters: int,
        max_rep: int,
        var_binds: Sequence[tuple[univ.ObjectIdentifier, univ.Null]],
    ) -> Sequence[tuple[univ.ObjectIdentifier, Any]]:
        if self._dispatcher is None:
            transport_dispatcher = AsyncioDispatcher()
            transport_dispatcher.register_transport(udp.DOMAIN_NAME, self._open_transport())
            self._dispatcher = v1.SnmpDispatcher(transport_dispatcher)
        key = (target.address, target.port, target.timeout, target.retries)
        transport = self._v1_targets.get(key)
        if transport is None:
            transport = await v1.UdpTransportTarget.create(
                (target.address, target.port), timeout=target.timeout, retries=target.retries
            )
            self._v1_targets[key] = transport
        auth = self._v1_auth.get(credential.community)
        if auth is None:
            auth = self._v1_auth[credential.community] = v1.CommunityData(credential.community, mpModel=1)
        error_indication, error_status, error_index, result = await v1.bulk_cmd(
            self._dispatcher, auth, transport, non_repeaters, max_rep, *var_binds
        )
        self._check(target, error_indication, error_status, error_index)
        return result

    # ---- SNMPv3 over the v3arch engine -----------------------------------------------------------
    def _v3_engine_for(self, credential: SnmpV3) -> v3.SnmpEngine:
        for engine, users in zip(self._engines, self._engine_users, strict=True):
            known = users.get(credential.user)
            if known is None or known == credential:
                users[credential.user] = credential
                return engine
        engine = v3.SnmpEngine()
        config.add_transport(engine, udp.DOMAIN_NAME, self._open_transport())
        self._engines.append(engine)
        self._engine_users.append({credential.user: credential})
        return engine

    async def _v3_bulk(
        self,
        target: PollTarget,
        credential: SnmpV3,
        non_repeaters: int,
        max_rep: int,
        var_binds: Sequence[tuple[univ.ObjectIdentifier, univ.Null]],
    ) -> Sequence[tuple[univ.ObjectIdentifier, Any]]:
        key = (credential, target.address, target.port, target.timeout, target.retries)
        route = self._v3_route.get(key)
        if route is None:
            engine = self._v3_engine_for(credential)
            transport = await v3.UdpTransportTarget.create(
                (target.address, target.port), timeout=target.timeout, retries=target.retries
            )
            auth = v3.UsmUserData(
                credential.user,
                credential.auth_key,
                credential.priv_key,
                authProtocol=v3.usmHMAC192SHA256AuthProtocol,
                privProtocol=v3.usmAesCfb128Protocol,
            )
            address_name, _params = self._lcd.configure(engine, auth, transport, b"")
            route = self._v3_route[key] = (engine, address_name)
        engine, address_name = route
        for _attempt in range(2):
            error_indication, error_status, error_index, result = await self._v3_send(
                engine, address_name, non_repeaters, max_rep, var_binds
            )
            if not isinstance(error_indication, errind.RequestTimedOut):
                break
            # No answer. Either the device is away, or it is alive and does not like our request.
            live_engine_id = await _discover_engine_id(target)
            if live_engine_id is None:
                break  # away: "down"
            if _forget_peer_engine(engine, target, unless=live_engine_id):
                # The device now has another engine ID (reset, replaced, or an agent that makes a new
                # one at each start) and pysnmp would keep using the old one; rediscover and retry.
                continue
            # Same engine, alive, silent: net-snmp drops an AES-encrypted PDU it cannot parse (wrong
            # privacy key) without a report. A credential problem, not an outage.
            raise _Failure(
                "auth_error",
                f"device {target.device_id} ({target.address}:{target.port}): "
                f"answers SNMPv3 engine discovery but not authPriv requests of user "
                f"{credential.user!r}: the privacy key is probably wrong",
            )
        self._check(target, error_indication, error_status, error_index)
        return result

    async def _v3_send(
        self,
        engine: v3.SnmpEngine,
        address_name: str,
        non_repeaters: int,
        max_rep: int,
        var_binds: Sequence[tuple[univ.ObjectIdentifier, univ.Null]],
    ) -> tuple[Any, int, int, Sequence[Any]]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Any, int, int, Sequence[Any]]] = loop.create_future()

        def done(
            _engine: Any,
            _handle: Any,
            error_indication: Any,
            error_status: Any,
            error_index: Any,
            result: Any,
            _ctx: Any,
        ) -> None:
            if not future.done():
                future.set_result((error_indication, error_status, error_index, result))

        self._bulk.send_varbinds(
            engine, address_name, None, b"", non_repeaters, max_rep, list(var_binds), done
        )
        return await future

    @staticmethod
    def _check(target: PollTarget, error_indication: Any, error_status: Any, error_index: Any) -> None:
        where = f"device {target.device_id} ({target.address}:{target.port})"
        if error_indication:
            if isinstance(error_indication, errind.RequestTimedOut):
                hint = (
                    " (a wrong SNMPv2c community looks the same)"
                    if isinstance(target.credential, SnmpV2c)
                    else ""
                )
                raise _Failure(
                    "down",
                    f"{where}: no response after {target.retries + 1} tries of {target.timeout:g} s{hint}",
                )
            if isinstance(error_indication, _AUTH_ERRORS):
                raise _Failure("auth_error", f"{where}: SNMPv3 credentials rejected: {error_indication}")
            raise _Failure("down", f"{where}: {error_indication}")
        status = int(error_status or 0)
        if status in _PDU_AUTH_ERRORS:
            raise _Failure("auth_error", f"{where}: agent answered {_PDU_AUTH_ERRORS[status]}")
        if status:
            raise _Failure("down", f"{where}: agent answered error-status {status} at index {error_index}")
