"""Trusted host keys per device: scan (show the fingerprint), trust (an operator confirms it), and the
alert raised when a device presents a key that differs from the trusted one."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.db.models import Alert, AlertEvent, Device, DeviceHostKey, utcnow
from device_manager.errors import Conflict, Invalid
from device_manager.ssh.client import DEFAULT_PORT, HostKey, scan_host_key

__all__ = ["HOST_KEY_ALERT", "ScanResult", "forget", "raise_changed_alert", "scan", "trust", "trusted_keys"]

HOST_KEY_ALERT = "ssh_host_key_changed"


@dataclass(frozen=True)
class ScanResult:
    key: HostKey
    trusted: HostKey | None

    @property
    def state(self) -> str:
        if self.trusted is None:
            return "unknown"
        return "trusted" if self.trusted == self.key else "changed"


def trusted_keys(db: Session, device_id: int) -> tuple[HostKey, ...]:
    rows = db.scalars(
        select(DeviceHostKey).where(DeviceHostKey.device_id == device_id).order_by(DeviceHostKey.id)
    )
    return tuple(HostKey(r.key_type, r.key_base64) for r in rows)


def scan(db: Session, device: Device, port: int = DEFAULT_PORT, timeout: float = 5.0) -> ScanResult:
    key = scan_host_key(device.address, port, timeout)
    same_type = [k for k in trusted_keys(db, device.id) if k.key_type == key.key_type]
    return ScanResult(key, same_type[0] if same_type else None)


def trust(
    db: Session,
    device: Device,
    fingerprint: str,
    actor: str,
    *,
    replace: bool = False,
    port: int = DEFAULT_PORT,
    timeout: float = 5.0,
) -> ScanResult:
    """Trust the key the device presents now, if its fingerprint is the one the operator confirmed.

    Replacing a different trusted key needs ``replace`` (the route lets only admins set it)."""
    seen = scan(db, device, port, timeout)
    if seen.key.fingerprint != fingerprint.strip():
        raise Invalid.field(
            "fingerprint",
            f"device '{device.name}' presents {seen.key.key_type} {seen.key.fingerprint}, not {fingerprint}; "
            "check the fingerprint on the device console and try again",
        )
    if seen.state == "trusted":
        return seen
    row = db.scalar(
        select(DeviceHostKey).where(
            DeviceHostKey.device_id == device.id, DeviceHostKey.key_type == seen.key.key_type
        )
    )
    if row is not None and not replace:
        raise Conflict.field(
            "replace",
            f"device '{device.name}' already has a different trusted {row.key_type} key ({row.fingerprint}); "
            "pass replace=true (admin only) after checking that the device was really reinstalled",
        )
    if row is None:
        row = DeviceHostKey(device_id=device.id, key_type=seen.key.key_type)
        db.add(row)
    row.key_base64 = seen.key.key_base64
    row.fingerprint = seen.key.fingerprint
    row.trusted_by = actor
    row.trusted_at = utcnow()
    _resolve_changed_alert(db, device, actor)
    db.flush()
    return ScanResult(seen.key, seen.key)


def forget(db: Session, device: Device) -> int:
    rows = list(db.scalars(select(DeviceHostKey).where(DeviceHostKey.device_id == device.id)))
    for row in rows:
        db.delete(row)
    db.flush()
    return len(rows)


def raise_changed_alert(db: Session, device: Device, seen: str, trusted: str) -> Alert:
    """Open (once) a critical alert for a device whose host key changed."""
    open_alert = db.scalar(
        select(Alert).where(
            Alert.device_id == device.id, Alert.kind == HOST_KEY_ALERT, Alert.status != "resolved"
        )
    )
    message = (
        f"device '{device.name}' ({device.address}) presented SSH host key {seen}, trusted is {trusted}: "
        "connections refused until an admin re-trusts the device"
    )
    if open_alert is not None:
        open_alert.message = message
        db.flush()
        return open_alert
    alert = Alert(
        rule_id=None,
        device_id=device.id,
        subject="ssh",
        kind=HOST_KEY_ALERT,
        severity="critical",
        status="firing",
        message=message,
        opened_at=utcnow(),
    )
    db.add(alert)
    db.flush()
    db.add(AlertEvent(alert_id=alert.id, kind="opened", actor="ssh", detail=message))
    db.flush()
    return alert


def _resolve_changed_alert(db: Session, device: Device, actor: str) -> None:
    for alert in db.scalars(
        select(Alert).where(
            Alert.device_id == device.id, Alert.kind == HOST_KEY_ALERT, Alert.status != "resolved"
        )
    ):
        alert.status = "resolved"
        alert.resolved_at = utcnow()
        alert.resolved_by = actor
        db.add(AlertEvent(alert_id=alert.id, kind="resolved", actor=actor, detail="host key re-trusted"))
