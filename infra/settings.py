"""Every environment variable infra reads is read here, and where infra keeps its files.

===================================  ===============================================  ===================
variable                             what                                             default
===================================  ===============================================  ===================
``HALLCLOUD_LIBVIRT_URI_<HOST>``     the libvirt URI of host ``<HOST>`` (upper case,  the host's ``uri``
                                     ``-`` as ``_``) for the providers, the summary   in ``hall:hosts``
                                     and the seats file: test harnesses with a
                                     private libvirtd
``HALLCLOUD_LIBVIRT_URI``            the same for every host                          (as above)
``HALLCLOUD_PROJECT_DIR``            the Pulumi project: ``Pulumi.yaml`` and the      the checkout
                                     stacks' ``Pulumi.<stack>.yaml`` files
``HALLCLOUD_STATE_DIR``              the state directory (:func:`vdi.paths.state_dir`  ``~/.local/state/
                                     reads it): the Pulumi file backend, its          hallcloud``
                                     passphrase and PULUMI_HOME, engine logs, locks
===================================  ===============================================  ===================

:mod:`infra.pulumi_env` hands the whole environment on to the Pulumi CLI (with its own ``PATH``,
``PULUMI_HOME`` and passphrase), so the providers it starts see these variables too.
"""

from __future__ import annotations

import os
from pathlib import Path

from vdi.paths import state_dir

__all__ = [
    "LIBVIRT_URI_ENV",
    "PROJECT_ROOT",
    "libvirt_uri_env",
    "libvirt_uri_override",
    "project_dir",
    "state_dir",
]

LIBVIRT_URI_ENV = "HALLCLOUD_LIBVIRT_URI"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The Pulumi project: the checkout's ``Pulumi.yaml`` and the stacks' configs ``Pulumi.<stack>.yaml``."""


def libvirt_uri_env(host: str) -> str:
    """The name of the variable overriding ``host``'s URI: ``HALLCLOUD_LIBVIRT_URI_<HOST>``."""
    return f"{LIBVIRT_URI_ENV}_{host.upper().replace('-', '_')}"


def libvirt_uri_override(host: str) -> str | None:
    """``$HALLCLOUD_LIBVIRT_URI_<HOST>``, else ``$HALLCLOUD_LIBVIRT_URI``, else None."""
    return os.environ.get(libvirt_uri_env(host)) or os.environ.get(LIBVIRT_URI_ENV) or None


def project_dir() -> Path:
    """``$HALLCLOUD_PROJECT_DIR``, else the checkout (:data:`PROJECT_ROOT`)."""
    value = os.environ.get("HALLCLOUD_PROJECT_DIR")
    return Path(value).expanduser() if value else PROJECT_ROOT
