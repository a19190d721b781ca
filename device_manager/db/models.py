"""SQLAlchemy 2 models of the controller database (the source of truth for hall devices).

Vocabulary follows NetBox ``dcim``: a Site is a service hall, an Area is a Location inside it, a Window
is a numbered service counter, a DeviceType is the kind of hall device (it names the poll profile).
Secrets live only in ``credential_profiles.secret`` as AES-GCM ciphertext; ``device_host_keys`` holds
the SSH host keys operators trusted per device. Jobs and window-setup state are in ``job_models``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Alert",
    "AlertEvent",
    "AlertRule",
    "AlertState",
    "ApiToken",
    "Area",
    "AuditEntry",
    "Base",
    "CredentialProfile",
    "Device",
    "DeviceHostKey",
    "DeviceType",
    "Event",
    "MaintenanceWindow",
    "MetricSample",
    "SeededDefault",
    "Site",
    "UTCDateTime",
    "Window",
    "utcnow",
]

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Site(Base):
    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Area(Base):
    __tablename__ = "areas"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    floor: Mapped[str] = mapped_column(String(20), default="")
    description: Mapped[str] = mapped_column(Text, default="")


class Window(Base):
    __tablename__ = "windows"
    __table_args__ = (UniqueConstraint("site_id", "number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    services: Mapped[list[str]] = mapped_column(JSON, default=list)


class DeviceType(Base):
    __tablename__ = "device_types"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")


class CredentialProfile(Base):
    __tablename__ = "credential_profiles"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # snmp_v2c | snmp_v3 | ssh
    username: Mapped[str] = mapped_column(String(100), default="")
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("site_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="RESTRICT"), index=True)
    area_id: Mapped[int | None] = mapped_column(ForeignKey("areas.id", ondelete="SET NULL"))
    window_id: Mapped[int | None] = mapped_column(ForeignKey("windows.id", ondelete="SET NULL"))
    device_type_id: Mapped[int] = mapped_column(ForeignKey("device_types.id", ondelete="RESTRICT"))
    address: Mapped[str] = mapped_column(String(64))
    snmp_port: Mapped[int] = mapped_column(Integer, default=161)
    snmp_credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("credential_profiles.id", ondelete="RESTRICT")
    )
    ssh_credential_id: Mapped[int | None] = mapped_column(
        ForeignKey("credential_profiles.id", ondelete="RESTRICT")
    )
    status: Mapped[str] = mapped_column(String(20), default="active")  # lifecycle (NetBox choices)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(Text, default="")
    # observed by polling
    oper_status: Mapped[str] = mapped_column(String(20), default="unknown")
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_polled: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    poll_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    device_type: Mapped[DeviceType] = relationship(lazy="joined")


class DeviceHostKey(Base):
    """An SSH host key an operator trusted for a device (after seeing its fingerprint)."""

    __tablename__ = "device_host_keys"
    __table_args__ = (UniqueConstraint("device_id", "key_type"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    key_type: Mapped[str] = mapped_column(String(40))  # ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa
    key_base64: Mapped[str] = mapped_column(Text)
    fingerprint: Mapped[str] = mapped_column(String(100))  # SHA256:... as ssh-keygen -l prints it
    trusted_by: Mapped[str] = mapped_column(String(100))
    trusted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MetricSample(Base):
    """Bounded history: a ring of ``metric_history_samples`` slots per device and metric."""

    __tablename__ = "metric_samples"
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(120), primary_key=True)
    slot: Mapped[int] = mapped_column(Integer, primary_key=True)
    ts: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    value: Mapped[float] = mapped_column(Float)


class Event(Base):
    __tablename__ = "events"
    __table_args__ = (Index("ix_events_device_at", "device_id", "at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64), default="")  # address the event came from
    origin: Mapped[str] = mapped_column(String(10))  # poll | trap | system
    kind: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRule(Base):
    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(30))
    threshold: Mapped[float | None] = mapped_column(Float)
    raise_after: Mapped[int] = mapped_column(Integer, default=1)
    clear_after: Mapped[int] = mapped_column(Integer, default=1)
    flap_threshold: Mapped[int] = mapped_column(Integer, default=4)
    severity: Mapped[str] = mapped_column(String(10), default="warning")
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device_type_id: Mapped[int | None] = mapped_column(ForeignKey("device_types.id", ondelete="CASCADE"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class AlertState(Base):
    """Per (rule, device, subject) memory of recent observations: hysteresis and flap detection."""

    __tablename__ = "alert_states"
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True)
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    consecutive_true: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_false: Mapped[int] = mapped_column(Integer, default=0)
    history: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Alert(Base):
    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_status_device", "status", "device_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(ForeignKey("alert_rules.id", ondelete="SET NULL"))
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    subject: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str] = mapped_column(String(30))
    severity: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(15))  # firing | acknowledged | resolved
    message: Mapped[str] = mapped_column(Text, default="")
    value: Mapped[float | None] = mapped_column(Float)
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(100))


class AlertEvent(Base):
    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    kind: Mapped[str] = mapped_column(String(30))  # opened|acknowledged|resolved|flapping|notified|...
    actor: Mapped[str] = mapped_column(String(100), default="system")
    detail: Mapped[str] = mapped_column(Text, default="")


class MaintenanceWindow(Base):
    __tablename__ = "maintenance_windows"
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    site_ids: Mapped[list[int] | None] = mapped_column(JSON)  # None: every site
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(100), default="")
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    token_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(40))  # HTTP method of a write, or auth.failed
    path: Mapped[str] = mapped_column(String(300))
    status_code: Mapped[int] = mapped_column(Integer)
    client: Mapped[str] = mapped_column(String(64), default="")
    site_ids: Mapped[list[int] | None] = mapped_column(JSON)
    detail: Mapped[str] = mapped_column(Text, default="")


class SeededDefault(Base):
    """A default the running system seeded once from a registry (``alert_rule:<kind>``), so that a
    default someone deleted is not seeded again at the next start."""

    __tablename__ = "seeded_defaults"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    seeded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
