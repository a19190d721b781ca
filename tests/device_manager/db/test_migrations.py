"""Alembic migrations: the baseline builds exactly the models' schema, seeds, and downgrades cleanly."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from device_manager.db import migrate
from device_manager.db.models import Base
from device_manager.db.session import make_engine


def test_schema_matches_models_and_downgrades(db_url):
    engine = make_engine(db_url)
    try:
        head = ScriptDirectory.from_config(migrate.alembic_config(engine)).get_current_head()
        assert migrate.current_revision(engine) == head
        with engine.connect() as conn:
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []  # no model change without a migration
        with engine.connect() as conn:
            types = conn.execute(text("SELECT count(*) FROM device_types")).scalar()
            rules = conn.execute(text("SELECT kind FROM alert_rules ORDER BY id")).scalars().all()
        assert types == 9
        assert rules == [
            "device_down",
            "supply_low",
            "paper_out",
            "door_open",
            "jam",
            "interface_down",
            "ups_on_battery",
            "disk_high",
        ]
        migrate.downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        migrate.upgrade(engine)  # and back up again, idempotently
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == head
        assert "devices" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


async def test_app_migrates_a_fresh_database_at_startup(tmp_path):
    from device_manager.core.config import Settings
    from device_manager.main import create_app

    settings = Settings(data_dir=tmp_path / "fresh", polling_enabled=False)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        assert migrate.current_revision(app.state.engine) is not None
        assert (tmp_path / "fresh" / "device_manager.db").exists()
