"""Domain errors of the device manager. Services raise these; ``main`` maps them to HTTP once.

DomainError
 ├── NotFound          -> 404  (also for objects outside the caller's sites: no existence leak)
 ├── Invalid           -> 422  errors keyed by field
 ├── Conflict          -> 409  errors keyed by field (duplicate names, objects still in use)
 └── PermissionDenied  -> 403
"""

from __future__ import annotations

__all__ = ["Conflict", "DomainError", "Invalid", "NotFound", "PermissionDenied"]


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class NotFound(DomainError):
    status_code = 404

    def __init__(self, resource: str, key: object) -> None:
        super().__init__(f"{resource} {key!s} not found")


class Invalid(DomainError):
    status_code = 422

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", {field: [message]})


class Conflict(DomainError):
    status_code = 409

    @classmethod
    def field(cls, field: str, message: str) -> Conflict:
        return cls(f"{field}: {message}", {field: [message]})


class PermissionDenied(DomainError):
    status_code = 403
