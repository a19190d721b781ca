"""The ``hall`` command: every sub-command target that hall.py names exists in this build."""

from __future__ import annotations

import click
import pytest
from click.testing import CliRunner

import hall


@pytest.mark.parametrize("name", sorted(hall.SUBCOMMANDS))
def test_every_subcommand_target_is_a_click_command(name: str) -> None:
    # _import_target answers None for a module that is not part of the build, which hall shows as
    # "not available": a renamed module must fail here instead
    target = hall.SUBCOMMANDS[name][0]
    assert isinstance(hall._import_target(target), click.Command), target


@pytest.mark.parametrize("target", sorted(t for targets in hall.EXTRA_COMMANDS.values() for t in targets))
def test_every_extra_command_target_is_a_command_or_a_list_of_them(target: str) -> None:
    found = hall._import_target(target)
    commands = [found] if isinstance(found, click.Command) else found
    assert isinstance(commands, list) and commands, target
    assert all(isinstance(c, click.Command) for c in commands), target


@pytest.mark.parametrize(
    ("group", "commands"),
    [
        (
            "desktop",
            [
                "snapshot",
                "snapshots",
                "restore",
                "delete-snapshot",
                "backup",
                "backups",
                "restore-backup",
                "reset",
            ],
        ),
        ("backup", ["verify"]),
        ("snapshots", ["scheduler", "status"]),
        ("console", ["ticket", "vv"]),
        ("stack", ["preview", "up", "refresh", "destroy", "summary", "seats-file", "policies"]),
    ],
)
def test_vdi_and_infra_groups_keep_every_command(group: str, commands: list[str]) -> None:
    result = CliRunner().invoke(hall.main, [group, "--help"])
    assert result.exit_code == 0, result.output
    for command in commands:
        assert f"  {command} " in result.output, (group, command)
