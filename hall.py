"""The ``hall`` command: a thin shell composing each package's own sub-commands.

Each package owns its commands in its ``cli`` module; this module only mounts them, importing a
package lazily so that ``hall images list`` does not pay for FastAPI or Pulumi imports.
"""

from __future__ import annotations

import importlib
from typing import Any

import click

# sub-command name -> ("module:attribute" of a click command or group, help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "images": ("images.cli:images", "image catalog, golden images and tiny test images"),
    "desktop": ("vdi.cli.desktop:desktop", "one desktop: snapshots, backups, restore, reset"),
    "backup": ("vdi.cli.backup:backup", "backups: verify (restore drill)"),
    "snapshots": ("vdi.cli.snapshots:snapshots", "snapshot policies and the scheduler"),
    "console": ("vdi.cli.console:console", "one-time console access to desktops and seats"),
    "stack": ("infra.cli:stack", "the hall as a Pulumi stack"),
    "window": ("device_manager.windows.cli:window", "service windows: setup and teardown"),
    "serve": ("device_manager.cli:serve", "run the device manager API"),
    "admin": ("device_manager.cli:admin", "administration: tokens, database"),
    "demo": ("device_manager.demo.cli:demo", "the demo hall on this machine (make demo / make demo-down)"),
}


# extra commands a higher package mounts into a lower package's group: `images/` imports nothing of
# ours, so the image commands that need libvirt (validate, boot-test, import) live in `vdi.cli.images`.
EXTRA_COMMANDS: dict[str, list[str]] = {
    "images": ["images.testimage.cli:build_test", "vdi.cli.images:image_commands"],
}

# what a higher package lends a lower package's commands, named, not imported: vdi's desktop commands take
# a desktop's URI and backup pool from its hall stack, which only infra can read
_STACK_DEFAULTS = ("vdi.cli.common:DEFAULTS_PROVIDER", "infra.stack_defaults:desktop_defaults")
WIRING: dict[str, list[tuple[str, str]]] = {"desktop": [_STACK_DEFAULTS], "backup": [_STACK_DEFAULTS]}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported only when used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = SUBCOMMANDS.get(cmd_name)
        if target is None:
            return None
        command = _import_target(target[0])
        if not isinstance(command, click.Command):
            return _unavailable(cmd_name, target[1])
        for setting, value in WIRING.get(cmd_name, []):
            module_name, _, attr = setting.partition(":")
            setattr(importlib.import_module(module_name), attr, value)
        if isinstance(command, click.Group):
            for extra in EXTRA_COMMANDS.get(cmd_name, []):
                found = _import_target(extra)
                subs = [found] if isinstance(found, click.Command) else list(found or [])
                for sub in subs:
                    command.add_command(sub)
        return command


def _import_target(target: str) -> Any:
    """The object named by "module:attribute", or None when its module is not part of this build."""
    module_name, attr = target.split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            return None
        raise
    return getattr(module, attr, None)


def _unavailable(name: str, help_text: str) -> click.Command:
    @click.command(name=name, help=f"{help_text} (not available in this build)")
    def missing() -> None:
        raise click.ClickException(f"'hall {name}' is not available in this build of HallCloud")

    return missing


@click.group(cls=LazyGroup, help="HallCloud: the private cloud of a government service hall.")
def main() -> None:
    pass


if __name__ == "__main__":
    main()
