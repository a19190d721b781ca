"""What one running device manager owns besides answering requests: the job manager, the SNMP polling
loop and its poller, the trap receiver, the web pages' console proxies and desktop-state cache, the
seats, and the seat backend window setup uses.

:meth:`Runtime.start` builds and starts it in the app's lifespan (``main.py``) and :meth:`Runtime.stop`
shuts it down there; routes reach it as ``app.state.runtime`` (``api.deps.RuntimeDep``). ``hall
window`` builds a smaller one (settings, database, secret box, job manager) for its own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from device_manager.core.config import Settings
from device_manager.core.secrets import SecretBox
from device_manager.jobs.manager import JobManager

if TYPE_CHECKING:
    from device_manager.services.polling import PollingService
    from device_manager.web.state import WebState
    from device_manager.windows.seat import SeatBackend
    from vdi.seats import SeatDirectory

__all__ = ["Runtime"]

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    session_factory: sessionmaker[Session]
    box: SecretBox
    jobs: JobManager
    seat_backend: SeatBackend | None = None  # None: no hall stack configured (window setup refuses)
    on_step: Callable[[str], None] | None = None  # called as each window-setup step starts (tests)
    polling: PollingService | None = None
    web: WebState | None = None
    traps: Any = None  # the running TrapReceiver, when HALLCLOUD_TRAP_LISTEN is set
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, repr=False)

    @classmethod
    async def start(
        cls,
        settings: Settings,
        session_factory: sessionmaker[Session],
        box: SecretBox,
        polling: PollingService,
        *,
        seats: SeatDirectory | None = None,
        background: bool = True,
    ) -> Runtime:
        """Build everything and start the background work (the polling loop and the trap receiver run
        only when ``background`` and ``settings.polling_enabled``)."""
        from device_manager.web.state import WebState
        from device_manager.web.vncproxy import ConsoleProxies
        from device_manager.windows.service import seat_backend
        from vdi.seats import SeatDirectory

        jobs = await asyncio.to_thread(JobManager, session_factory, settings.job_workers)
        web = WebState(
            ConsoleProxies(settings.console_proxy_listen),
            seats if seats is not None else SeatDirectory.from_file(settings.seats_path),
        )
        runtime = cls(settings, session_factory, box, jobs, seat_backend(settings), polling=polling, web=web)
        try:
            if background and settings.polling_enabled:
                if polling.poller is None:
                    polling.poller = _default_poller(settings)
                runtime._tasks.append(asyncio.create_task(polling.run(runtime._stop)))
                runtime.traps = await _start_traps(settings, polling)
        except BaseException:
            await runtime.stop()
            raise
        return runtime

    async def stop(self) -> None:
        """Stop the background work, then release sockets, processes and threads."""
        self._stop.set()
        if self.traps is not None:
            await self.traps.stop()
            self.traps = None
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        close = getattr(self.polling.poller if self.polling else None, "close", None)
        if callable(close):
            close()  # the SNMP poller's sockets
        await asyncio.to_thread(self.jobs.shutdown)
        if self.web is not None:
            self.web.close()


def _default_poller(settings: Settings) -> Any:
    from device_manager.snmp.poller import Poller
    from device_manager.snmp.profiles import load_profiles

    return Poller(load_profiles(), concurrency=settings.poll_concurrency)


async def _start_traps(settings: Settings, polling: PollingService) -> Any:
    if not settings.trap_listen:
        return None
    from device_manager.snmp.traps import TrapReceiver

    host, _, port = settings.trap_listen.rpartition(":")
    communities, users = await asyncio.to_thread(polling.trap_credentials, settings.trap_communities)
    receiver = TrapReceiver()
    await receiver.start(host or "0.0.0.0", int(port), communities, users, polling.handle_trap)
    log.info("trap receiver on %s:%s (%d communities, %d v3 users)", host, port, len(communities), len(users))
    return receiver
