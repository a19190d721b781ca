"""infra's settings: every environment variable is read in infra.settings, state lives in the one state
directory (vdi.paths), and host URIs can be overridden per host."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import infra.cli
from infra import settings
from tests.vdi.test_settings import environment_reads

INFRA = Path(__file__).resolve().parents[2] / "infra"
PASSES_THE_ENVIRONMENT_ON = {"infra/pulumi_env.py"}
"""Copies the whole environment for the Pulumi CLI it starts; reads no setting of its own."""


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(p.relative_to(INFRA.parent)): environment_reads(p)
        for p in sorted(INFRA.rglob("*.py"))
        if p.name != "settings.py" and environment_reads(p)
    }
    assert set(readers) == PASSES_THE_ENVIRONMENT_ON, readers


def test_a_host_uri_is_overridden_per_host_then_for_every_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI", raising=False)
    monkeypatch.delenv("HALLCLOUD_LIBVIRT_URI_RACK_2", raising=False)
    assert settings.libvirt_uri_override("rack-2") is None
    monkeypatch.setenv("HALLCLOUD_LIBVIRT_URI", "qemu+ssh://any/system")
    assert settings.libvirt_uri_override("rack-2") == "qemu+ssh://any/system"
    monkeypatch.setenv("HALLCLOUD_LIBVIRT_URI_RACK_2", "qemu+tcp://127.0.0.2/system")
    assert settings.libvirt_uri_override("rack-2") == "qemu+tcp://127.0.0.2/system"
    assert settings.libvirt_uri_override("local") == "qemu+ssh://any/system"


def test_hall_stack_keeps_its_stacks_in_the_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    used: list[Path] = []

    class FakeStack:
        def __init__(self, name: str, state_dir: Path, project_dir: Path | None = None) -> None:
            self.name, self.state_dir = name, state_dir
            used.append(state_dir)

        def exists(self) -> bool:
            return False

        def spec(self) -> Any:
            raise AssertionError("not reached")

    monkeypatch.setattr(infra.cli, "HallStack", FakeStack)
    monkeypatch.delenv("HALLCLOUD_STATE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    CliRunner().invoke(infra.cli.stack, ["summary"])
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path / "state"))
    CliRunner().invoke(infra.cli.stack, ["summary"])
    assert used == [tmp_path / ".local" / "state" / "hallcloud", tmp_path / "state"]
