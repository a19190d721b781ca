"""The guest's serial console over ``virDomainOpenConsole``: wait for markers, send lines.

Works on local and remote URIs alike (the stream travels over the libvirt connection). Open the
console before the guest prints what you wait for: start the domain paused, open the console, then
resume (see :func:`vdi.domain.start_domain`), so no output is lost.

The tiny test image's ``/init`` prints ``GUEST-READY <arch>`` and then runs a command loop on the
console: ``hc write TEXT`` answers ``MARKER-WRITTEN TEXT``; ``hc read`` answers ``MARKER TEXT``.
"""

from __future__ import annotations

import contextlib
import re
import time
from types import TracebackType

import libvirt

from vdi.conn import libvirt_errors
from vdi.exceptions import ConsoleError, ConsoleTimeout

__all__ = ["SerialConsole"]

POLL_SECONDS = 0.05


class SerialConsole:
    """A console stream on a running domain, with a transcript of everything received."""

    def __init__(self, conn: libvirt.virConnect, domain_name: str) -> None:
        self.conn = conn
        self.domain_name = domain_name
        self.label = f"console of domain {domain_name}"
        self._stream: libvirt.virStream | None = None
        self._buffer = bytearray()
        self._consumed = 0
        self._eof = False

    def open(self) -> SerialConsole:
        with libvirt_errors(self.label, "open the console", "start the domain first (it must be running)"):
            dom = self.conn.lookupByName(self.domain_name)
            stream = self.conn.newStream(libvirt.VIR_STREAM_NONBLOCK)
            dom.openConsole(None, stream, libvirt.VIR_DOMAIN_CONSOLE_FORCE)
        self._stream = stream
        return self

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.finish()
            except libvirt.libvirtError:
                with contextlib.suppress(libvirt.libvirtError):
                    stream.abort()

    def __enter__(self) -> SerialConsole:
        return self.open() if self._stream is None else self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def transcript(self) -> str:
        """Everything received so far, decoded leniently."""
        return self._buffer.decode("utf-8", errors="replace")

    def _pump(self) -> bool:
        """Read what is available; True if anything arrived."""
        if self._stream is None:
            raise ConsoleError(self.label, "is not open", "call open() first")
        if self._eof:
            return False
        try:
            data = self._stream.recv(65536)
        except libvirt.libvirtError as exc:
            raise ConsoleError(
                self.label,
                f"read failed: {exc.get_error_message()}",
                "check that the domain is still running",
            ) from exc
        if data == -2:  # EAGAIN: nothing available yet
            return False
        if isinstance(data, bytes) and data:
            self._buffer.extend(data)
            return True
        self._eof = True
        return False

    def wait_for(self, pattern: str | re.Pattern[str], timeout: float) -> re.Match[str]:
        """Wait until ``pattern`` appears in output not yet consumed by an earlier wait; consume it."""
        regex = re.compile(re.escape(pattern)) if isinstance(pattern, str) else pattern
        deadline = time.monotonic() + timeout
        while True:
            text = self.transcript
            match = regex.search(text, self._consumed)
            if match:
                self._consumed = match.end()
                return match
            if self._eof:
                raise ConsoleError(
                    self.label,
                    f"closed before {regex.pattern!r} appeared; last output: {_tail(text)!r}",
                    "check the guest's kernel command line and the QEMU log",
                )
            if time.monotonic() >= deadline:
                raise ConsoleTimeout(
                    self.label,
                    f"{regex.pattern!r} did not appear within {timeout:.0f} s; last output: {_tail(text)!r}",
                    "boot the guest by hand (`virsh console`) to see where it stops",
                    output=text,
                )
            if not self._pump():
                time.sleep(POLL_SECONDS)

    def send_line(self, line: str) -> None:
        """Send ``line`` and a carriage return to the guest."""
        if self._stream is None:
            raise ConsoleError(self.label, "is not open", "call open() first")
        data = (line + "\r").encode()
        deadline = time.monotonic() + 10
        while data:
            try:
                sent = self._stream.send(data)
            except libvirt.libvirtError as exc:
                raise ConsoleError(
                    self.label,
                    f"write failed: {exc.get_error_message()}",
                    "check that the domain is still running",
                ) from exc
            if sent == -2:
                if time.monotonic() > deadline:
                    raise ConsoleTimeout(self.label, "the guest does not accept input", None)
                time.sleep(POLL_SECONDS)
                continue
            data = data[sent:]

    def command(self, line: str, answer: str | re.Pattern[str], timeout: float = 30) -> re.Match[str]:
        """Send ``line`` and wait for ``answer``."""
        self.send_line(line)
        return self.wait_for(answer, timeout)


def _tail(text: str, n: int = 400) -> str:
    return text[-n:]
