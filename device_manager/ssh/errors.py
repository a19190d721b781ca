"""Errors of SSH operations. Library errors (paramiko, socket) are converted here, at the boundary.

SshError
 ├── HostKeyUnknown    the device has no trusted host key yet: trust it first (shows the fingerprint)
 ├── HostKeyChanged    the device presented a different key than the trusted one: refused, alerted
 ├── Unreachable       TCP connect/handshake failed or timed out
 ├── AuthFailed        the device refused the credential profile's key
 ├── CommandTimeout    the command did not finish within its timeout
 └── Cancelled         the job was cancelled while the command ran
"""

from __future__ import annotations

__all__ = [
    "AuthFailed",
    "Cancelled",
    "CommandTimeout",
    "HostKeyChanged",
    "HostKeyUnknown",
    "SshError",
    "Unreachable",
]


class SshError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class HostKeyUnknown(SshError):
    pass


class HostKeyChanged(SshError):
    def __init__(self, message: str, *, seen_fingerprint: str, trusted_fingerprint: str) -> None:
        super().__init__(message)
        self.seen_fingerprint = seen_fingerprint
        self.trusted_fingerprint = trusted_fingerprint


class Unreachable(SshError):
    pass


class AuthFailed(SshError):
    pass


class CommandTimeout(SshError):
    pass


class Cancelled(SshError):
    pass
