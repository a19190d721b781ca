"""Idempotent domain operations: define (ensure), start, stop, undefine (with NVRAM and snapshots).

``define_domain`` accepts an existing domain whose definition matches and refuses one that differs;
``start``/``stop``/``undefine`` succeed when the domain is already in the wanted state.
"""

from __future__ import annotations

import time
from typing import Literal

import libvirt

from vdi.conn import inactive_xml, libvirt_errors
from vdi.exceptions import Conflict, NotFound
from vdi.models import Domain, Graphics, differences
from vdi.render import domain_xml, parse_domain

__all__ = [
    "UNDEFINE_FLAGS",
    "Outcome",
    "define_domain",
    "get_domain",
    "lookup_domain",
    "resume_domain",
    "running_definition",
    "start_domain",
    "stop_domain",
    "undefine_domain",
    "vnc_endpoint",
]


Outcome = Literal["created", "unchanged"]

UNDEFINE_FLAGS = (
    libvirt.VIR_DOMAIN_UNDEFINE_NVRAM
    | libvirt.VIR_DOMAIN_UNDEFINE_MANAGED_SAVE
    | libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA
    | libvirt.VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA
)


def _label(name: str) -> str:
    return f"domain {name}"


def lookup_domain(conn: libvirt.virConnect, name: str) -> libvirt.virDomain | None:
    try:
        return conn.lookupByName(name)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def get_domain(conn: libvirt.virConnect, name: str) -> libvirt.virDomain:
    with libvirt_errors(_label(name), "look up the domain"):
        dom = lookup_domain(conn, name)
    if dom is None:
        raise NotFound(_label(name), "does not exist", "define it first")
    return dom


def define_domain(conn: libvirt.virConnect, want: Domain) -> Outcome:
    """Define ``want`` unless an identical domain exists; refuse a different one of the same name."""
    label = _label(want.name)
    with libvirt_errors(label, "look up the domain"):
        existing = lookup_domain(conn, want.name)
    if existing is not None:
        with libvirt_errors(label, "read the domain"):
            # SECURE: without it libvirt omits console passwords, and password auth would read as off
            have = parse_domain(
                inactive_xml(existing, libvirt.VIR_DOMAIN_XML_INACTIVE | libvirt.VIR_DOMAIN_XML_SECURE)
            )
        diffs = differences(want, have)
        if diffs:
            raise Conflict(
                label,
                f"exists with a different definition ({'; '.join(diffs[:5])})",
                f"undefine it (`virsh undefine --nvram {want.name}`) or choose another name",
            )
        return "unchanged"
    with libvirt_errors(label, "define the domain", "correct the definition"):
        conn.defineXML(domain_xml(want))
    return "created"


def start_domain(conn: libvirt.virConnect, name: str, *, paused: bool = False) -> bool:
    """Start ``name``; False if it was already running."""
    dom = get_domain(conn, name)
    with libvirt_errors(_label(name), "start the domain", "read the QEMU log in /var/log/libvirt/qemu"):
        if dom.isActive():
            return False
        dom.createWithFlags(libvirt.VIR_DOMAIN_START_PAUSED if paused else 0)
    return True


def resume_domain(conn: libvirt.virConnect, name: str) -> None:
    dom = get_domain(conn, name)
    with libvirt_errors(_label(name), "resume the domain"):
        if dom.info()[0] == libvirt.VIR_DOMAIN_PAUSED:
            dom.resume()


def stop_domain(conn: libvirt.virConnect, name: str, *, graceful_seconds: float = 0) -> bool:
    """Stop ``name`` (ACPI shutdown first when ``graceful_seconds`` > 0); False if it was not running."""
    label = _label(name)
    with libvirt_errors(label, "look up the domain"):
        dom = lookup_domain(conn, name)
    if dom is None:
        return False
    with libvirt_errors(label, "stop the domain"):
        if not dom.isActive():
            return False
        if graceful_seconds > 0:
            dom.shutdown()
            deadline = time.monotonic() + graceful_seconds
            while time.monotonic() < deadline:
                if not dom.isActive():
                    return True
                time.sleep(0.2)
        try:
            dom.destroy()
        except libvirt.libvirtError as exc:
            if exc.get_error_code() != libvirt.VIR_ERR_OPERATION_INVALID:
                raise
    return True


def undefine_domain(conn: libvirt.virConnect, name: str) -> bool:
    """Stop and undefine ``name`` with its NVRAM and snapshot metadata; False if it did not exist."""
    label = _label(name)
    stop_domain(conn, name)
    with libvirt_errors(label, "undefine the domain"):
        dom = lookup_domain(conn, name)
        if dom is None:
            return False
        try:
            dom.undefineFlags(UNDEFINE_FLAGS)
        except libvirt.libvirtError as exc:
            # the test driver rejects flags it has no use for; plain undefine is then equivalent
            if exc.get_error_code() not in (libvirt.VIR_ERR_INVALID_ARG, libvirt.VIR_ERR_NO_SUPPORT):
                raise
            dom.undefine()
    return True


def running_definition(conn: libvirt.virConnect, name: str) -> Domain:
    """The live definition of ``name`` (VNC port, console pty and MACs filled in by libvirt)."""
    dom = get_domain(conn, name)
    with libvirt_errors(_label(name), "read the domain"):
        return parse_domain(dom.XMLDesc(0))


def vnc_endpoint(conn: libvirt.virConnect, name: str) -> Graphics | None:
    return next((g for g in running_definition(conn, name).graphics if g.type == "vnc"), None)
