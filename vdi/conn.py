"""Opening hypervisor connections and converting libvirt errors at the boundary.

Every libvirt call in vdi runs inside :func:`libvirt_errors`, which turns ``libvirt.libvirtError``
into the matching :mod:`vdi.exceptions` class naming the object concerned. :func:`connect` also
starts libvirt's default event loop once per process (console streams and keepalives need it) and
silences libvirt's habit of printing every error to stderr.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

import libvirt

from vdi.exceptions import (
    Conflict,
    ConnectionFailed,
    InvalidSpec,
    LibvirtOperationFailed,
    NotFound,
    UnsupportedOperation,
    VdiError,
)

__all__ = [
    "DEFAULT_URI",
    "connect",
    "connection",
    "convert",
    "inactive_xml",
    "is_local",
    "is_test_driver",
    "libvirt_errors",
]


DEFAULT_URI = "qemu:///system"

_event_loop_lock = threading.Lock()
_event_loop_started = False

_NOT_FOUND_CODES = {
    libvirt.VIR_ERR_NO_DOMAIN,
    libvirt.VIR_ERR_NO_NETWORK,
    libvirt.VIR_ERR_NO_STORAGE_POOL,
    libvirt.VIR_ERR_NO_STORAGE_VOL,
    libvirt.VIR_ERR_NO_DOMAIN_SNAPSHOT,
}
_INVALID_CODES = {
    libvirt.VIR_ERR_XML_ERROR,
    libvirt.VIR_ERR_XML_DETAIL,
    libvirt.VIR_ERR_CONFIG_UNSUPPORTED,
    libvirt.VIR_ERR_INVALID_ARG,
}


def _ignore_libvirt_errors(_ctx: object, _err: object) -> None:
    """libvirt prints every error to stderr by default; vdi reports them itself."""


def _start_event_loop() -> None:
    global _event_loop_started
    with _event_loop_lock:
        if _event_loop_started:
            return
        libvirt.registerErrorHandler(_ignore_libvirt_errors, None)
        libvirt.virEventRegisterDefaultImpl()

        def run() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=run, name="libvirt-event-loop", daemon=True).start()
        _event_loop_started = True


def connect(uri: str = DEFAULT_URI) -> libvirt.virConnect:
    """Open ``uri`` read-write; a :class:`ConnectionFailed` naming the URI and the usual fixes."""
    _start_event_loop()
    try:
        conn = libvirt.open(uri)
    except libvirt.libvirtError as exc:
        raise ConnectionFailed(
            f"hypervisor {uri}",
            f"cannot connect: {exc.get_error_message()}",
            "start the daemons (`make setup` starts virtlogd and libvirtd) or check the URI",
        ) from exc
    if conn is None:  # pragma: no cover - older bindings returned None instead of raising
        raise ConnectionFailed(f"hypervisor {uri}", "cannot connect", "check the URI")
    return conn


@contextmanager
def connection(uri: str = DEFAULT_URI) -> Iterator[libvirt.virConnect]:
    conn = connect(uri)
    try:
        yield conn
    finally:
        with suppress(libvirt.libvirtError):
            conn.close()


def is_local(conn: libvirt.virConnect) -> bool:
    """True when the hypervisor runs on this machine (its files are our files)."""
    parts = urlsplit(conn.getURI())
    return parts.hostname in (None, "", "localhost") and not parts.scheme.startswith("test")


def is_test_driver(conn: libvirt.virConnect) -> bool:
    return conn.getType().lower() == "test"


def inactive_xml(obj: Any, inactive_flag: int) -> str:
    """The persistent definition of a domain/network/pool (``XMLDesc`` with its INACTIVE flag).

    libvirt's test driver rejects the flag for networks; its live XML is then the definition.
    """
    try:
        return str(obj.XMLDesc(inactive_flag))
    except libvirt.libvirtError as exc:
        if exc.get_error_code() != libvirt.VIR_ERR_INVALID_ARG:
            raise
        return str(obj.XMLDesc(0))


@contextmanager
def libvirt_errors(obj: str, action: str, fix: str | None = None) -> Iterator[None]:
    """Convert a ``libvirtError`` raised inside into the matching :class:`VdiError` about ``obj``."""
    try:
        yield
    except VdiError:
        raise
    except libvirt.libvirtError as exc:
        raise convert(exc, obj, action, fix) from exc


KNOWN_FIXES = (
    (
        re.compile(r"/sys/fs/cgroup/cpuset/\S*tasks'?: No space left on device"),
        "the host's cgroup v1 cpuset partition for guests was empty when the guest started (several guests "
        "started at once on a host where none ran before); run `make setup` on the host (it installs the "
        "libvirt hook that prepares it before every start), then run the command again",
    ),
)
"""libvirt messages whose cause is known, and the fix to print with them."""


def _known_fix(message: str) -> str | None:
    return next((fix for pattern, fix in KNOWN_FIXES if pattern.search(message)), None)


def convert(exc: libvirt.libvirtError, obj: str, action: str, fix: str | None = None) -> VdiError:
    code = exc.get_error_code()
    message = exc.get_error_message() or str(exc)
    problem = f"cannot {action}: {message}"
    fix = _known_fix(message) or fix
    if code in _NOT_FOUND_CODES:
        return NotFound(obj, problem, fix or "check the name, or create it first")
    if code == libvirt.VIR_ERR_NO_SUPPORT:
        return UnsupportedOperation(
            obj,
            problem,
            fix
            or "the hypervisor's libvirt lacks this driver or feature; for storage, install "
            "libvirt-daemon-driver-storage and restart libvirtd",
        )
    if code == libvirt.VIR_ERR_OPERATION_INVALID and "already" in message:
        return Conflict(obj, problem, fix or "remove the existing object or choose another name")
    if code in _INVALID_CODES:
        return InvalidSpec(obj, problem, fix or "correct the definition")
    return LibvirtOperationFailed(obj, problem, fix, code=code)
