"""A workaround for pysnmp 7.1 (written against 7.1.30, the version pinned by ``pysnmp>=7.1,<8``): SNMPv3
devices whose engine ID changes.

pysnmp's v3arch engine caches a peer's discovered engine ID (``_SnmpV3MessageProcessingModel
__engineIdCache``, a private attribute, for 300 s). When the device restarts with a new engine ID (an
agent that makes one at each start, a replaced device), pysnmp keeps sending with the old one and drops
the device's usmStatsUnknownEngineIDs reports instead of rediscovering: every request times out, and the
device looks down although it answers. The transport therefore, after a timeout, sends its own RFC 3414
discovery probe (:data:`DISCOVERY_PROBE`, BER-encoded by hand: no engine state involved), and when the
device answers with an engine ID other than the cached one, drops the cached entry
(:func:`forget_peer_engine`) so that pysnmp rediscovers on the retry.

Check this module when moving to another pysnmp: if the private cache is renamed, the workaround
silently does nothing (``forget_peer_engine`` returns False and such a device stays "down" until the
cache expires); ``tests/device_manager/snmp/test_poller.py`` restarts agents with new engine IDs.
"""

from __future__ import annotations

import asyncio
from typing import Any

__all__ = ["DISCOVERY_PROBE", "discover_engine_id", "forget_peer_engine", "reported_engine_id"]


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
DISCOVERY_PROBE = _tlv(
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


def reported_engine_id(message: bytes) -> bytes | None:
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


def forget_peer_engine(engine: Any, address: str, port: int, unless: bytes) -> bool:
    """Drop ``engine``'s cached engine ID for ``address:port`` if it differs from ``unless``; True if
    dropped. Reaches into pysnmp's private ``__engineIdCache`` (see the module docstring); without that
    attribute (another pysnmp), it does nothing and says so by returning False."""
    model = engine.message_processing_subsystems.get(3)
    cache = getattr(model, "_SnmpV3MessageProcessingModel__engineIdCache", None)
    if not isinstance(cache, dict):
        return False
    dropped = False
    for key in list(cache):
        peer = key[1]
        if (str(peer[0]), int(peer[1])) == (address, port):
            cached = cache[key].get("securityEngineId")
            if cached is None or bytes(cached) != unless:
                del cache[key]
                dropped = True
    return dropped


async def discover_engine_id(address: str, port: int, *, retries: int, timeout: float) -> bytes | None:
    """The engine ID ``address:port`` reports to an SNMPv3 discovery probe (b"" when its answer is not
    an SNMPv3 message), None if nothing answers in ``retries`` + 1 tries of ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _FirstDatagram(future), remote_addr=(address, port)
        )
    except OSError:
        return None
    try:
        for _attempt in range(retries + 1):
            transport.sendto(DISCOVERY_PROBE)
            try:
                answer = await asyncio.wait_for(asyncio.shield(future), timeout)
            except TimeoutError:
                continue
            return reported_engine_id(answer) or b""
        return None
    finally:
        transport.close()
