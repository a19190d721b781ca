"""Boot a test image with plain QEMU (no libvirt) and talk to it over its serial console.

:func:`direct_boot_argv` turns a :class:`~.build.TestImage` into a ``qemu-system-*`` command line
(TCG, the architecture's machine and CPU from :mod:`.arches`, the serial console on stdio, virtio disk
and ``n`` virtio NICs on QEMU user networking). :class:`SerialGuest` runs it and speaks the console
protocol of ``README.md``: wait for a line with a given prefix, send a command, read its answer.
"""

from __future__ import annotations

import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path
from types import TracebackType

from .arches import profile_for
from .build import TestImage

__all__ = ["ANSI_ESCAPE", "GuestTimeout", "SerialGuest", "clean_line", "copy_for_boot", "direct_boot_argv"]


# firmware (SeaBIOS, EDK2) writes terminal control sequences before the kernel starts
ANSI_ESCAPE = re.compile(r"\x1b(\[[0-9;?]*[A-Za-z]|[()][A-Z0-9]|[A-Za-z=>])")


class GuestTimeout(TimeoutError):
    """The guest did not print the expected line in time; the message holds the console tail."""


def clean_line(raw: str) -> str:
    """A console line without CR, terminal escapes and surrounding whitespace."""
    return ANSI_ESCAPE.sub("", raw).replace("\r", "").strip()


def direct_boot_argv(
    image: TestImage,
    disk: Path,
    *,
    nics: int = 2,
    memory_mib: int = 512,
    firmware: tuple[Path, Path] | None = None,
) -> list[str]:
    """The QEMU command line booting ``image`` with ``disk`` (use a copy: the guest writes to it).

    ``firmware`` is (code, writable vars copy) for architectures whose profile needs UEFI even for
    ``-kernel`` boot (loongarch64: QEMU cannot load Debian's zstd EFI zboot kernel by itself).
    """
    profile = profile_for(image.arch)
    if profile.needs_firmware and firmware is None:
        raise ValueError(
            f"{image.arch}: direct boot needs UEFI firmware (code, vars copy); "
            "get it with images.testimage.firmware.loongarch_firmware()"
        )
    argv = [
        profile.qemu_binary,
        "-machine",
        profile.machine,
        "-accel",
        "tcg",
        "-cpu",
        profile.cpu,
        "-m",
        str(memory_mib),
        "-nodefaults",
        "-display",
        "none",
        "-no-reboot",
        "-serial",
        "stdio",
        "-monitor",
        "none",
    ]
    if firmware is not None:
        code, nvram = firmware
        argv += [
            "-drive",
            f"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive",
            f"if=pflash,format=raw,unit=1,file={nvram}",
        ]
    argv += [
        "-kernel",
        str(image.kernel),
        "-initrd",
        str(image.initrd),
        "-append",
        image.cmdline,
        "-drive",
        f"file={disk},if=none,id=disk0,format=qcow2",
        "-device",
        "virtio-blk-pci,drive=disk0",
    ]
    for n in range(nics):
        # romfile= skips the iPXE option ROM: nothing here boots from the network
        argv += [
            "-netdev",
            f"user,id=net{n}",
            "-device",
            f"virtio-net-pci,netdev=net{n},mac=52:54:00:48:43:{n:02x},romfile=",
        ]
    return argv


class SerialGuest:
    """A running QEMU whose serial console is this object's pipe; always close it (or use ``with``)."""

    def __init__(self, argv: list[str], log: Path | None = None) -> None:
        self.argv = argv
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._log = log.open("w") if log else None
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            line = clean_line(raw.decode(errors="replace"))
            if self._log:
                self._log.write(line + "\n")
                self._log.flush()
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, prefix: str, timeout: float = 120.0) -> str:
        """The next console line starting with ``prefix``; GuestTimeout if none comes in time."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise queue.Empty
                line = self._queue.get(timeout=remaining)
            except queue.Empty:
                raise GuestTimeout(self._failure(f"no {prefix!r} within {timeout:.0f} s")) from None
            if line is None:
                raise GuestTimeout(self._failure(f"QEMU exited (code {self.proc.wait()}) before {prefix!r}"))
            self.lines.append(line)
            if line.startswith(prefix):
                return line

    def _failure(self, why: str) -> str:
        tail = "\n".join(self.lines[-20:])
        return f"{why}; argv: {' '.join(self.argv)}\nconsole tail:\n{tail}"

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def command(self, line: str, answer_prefix: str, timeout: float = 30.0) -> str:
        """Send one console command and return the first answer line starting with ``answer_prefix``."""
        self.send(line)
        return self.wait_for(answer_prefix, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """Stop QEMU (kill if it does not exit by itself) and release the pipes."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout)
            # the reader writes the log until QEMU's output ends: let it finish before closing
            self._reader.join(timeout)
        finally:
            for pipe in (self.proc.stdin, self.proc.stdout):
                if pipe:
                    pipe.close()
            if self._log:
                self._log.close()

    def __enter__(self) -> SerialGuest:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def copy_for_boot(source: Path, workdir: Path) -> Path:
    """A private copy of ``source`` in ``workdir`` (disks and UEFI vars are written by the guest)."""
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / source.name
    shutil.copyfile(source, target)
    return target
