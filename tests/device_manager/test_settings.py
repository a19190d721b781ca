"""The one Settings: every environment variable it reads is documented in device_manager/README.md, the
HALLCLOUD_OPS_* names of the former operations settings still work, and the data directory defaults to
HallCloud's state directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from device_manager.core.config import Settings, default_data_dir
from vdi.paths import STATE_DIR_ENV

README = Path(__file__).resolve().parents[2] / "device_manager" / "README.md"


def env_name(field: str) -> str:
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else f"HALLCLOUD_{field.upper()}"


def test_every_setting_is_documented() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [env_name(f) for f in Settings.model_fields if f"`{env_name(f)}`" not in text]
    assert missing == []


def test_environment_names_reach_their_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HALLCLOUD_OPS_STACK", "demo")
    monkeypatch.setenv("HALLCLOUD_OPS_SSH_CONCURRENCY", "3")
    monkeypatch.setenv("HALLCLOUD_OPS_SEAT_TEMPLATE", '{"gov": {"image": "kylin-v10"}}')
    monkeypatch.setenv("HALLCLOUD_NOVNC_DIR", str(tmp_path / "novnc"))
    monkeypatch.setenv("HALLCLOUD_CONSOLE_PROXY_LISTEN", "127.0.0.2")
    monkeypatch.setenv("HALLCLOUD_SEATS_FILE", str(tmp_path / "seats.yaml"))
    monkeypatch.setenv("SSH_CONCURRENCY", "99")  # unprefixed names are not ours
    settings = Settings()
    assert (settings.stack, settings.ssh_concurrency) == ("demo", 3)
    assert settings.seat_template == {"gov": {"image": "kylin-v10"}}
    assert settings.novnc_dir == tmp_path / "novnc" and settings.console_proxy_listen == "127.0.0.2"
    assert settings.seats_path == tmp_path / "seats.yaml"
    assert Settings(ssh_concurrency=5).ssh_concurrency == 5  # and by field name in code


def test_the_data_directory_is_in_the_state_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.delenv("HALLCLOUD_DATA_DIR", raising=False)
    settings = Settings()
    assert settings.data_dir == default_data_dir() == tmp_path / "state" / "device-manager"
    assert not settings.data_dir.exists()  # reading the settings creates nothing
    assert settings.prepare_data_dir().is_dir() and settings.data_dir.stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o700
    assert settings.seats_path == tmp_path / "state" / "device-manager" / "seats.yaml"
    assert (
        settings.sqlalchemy_url == f"sqlite:///{tmp_path / 'state' / 'device-manager' / 'device_manager.db'}"
    )


def test_the_settings_file_configures_every_controller_process(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(STATE_DIR_ENV, str(tmp_path / "state"))
    monkeypatch.delenv("HALLCLOUD_SETTINGS_FILE", raising=False)
    monkeypatch.delenv("HALLCLOUD_POLL_INTERVAL_S", raising=False)
    assert Settings().poll_interval_s == 60.0  # no file: the defaults
    data = tmp_path / "state" / "device-manager"
    data.mkdir(parents=True)
    (data / "controller.env").write_text("HALLCLOUD_POLL_INTERVAL_S=15\nHALLCLOUD_OPS_STACK=demo\n")
    assert (Settings().poll_interval_s, Settings().stack) == (15.0, "demo")  # the default file
    monkeypatch.setenv("HALLCLOUD_POLL_INTERVAL_S", "20")
    assert Settings().poll_interval_s == 20.0  # the environment wins over the file
    other = tmp_path / "other.env"
    other.write_text("HALLCLOUD_OPS_STACK=hall2\n")
    monkeypatch.setenv("HALLCLOUD_SETTINGS_FILE", str(other))
    assert Settings().stack == "hall2"  # a named file instead of the default one
