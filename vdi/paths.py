"""Where HallCloud keeps local state: the one definition every package uses.

``$HALLCLOUD_STATE_DIR`` when set (read by :mod:`vdi.settings`), else ``~/.local/state/hallcloud`` (the
XDG state directory). vdi keeps desktop locks, scheduler state and drill records there; infra keeps the
Pulumi file backend, stack workspaces and the passphrase there; the device manager keeps its SQLite
database, master key, log and pid files there. Downloads and built images are a cache, not state:
``images.settings`` names that directory (``$HALLCLOUD_CACHE_DIR``, default ``~/.cache/hallcloud``).
"""

from __future__ import annotations

from pathlib import Path

from vdi.settings import STATE_DIR_ENV, state_dir_from_env

__all__ = ["STATE_DIR_ENV", "default_state_dir", "state_dir"]


def default_state_dir() -> Path:
    """The state directory when ``$HALLCLOUD_STATE_DIR`` is unset."""
    return Path.home() / ".local" / "state" / "hallcloud"


def state_dir(*, create: bool = True) -> Path:
    """HallCloud's state directory (created, mode 0700, unless ``create`` is false)."""
    path = state_dir_from_env() or default_state_dir()
    if create and not path.is_dir():
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(0o700)
    return path
