"""``hall window ...`` (mounted from device_manager.windows.cli): errors a person can act on, status."""

from __future__ import annotations

import json

from click.testing import CliRunner

from device_manager.core.config import Settings
from device_manager.core.secrets import generate_master_key
from device_manager.db import migrate
from device_manager.db.models import Site, Window
from device_manager.db.session import make_engine, make_session_factory
from device_manager.windows.cli import window


def test_window_commands(tmp_path, monkeypatch):
    monkeypatch.setenv("HALLCLOUD_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path / "state"))  # no hall stack there
    monkeypatch.setenv("HALLCLOUD_MASTER_KEY", generate_master_key())
    for name in ("HALLCLOUD_OPS_STACK", "HALLCLOUD_OPS_PULUMI_STATE_DIR", "HALLCLOUD_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()

    missing = runner.invoke(window, ["setup", "3"])
    assert missing.exit_code == 1 and "window 3 not found" in missing.output

    engine = make_engine(Settings().sqlalchemy_url)
    migrate.upgrade(engine)
    with make_session_factory(engine)() as db:
        site = Site(name="北区行政服务中心", slug="north")
        db.add(site)
        db.flush()
        db.add(Window(site_id=site.id, number=3, name="社保", services=["社保"]))
        db.commit()
    engine.dispose()

    unconfigured = runner.invoke(window, ["setup", "3"])
    assert unconfigured.exit_code == 1
    assert "no hall stack exists" in unconfigured.output
    assert (
        "HALLCLOUD_OPS_STACK" in unconfigured.output
        and "HALLCLOUD_OPS_PULUMI_STATE_DIR" in unconfigured.output
    )
    status = runner.invoke(window, ["status", "3", "--site", "north"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.output) == {"number": 3, "status": "absent"}  # nothing was started
