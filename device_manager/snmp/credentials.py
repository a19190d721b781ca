"""SNMP credentials as values: how to authenticate, kept apart from what to poll (the profiles).

Secrets never appear in ``repr``/``str`` (and so never in logs or tracebacks that print a target).
SNMPv3 is fixed to authPriv with HMAC-SHA-256 authentication and AES-128 (CFB) privacy, the one
combination the hall's devices are configured with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Credential", "SnmpV2c", "SnmpV3"]

_REDACTED = "***"


@dataclass(frozen=True)
class SnmpV2c:
    """SNMPv2c community. An agent silently drops a request with the wrong community, so a wrong
    community looks exactly like an unreachable device (status ``down``)."""

    community: str = field(repr=False)

    def __repr__(self) -> str:
        return f"SnmpV2c(community={_REDACTED!r})"

    __str__ = __repr__


@dataclass(frozen=True)
class SnmpV3:
    """SNMPv3 USM user, authPriv: SHA-256 (usmHMAC192SHA256AuthProtocol) + AES-128 (usmAesCfb128Protocol)."""

    user: str
    auth_key: str = field(repr=False)
    priv_key: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.user:
            raise ValueError("SNMPv3 credential: user must not be empty")
        for name in ("auth_key", "priv_key"):
            if len(getattr(self, name)) < 8:
                raise ValueError(
                    f"SNMPv3 user {self.user!r}: {name} must have at least 8 characters (RFC 3414)"
                )

    def __repr__(self) -> str:
        return f"SnmpV3(user={self.user!r}, auth_key={_REDACTED!r}, priv_key={_REDACTED!r})"

    __str__ = __repr__


Credential = SnmpV2c | SnmpV3
