"""vdi's settings: every environment variable is read in vdi.settings, and the commands default to it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from vdi import paths, settings
from vdi.cli.console import console
from vdi.cli.desktop import desktop

VDI = Path(__file__).resolve().parents[2] / "vdi"


def environment_reads(path: Path) -> list[int]:
    """Lines of ``path`` that read the process environment (os.environ, os.getenv, click's envvar=)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb"):
            lines.append(node.lineno)
        elif isinstance(node, ast.keyword) and node.arg in ("envvar", "auto_envvar_prefix"):
            lines.append(node.value.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module == "os":
            lines += [node.lineno for alias in node.names if alias.name in ("environ", "getenv")]
    return lines


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(p.relative_to(VDI.parent)): environment_reads(p)
        for p in sorted(VDI.rglob("*.py"))
        if p.name != "settings.py" and environment_reads(p)
    }
    assert readers == {}


def test_the_vdi_commands_take_uri_and_backup_pool_from_the_environment() -> None:
    env = {"HALLCLOUD_URI": "test:///default", "HALLCLOUD_BACKUP_POOL": "hc-t-no-such-pool"}
    result = CliRunner().invoke(desktop, ["backups", "test"], env=env)
    assert result.exit_code == 1
    assert "pool hc-t-no-such-pool: does not exist" in result.output  # both came from the environment
    empty = CliRunner().invoke(desktop, ["backups", "test"], env={**env, "HALLCLOUD_BACKUP_POOL": ""})
    assert empty.exit_code == 2 and "desktop test: which backup pool?" in empty.output
    assert "pass --pool POOL" in empty.output


def test_hall_console_vv_reads_the_seats_file_the_environment_names(tmp_path: Path) -> None:
    seats = tmp_path / "seats.yaml"
    seats.write_text(yaml.safe_dump({"seats": [{"name": "w1", "gov": "a", "internet": "b"}]}))
    result = CliRunner().invoke(console, ["vv", "w9"], env={"HALLCLOUD_SEATS_FILE": str(seats)})
    assert result.exit_code == 1
    assert "seat w9: is not defined; defined: w1" in result.output
    assert settings.seats_file() == settings.DEFAULT_SEATS_FILE  # CliRunner restored the environment


def test_the_state_directory_is_the_one_vdi_paths_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HALLCLOUD_STATE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert paths.state_dir(create=False) == tmp_path / ".local" / "state" / "hallcloud"
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path / "elsewhere"))
    made = paths.state_dir()
    assert made == tmp_path / "elsewhere" and made.is_dir() and made.stat().st_mode & 0o777 == 0o700
