"""seeded defaults: which registry defaults (alert rules) the running system has seeded once.

The default alert rules of 0001 were seeded by that migration; they are recorded here so the startup
sync (``device_manager.services.seeds``) never seeds them again, even after someone deleted one. Rules
of newer kinds are seeded by that sync, from ``device_manager.alert_kinds``.

Revision ID: 0003_seeded_defaults
Revises: 0002_ops
Create Date: 2026-11-27 10:00:00
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from device_manager.db.models import UTCDateTime

revision = "0003_seeded_defaults"
down_revision = "0002_ops"
branch_labels = None
depends_on = None

# the kinds 0001 seeded a rule for (frozen here: migrations do not read the live vocabulary)
SEEDED_BY_0001 = (
    "device_down",
    "supply_low",
    "paper_out",
    "door_open",
    "jam",
    "interface_down",
    "ups_on_battery",
    "disk_high",
)


def upgrade() -> None:
    table = op.create_table(
        "seeded_defaults",
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("seeded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_seeded_defaults")),
    )
    now = dt.datetime.now(dt.UTC)
    op.bulk_insert(table, [{"key": f"alert_rule:{kind}", "seeded_at": now} for kind in SEEDED_BY_0001])


def downgrade() -> None:
    op.drop_table("seeded_defaults")
