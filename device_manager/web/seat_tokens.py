"""Seat tokens: what opens one seat's page, and nothing else.

A seat token reads ``hcs_<payload>.<mac>``: the payload (base64url JSON) names the seat, the expiry
and a nonce; the MAC is HMAC-SHA256 over it with a key derived from the service's secret key, so no
database row is needed and a token for seat A never opens seat B. Tokens are given to a thin client
(or a clerk) by IT staff; they expire, and changing the secret key voids all of them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

__all__ = ["MAX_TTL_S", "PREFIX", "SeatGrant", "issue", "verify"]

PREFIX = "hcs_"
MAX_TTL_S = 400 * 24 * 3600


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"hallcloud seat token v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class SeatGrant:
    seat: str
    expires_at: float


def issue(secret_key: str, seat: str, ttl_s: int, *, now: float | None = None) -> str:
    if not 1 <= ttl_s <= MAX_TTL_S:
        raise ValueError(f"seat token validity {ttl_s} s is outside 1..{MAX_TTL_S} s")
    payload = {"s": seat, "e": int((now or time.time()) + ttl_s), "n": secrets.token_hex(8)}
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    return f"{PREFIX}{body}.{mac}"


def verify(secret_key: str, token: str, seat: str, *, now: float | None = None) -> SeatGrant | None:
    """The grant if ``token`` is genuine, unexpired and for ``seat``; otherwise None."""
    if not token.startswith(PREFIX) or token.count(".") != 1:
        return None
    body, mac = token[len(PREFIX) :].split(".")
    expected = _b64(hmac.new(_key(secret_key), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac, expected):
        return None
    try:
        payload = json.loads(_unb64(body))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(payload, dict) or payload.get("s") != seat or not isinstance(payload.get("e"), int):
        return None
    if payload["e"] <= (now or time.time()):
        return None
    return SeatGrant(seat, float(payload["e"]))
