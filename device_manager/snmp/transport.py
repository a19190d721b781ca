"""The SNMP transport of the poller: one shared engine per protocol, GETBULK in, var-binds or a
:class:`PollFailure` out (see ARCHITECTURE.md for the measurements behind the choices).

* SNMPv2c goes through pysnmp's *v1arch* dispatcher: it encodes the community into each message and
  keeps no per-community state, whereas the v3arch engine slows down sharply with many communities.
* SNMPv3 goes through one *v3arch* ``SnmpEngine`` (USM, engine-ID discovery, key localisation), with
  the command generator called directly with numeric var-binds (the high-level ``bulk_cmd`` resolves
  every OID through the MIB, which costs more than the request). USM keeps one set of keys per user
  name, so credentials that share a user name but differ in keys get their own engine. A device whose
  engine ID changed is rediscovered (``engine_id.py``: a workaround for pysnmp's cache).

What a failure means: no answer is ``down`` (a wrong SNMPv2c community looks the same: agents drop such
requests silently); a USM report or an authorization error is ``auth_error``, and so is an SNMPv3
device that answers engine discovery but not our requests (net-snmp drops a PDU it cannot decrypt).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pyasn1.type import univ
from pysnmp.carrier.asyncio.dgram import udp
from pysnmp.carrier.asyncio.dispatch import AsyncioDispatcher
from pysnmp.entity import config
from pysnmp.entity.rfc3413 import cmdgen as rfc3413_cmdgen
from pysnmp.hlapi.v1arch import asyncio as v1
from pysnmp.hlapi.v3arch import asyncio as v3
from pysnmp.hlapi.v3arch.asyncio.lcd import CommandGeneratorLcdConfigurator
from pysnmp.proto import errind

from device_manager.snmp.credentials import SnmpV2c, SnmpV3
from device_manager.snmp.engine_id import discover_engine_id, forget_peer_engine

__all__ = ["PollFailure", "PollTarget", "Status", "Transport", "VarBinds"]

Status = Literal["up", "degraded", "down", "auth_error", "unknown"]
VarBinds = Sequence[tuple[univ.ObjectIdentifier, Any]]

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


@dataclass
class PollTarget:
    device_id: int
    address: str
    port: int
    device_type: str
    credential: SnmpV2c | SnmpV3
    timeout: float = 2.0
    retries: int = 1


class PollFailure(Exception):
    """A request failed; ``status`` is what it says about the device (``down`` or ``auth_error``)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status: Status = status


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


def _ignore_datagram(*_args: Any) -> None:
    return None


class Transport:
    """Sends GETBULK requests over shared engines, caching transport targets and credentials. Bound to
    one event loop: :meth:`close` releases the sockets (it reopens lazily)."""

    def __init__(self) -> None:
        self._dispatcher: v1.SnmpDispatcher | None = None
        self._v1_targets: dict[tuple[str, int, float, int], v1.UdpTransportTarget] = {}
        self._v1_auth: dict[str, v1.CommunityData] = {}
        self._engines: list[v3.SnmpEngine] = []
        self._engine_users: list[dict[str, SnmpV3]] = []  # per engine: user name -> its credential
        self._v3_route: dict[tuple[SnmpV3, str, int, float, int], tuple[v3.SnmpEngine, str]] = {}
        self._lcd = CommandGeneratorLcdConfigurator()
        self._bulk = rfc3413_cmdgen.BulkCommandGeneratorSingleRun()
        self._transports: list[udp.UdpAsyncioTransport] = []

    def _open_transport(self) -> udp.UdpAsyncioTransport:
        transport = udp.UdpAsyncioTransport().open_server_mode(sock=_client_socket())
        self._transports.append(transport)
        return transport

    def close(self) -> None:
        """Release sockets and engines."""
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

    async def bulk(
        self,
        target: PollTarget,
        non_repeaters: int,
        max_rep: int,
        var_binds: Sequence[tuple[univ.ObjectIdentifier, univ.Null]],
    ) -> VarBinds:
        """One GETBULK to ``target``; raise :class:`PollFailure` when it fails."""
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
            live_engine_id = await discover_engine_id(
                target.address, target.port, retries=target.retries, timeout=target.timeout
            )
            if live_engine_id is None:
                break  # away: "down"
            if forget_peer_engine(engine, target.address, target.port, unless=live_engine_id):
                # The device now has another engine ID (reset, replaced, or an agent that makes a new
                # one at each start) and pysnmp would keep using the old one; rediscover and retry.
                continue
            # Same engine, alive, silent: net-snmp drops an AES-encrypted PDU it cannot parse (wrong
            # privacy key) without a report. A credential problem, not an outage.
            raise PollFailure(
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
                raise PollFailure(
                    "down",
                    f"{where}: no response after {target.retries + 1} tries of {target.timeout:g} s{hint}",
                )
            if isinstance(error_indication, _AUTH_ERRORS):
                raise PollFailure("auth_error", f"{where}: SNMPv3 credentials rejected: {error_indication}")
            raise PollFailure("down", f"{where}: {error_indication}")
        status = int(error_status or 0)
        if status in _PDU_AUTH_ERRORS:
            raise PollFailure("auth_error", f"{where}: agent answered {_PDU_AUTH_ERRORS[status]}")
        if status:
            raise PollFailure("down", f"{where}: agent answered error-status {status} at index {error_index}")
