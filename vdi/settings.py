"""Every environment variable vdi reads is read here, and nowhere else in vdi.

=========================  ==================================================  ============================
variable                   what                                                default
=========================  ==================================================  ============================
``HALLCLOUD_URI``          libvirt URI of the ``hall desktop|backup|snapshots  ``qemu:///system``
                           |console|images`` commands (``--uri`` overrides)
``HALLCLOUD_BACKUP_POOL``  the storage tier's backup pool of the backup        none: ``--pool`` is required
                           commands (``--pool`` overrides)
``HALLCLOUD_SEATS_FILE``   the seats YAML ``hall console vv`` reads            ``.hallcloud/seats.yaml``
                           (``hall stack seats-file`` writes it)
``HALLCLOUD_STATE_DIR``    HallCloud's state directory (:mod:`vdi.paths`)      ``~/.local/state/hallcloud``
``HALLCLOUD_FAILPOINTS``   fault-injection points to hold at, comma-separated  none
                           (:mod:`vdi.failpoints`; tests of Ctrl-C and faults)
=========================  ==================================================  ============================

An empty variable counts as unset. The functions read the environment when called, so a command run in a
changed environment (tests, ``CliRunner(env=...)``) sees the change.
"""

from __future__ import annotations

import os
from pathlib import Path

from vdi.conn import DEFAULT_URI

__all__ = [
    "BACKUP_POOL_ENV",
    "DEFAULT_SEATS_FILE",
    "FAILPOINTS_ENV",
    "SEATS_FILE_ENV",
    "STATE_DIR_ENV",
    "URI_ENV",
    "backup_pool",
    "failpoints",
    "libvirt_uri",
    "libvirt_uri_from_env",
    "seats_file",
    "state_dir_from_env",
]

URI_ENV = "HALLCLOUD_URI"
BACKUP_POOL_ENV = "HALLCLOUD_BACKUP_POOL"
SEATS_FILE_ENV = "HALLCLOUD_SEATS_FILE"
STATE_DIR_ENV = "HALLCLOUD_STATE_DIR"
FAILPOINTS_ENV = "HALLCLOUD_FAILPOINTS"
DEFAULT_SEATS_FILE = Path(".hallcloud/seats.yaml")


def _get(name: str) -> str | None:
    return os.environ.get(name) or None


def libvirt_uri_from_env() -> str | None:
    """``$HALLCLOUD_URI``, or None when unset."""
    return _get(URI_ENV)


def libvirt_uri() -> str:
    """The libvirt URI vdi's commands use by default: ``$HALLCLOUD_URI``, else ``qemu:///system``."""
    return libvirt_uri_from_env() or DEFAULT_URI


def backup_pool() -> str | None:
    """``$HALLCLOUD_BACKUP_POOL``, or None when unset."""
    return _get(BACKUP_POOL_ENV)


def seats_file() -> Path:
    """``$HALLCLOUD_SEATS_FILE``, else ``.hallcloud/seats.yaml``."""
    value = _get(SEATS_FILE_ENV)
    return Path(value) if value else DEFAULT_SEATS_FILE


def state_dir_from_env() -> Path | None:
    """``$HALLCLOUD_STATE_DIR`` (``~`` expanded), or None when unset; :func:`vdi.paths.state_dir` decides."""
    value = _get(STATE_DIR_ENV)
    return Path(value).expanduser() if value else None


def failpoints() -> frozenset[str]:
    """The names in ``$HALLCLOUD_FAILPOINTS`` (comma-separated)."""
    return frozenset(p.strip() for p in (_get(FAILPOINTS_ENV) or "").split(",") if p.strip())
