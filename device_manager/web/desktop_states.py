"""The desktop-state cache behind the hall map and the seat pages.

libvirt is asked for a seat's desktop states at most every :data:`CACHE_S` seconds, per host URI, in a
small thread pool: a slow or restarting libvirtd must not stall the dashboard, so a caller waits
:data:`WAIT_S` at most and otherwise gets the last known states (or ``unknown``).
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time

from vdi.seats import Seat

__all__ = ["CACHE_S", "WAIT_S", "DesktopStates", "SeatStates"]

log = logging.getLogger(__name__)

CACHE_S = 3.0
WAIT_S = 2.0
SeatStates = dict[str, dict[str, str]]  # seat -> side (gov | internet) -> state
UNKNOWN = {"gov": "unknown", "internet": "unknown"}


def _query_states(uri: str, seats: list[Seat]) -> SeatStates:
    from vdi.conn import connection
    from vdi.exceptions import VdiError
    from vdi.seats import desktop_states

    try:
        with connection(uri) as conn:
            return {
                seat.name: {str(k): str(v) for k, v in desktop_states(conn, seat).items()} for seat in seats
            }
    except VdiError as exc:
        log.warning("desktop states from %s: %s", uri, exc)
        return {seat.name: dict(UNKNOWN) for seat in seats}


class DesktopStates:
    """Desktop states per seat, cached; :meth:`close` stops the background queries."""

    def __init__(self, cache_s: float = CACHE_S, wait_s: float = WAIT_S) -> None:
        self.cache_s = cache_s
        self.wait_s = wait_s
        self._cache: dict[str, tuple[float, dict[str, str]]] = {}
        self._queries: dict[str, concurrent.futures.Future[SeatStates]] = {}
        self._executor = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="desktop-states")
        self._lock = threading.Lock()

    def of(self, seats: list[Seat]) -> SeatStates:
        now = time.monotonic()
        by_uri: dict[str, list[Seat]] = {}
        for seat in seats:
            by_uri.setdefault(seat.uri, []).append(seat)
        with self._lock:
            for uri, group in by_uri.items():
                running = self._queries.get(uri)
                ages = [now - self._cache.get(s.name, (-1e9, {}))[0] for s in group]
                fresh = all(age < self.cache_s for age in ages)
                if not fresh and (running is None or running.done()):
                    self._queries[uri] = self._executor.submit(_query_states, uri, group)
            pending = [self._queries[u] for u in by_uri if u in self._queries]
        concurrent.futures.wait(pending, timeout=self.wait_s)
        with self._lock:
            for uri in by_uri:
                future = self._queries.get(uri)
                if future is not None and future.done():
                    del self._queries[uri]
                    for name, states in future.result().items():
                        self._cache[name] = (time.monotonic(), states)
            return {s.name: self._cache.get(s.name, (0.0, UNKNOWN))[1] for s in seats}

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
