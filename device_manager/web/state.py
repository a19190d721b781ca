"""What the web pages keep while the app runs: the console proxies, the desktop-state cache, the
one-time stream tickets and the seats. Built in the app's lifespan (``device_manager.runtime``) and
closed there; routes reach it with :func:`web_state`."""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass, field

from fastapi import FastAPI, HTTPException, status

from device_manager.core.security import Principal
from device_manager.web.desktop_states import DesktopStates
from device_manager.web.vncproxy import ConsoleProxies
from vdi.seats import SeatDirectory

__all__ = ["STREAM_TICKET_TTL_S", "StreamTickets", "WebState", "web_state"]

STREAM_TICKET_TTL_S = 30


class StreamTickets:
    """One-time, short-lived tickets that let an EventSource (which cannot send headers) open the
    dashboard's stream as the principal that asked for it."""

    def __init__(self, ttl_s: float = STREAM_TICKET_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._tickets: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def issue(self, principal: Principal) -> str:
        now = time.monotonic()
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            for key, (_p, expiry) in list(self._tickets.items()):
                if expiry < now:
                    del self._tickets[key]
            self._tickets[ticket] = (principal, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> Principal | None:
        """The ticket's principal, once; None for an unknown, used or expired ticket."""
        with self._lock:
            entry = self._tickets.pop(ticket, None)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]


@dataclass
class WebState:
    proxies: ConsoleProxies
    seats: SeatDirectory
    desktop_states: DesktopStates = field(default_factory=DesktopStates)
    stream_tickets: StreamTickets = field(default_factory=StreamTickets)
    stream_interval_s: float = 1.0

    def close(self) -> None:
        self.proxies.close()
        self.desktop_states.close()


def web_state(app: FastAPI) -> WebState:
    runtime = getattr(app.state, "runtime", None)
    if runtime is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the device manager is not running its background services (start it with its lifespan)",
        )
    web: WebState = runtime.web
    return web
