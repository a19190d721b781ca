"""Commands on one desktop take what its hall stack knows (host URI, backup pool) unless overridden."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

import hall
from infra.automation import HallStack, scratch_project
from infra.stack_defaults import desktop_defaults
from infra.testing.halls import small_hall_config

IMAGE = "hallcloud-test-x86_64"


def _stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, uri: str) -> HallStack:
    """A stack whose config is in a scratch project and whose state dir says it exists (no engine run)."""
    state = tmp_path / "state"
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(state))
    monkeypatch.delenv("HALLCLOUD_URI", raising=False)
    monkeypatch.delenv("HALLCLOUD_BACKUP_POOL", raising=False)
    window = {
        "number": 1,
        "name": "w1",
        "seat": {"gov": {"image": IMAGE}, "internet": {"image": IMAGE}},
        "snapshot_policy": "daily",
    }
    raw = small_hall_config(
        name="defaults hall",
        prefix="hc-d",
        uri=uri,
        octet=90,
        image=IMAGE,
        windows=[window],
        snapshot_policies={"daily": {"snapshot_schedule": "0 3 * * *", "backup_pool": "backup"}},
    )
    project = scratch_project(tmp_path / "project")
    monkeypatch.setenv("HALLCLOUD_PROJECT_DIR", str(project))
    hall_stack = HallStack("hall2", state, project_dir=project)
    hall_stack.write_config(raw)
    stacks = state / "pulumi" / "state" / ".pulumi" / "stacks" / "hallcloud"
    stacks.mkdir(parents=True)
    (stacks / "hall2.json").write_text("{}")
    return hall_stack


def test_a_desktop_of_a_stack_gets_its_host_uri_and_backup_pool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _stack(tmp_path, monkeypatch, "test:///default")
    found = desktop_defaults("hc-d-w001-gov")
    assert found is not None and found.source == "stack hall2"
    assert found.uri == "test:///default" and found.backup_pool == "hc-d-backup"
    assert desktop_defaults("hc-d-w009-gov") is None


def test_hall_desktop_backups_needs_no_pool_for_a_stack_desktop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    _stack(tmp_path, monkeypatch, "test:///default")
    result = CliRunner().invoke(hall.main, ["desktop", "backups", "hc-d-w001-internet"])
    # the pool and the URI came from the stack: test:///default has no pool of that name
    assert result.exit_code == 1, result.output
    assert "pool hc-d-backup: does not exist" in result.output
    explicit = CliRunner().invoke(hall.main, ["desktop", "backups", "hc-d-w001-internet", "--pool", "other"])
    assert "pool other: does not exist" in explicit.output
    unknown = CliRunner().invoke(hall.main, ["desktop", "backups", "somewhere-else"])
    assert unknown.exit_code == 2 and "no hall stack has it" in unknown.output
