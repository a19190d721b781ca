"""Tiny test desktops with real consoles, for console and seat-page tests.

Each guest is the x86_64 test image (kernel + busybox initramfs, no disk) booted directly from copies
of its kernel and initramfs in a world-readable directory (QEMU runs as libvirt-qemu; no storage pool
needed). Its graphics carry a locked password (:func:`vdi.console_tickets.locked_graphics`), so tickets work.
Once booted, the guest paints its VGA text screen through the serial shell: a solid background colour
and a label, so a test can tell the desktops apart in a framebuffer. Everything is named ``hc-w-<hex>``
and removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from images.catalog import testimage_name
from vdi.conn import connect
from vdi.console_tickets import locked_graphics
from vdi.domain import define_domain, undefine_domain
from vdi.domain_plan import DomainRequest, KernelBoot, image_for, plan_domain
from vdi.serial_console import SerialConsole
from vdi.testguest import boot_to_marker, build_test_image

# Linux console colours (SGR 40-47) and the RGB QEMU's VGA palette shows them in
COLOURS = {"blue": (44, (0, 0, 168)), "red": (41, (168, 0, 0)), "green": (42, (0, 168, 0))}


@dataclass
class GuestSpec:
    name: str
    colour: str
    label: str
    spice: bool = False


@dataclass
class Guests:
    uri: str
    workdir: Path
    specs: list[GuestSpec]
    seconds: dict[str, float] = field(default_factory=dict)

    def screenshot(self, name: str) -> bytes:
        """``virDomainScreenshot`` of ``name``: PNG bytes."""
        conn = connect(self.uri)
        try:
            stream = conn.newStream(0)
            conn.lookupByName(name).screenshot(stream, 0, 0)
            chunks: list[bytes] = []

            def sink(_stream: object, data: bytes, _opaque: object) -> int:
                chunks.append(data)
                return 0

            stream.recvAll(sink, None)
            stream.finish()
            return b"".join(chunks)
        finally:
            conn.close()


def paint_command(colour: str, label: str) -> str:
    code = COLOURS[colour][0]
    # hide the cursor, no blanking, white on <colour>, clear (fills with the background), the label
    return (
        f"printf '\\033[?25l\\033[9;0]\\033[1;37;{code}m\\033[2J\\033[H\\n\\n\\n    {label}\\n\\n"
        f"    HALLCLOUD TEST DESKTOP\\n' > /dev/tty1"
    )


def _boot(uri: str, workdir: Path, spec: GuestSpec, seconds: dict[str, float], errors: list[str]) -> None:
    conn = connect(uri)
    try:
        image = build_test_image("x86_64")
        domain = plan_domain(
            image_for(testimage_name("x86_64")),
            DomainRequest(
                name=spec.name,
                kernel_boot=KernelBoot(str(workdir / "vmlinuz"), str(workdir / "initrd"), image.cmdline),
            ),
        )
        domain.graphics = [locked_graphics("vnc")] + ([locked_graphics("spice")] if spec.spice else [])
        define_domain(conn, domain)
        result, console = boot_to_marker(conn, spec.name, "x86_64")
        seconds[spec.name] = result.seconds
        try:
            console.command(paint_command(spec.colour, spec.label), "SH-EXIT", 30)
        finally:
            console.close()
    except Exception as exc:  # reported by the caller, which then cleans up
        errors.append(f"{spec.name}: {exc}")
    finally:
        conn.close()


def start_guests(uri: str, specs: list[GuestSpec]) -> Guests:
    """Define and boot ``specs`` in parallel; paint each screen. Call :func:`stop_guests` afterwards."""
    image = build_test_image("x86_64")
    workdir = Path(tempfile.mkdtemp(prefix="hc-w-guests-", dir="/tmp"))
    os.chmod(workdir, 0o755)
    for src, dst in ((image.kernel, "vmlinuz"), (image.initrd, "initrd")):
        shutil.copyfile(src, workdir / dst)
        os.chmod(workdir / dst, 0o644)
    guests = Guests(uri, workdir, specs)
    errors: list[str] = []
    threads = [threading.Thread(target=_boot, args=(uri, workdir, s, guests.seconds, errors)) for s in specs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        stop_guests(guests)
        raise RuntimeError("test desktops did not boot: " + "; ".join(errors))
    time.sleep(0.5)  # let QEMU redraw the painted text screen
    return guests


def stop_guests(guests: Guests) -> None:
    conn = connect(guests.uri)
    try:
        for spec in guests.specs:
            with contextlib.suppress(Exception):  # keep removing the others
                undefine_domain(conn, spec.name)
    finally:
        conn.close()
    shutil.rmtree(guests.workdir, ignore_errors=True)


def repaint(guests: Guests) -> None:
    """Paint every screen again (e.g. after a console write scrolled it)."""
    conn = connect(guests.uri)
    try:
        for spec in guests.specs:
            with SerialConsole(conn, spec.name) as console:
                console.command(paint_command(spec.colour, spec.label), "SH-EXIT", 30)
    finally:
        conn.close()


def hypervisor_uri() -> str:
    """``$HALLCLOUD_TEST_URI`` (default ``qemu:///system``), checked: these guests need no storage pool."""
    uri = os.environ.get("HALLCLOUD_TEST_URI", "qemu:///system")
    try:
        connect(uri).close()
    except Exception as exc:
        raise RuntimeError(f"console tests need libvirt at {uri}: {exc} (run `make setup`)") from exc
    return uri
