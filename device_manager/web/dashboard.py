"""The web pages of the device manager: the IT dashboard (``/ui/``) and the clerks' seat pages
(``/seat/<name>``), with the few JSON endpoints only those pages use.

* Dashboard: plain HTML + JS served from ``static/``; it signs in with an API token (kept in the
  tab's sessionStorage, sent as ``Authorization: Bearer``) and calls the public API under ``/api/v1``
  plus :func:`overview` here. Live updates come over SSE from :func:`stream`; EventSource cannot send
  headers, so the page first trades its token for a one-time, 30-second stream ticket.
* Seat page: reachable only with that seat's token (:mod:`device_manager.web.seat_tokens`). The
  token is entered once (or handed over in the URL *fragment*, which never reaches a server log) and
  kept in an HttpOnly, SameSite=Strict cookie scoped to the seat's path. Each desktop's console is
  opened separately: a one-time VNC password set through ``vdi.consoles`` and a websockify process
  of its own (:mod:`device_manager.web.vncproxy`).

Seats come from ``app.state.seats`` (a :class:`vdi.seats.SeatDirectory`) when set, else from the
YAML file ``$HALLCLOUD_SEATS_FILE`` or ``<data_dir>/seats.yaml``, which ``hall stack seats-file -o PATH``
writes from the Pulumi stack (the seats' source of truth).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from device_manager.api.deps import ItStaff, SessionDep, Viewer, client_address
from device_manager.core.security import Principal
from device_manager.db.models import Alert, Area, Device, DeviceType, Site, Window
from device_manager.i18n import CATALOG_DIR, LANGUAGES
from device_manager.services import audit, inventory
from device_manager.web import seat_tokens
from device_manager.web.vncproxy import ConsoleProxies, ProxyError
from vdi.seats import Seat, SeatDirectory

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).resolve().parent / "static"
NOVNC_DIR = Path(os.environ.get("HALLCLOUD_NOVNC_DIR", "/usr/share/novnc"))
STREAM_TICKET_TTL_S = 30
CONSOLE_TICKET_TTL_S = 30
DESKTOP_STATE_CACHE_S = 3.0
DESKTOP_STATE_WAIT_S = 2.0
SeatStates = dict[str, dict[str, str]]


# -- state of the web layer ---------------------------------------------------------------------------


@dataclass
class WebState:
    proxies: ConsoleProxies
    stream_interval_s: float = 1.0
    stream_tickets: dict[str, tuple[Principal, float]] = field(default_factory=dict)
    desktop_cache: dict[str, tuple[float, dict[str, str]]] = field(default_factory=dict)
    desktop_queries: dict[str, concurrent.futures.Future[SeatStates]] = field(default_factory=dict)
    executor: concurrent.futures.ThreadPoolExecutor = field(
        default_factory=lambda: concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="desktop-states")
    )
    lock: threading.Lock = field(default_factory=threading.Lock)


def web_state(app: FastAPI) -> WebState:
    state: WebState | None = getattr(app.state, "web", None)
    if state is None:
        listen = os.environ.get("HALLCLOUD_CONSOLE_PROXY_LISTEN", "127.0.0.1")
        state = WebState(ConsoleProxies(listen))
        app.state.web = state
    return state


def seats_of(app: FastAPI) -> SeatDirectory:
    seats: SeatDirectory | None = getattr(app.state, "seats", None)
    if seats is None:
        default = app.state.settings.data_dir / "seats.yaml"
        seats = SeatDirectory.from_file(Path(os.environ.get("HALLCLOUD_SEATS_FILE", default)))
        app.state.seats = seats
    return seats


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        state: WebState | None = getattr(app.state, "web", None)
        if state is not None:
            state.proxies.close()
            state.executor.shutdown(wait=False, cancel_futures=True)


router = APIRouter(include_in_schema=False, lifespan=lifespan)


# -- files ----------------------------------------------------------------------------------------------


def _file_under(base: Path, relative: str) -> Path:
    path = (base / relative).resolve()
    if not path.is_relative_to(base.resolve()) or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return path


NO_STORE = {"Cache-Control": "no-store"}


@router.get("/")
def root() -> RedirectResponse:
    return RedirectResponse("/ui/")


@router.get("/ui/")
def dashboard_page() -> FileResponse:
    return FileResponse(STATIC_DIR / "dashboard.html", headers=NO_STORE)


@router.get("/ui/static/{path:path}")
def static_file(path: str) -> FileResponse:
    return FileResponse(_file_under(STATIC_DIR, path), headers=NO_STORE)


@router.get("/ui/novnc/{path:path}")
def novnc_file(path: str) -> FileResponse:
    if not NOVNC_DIR.is_dir():
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            f"noVNC is not installed at {NOVNC_DIR}; install Debian's novnc",
        )
    return FileResponse(_file_under(NOVNC_DIR, path))


@router.get("/ui/i18n/{language}.json")
def i18n_catalog(language: str) -> FileResponse:
    if language not in LANGUAGES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"language {language!r}; offered: {list(LANGUAGES)}")
    return FileResponse(CATALOG_DIR / f"{language}.json", media_type="application/json")


# -- dashboard data ---------------------------------------------------------------------------------------


def _query_states(uri: str, seats: list[Seat]) -> dict[str, dict[str, str]]:
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
        return {seat.name: {"gov": "unknown", "internet": "unknown"} for seat in seats}


def _desktop_states(app: FastAPI, seats: list[Seat]) -> dict[str, dict[str, str]]:
    """Desktop states per seat. libvirt is asked at most every few seconds per host, in the background:
    a slow or restarting libvirtd must not stall the dashboard, so this waits briefly and otherwise
    answers from the last known states (or ``unknown``)."""
    web = web_state(app)
    now = time.monotonic()
    by_uri: dict[str, list[Seat]] = {}
    for seat in seats:
        by_uri.setdefault(seat.uri, []).append(seat)
    with web.lock:
        for uri, group in by_uri.items():
            running = web.desktop_queries.get(uri)
            ages = [now - web.desktop_cache.get(s.name, (-1e9, {}))[0] for s in group]
            fresh = all(age < DESKTOP_STATE_CACHE_S for age in ages)
            if not fresh and (running is None or running.done()):
                web.desktop_queries[uri] = web.executor.submit(_query_states, uri, group)
        pending = [web.desktop_queries[u] for u in by_uri if u in web.desktop_queries]
    concurrent.futures.wait(pending, timeout=DESKTOP_STATE_WAIT_S)
    with web.lock:
        for uri in by_uri:
            future = web.desktop_queries.get(uri)
            if future is not None and future.done():
                del web.desktop_queries[uri]
                for name, states in future.result().items():
                    web.desktop_cache[name] = (time.monotonic(), states)
        unknown = {"gov": "unknown", "internet": "unknown"}
        return {s.name: web.desktop_cache.get(s.name, (0.0, unknown))[1] for s in seats}


def _has_jobs_api(app: FastAPI) -> bool:
    """Whether this build serves the jobs API (the dashboard hides its jobs panel otherwise)."""
    known: bool | None = getattr(app.state, "web_has_jobs", None)
    if known is None:
        prefix = app.state.settings.api_v1_prefix
        known = any(path.startswith(f"{prefix}/jobs") for path in app.openapi().get("paths", {}))
        app.state.web_has_jobs = known
    return known


def _overview(app: FastAPI, db: Session, principal: Principal) -> dict[str, Any]:
    sites = [s for s in db.scalars(select(Site).order_by(Site.name)) if principal.sees_site(s.id)]
    site_ids = {s.id for s in sites}
    areas = [a for a in db.scalars(select(Area).order_by(Area.name)) if a.site_id in site_ids]
    windows = [w for w in db.scalars(select(Window).order_by(Window.number)) if w.site_id in site_ids]
    devices = list(
        db.scalars(inventory.scoped(select(Device).order_by(Device.name), Device.site_id, principal))
    )
    alerts = list(
        db.scalars(
            inventory.scoped(
                select(Alert).join(Device, Device.id == Alert.device_id), Device.site_id, principal
            )
            .where(Alert.status != "resolved")
            .order_by(Alert.opened_at.desc())
        )
    )
    slug_of = {s.id: s.slug for s in sites}
    seats = [
        seat
        for seat in seats_of(app)
        if seat.site in slug_of.values() or (seat.site is None and principal.unscoped)
    ]
    states = _desktop_states(app, seats)
    has_jobs = _has_jobs_api(app)
    return {
        "me": {"name": principal.name, "role": principal.role},
        "features": {"jobs": has_jobs},
        "sites": [{"id": s.id, "name": s.name, "slug": s.slug} for s in sites],
        "areas": [{"id": a.id, "site_id": a.site_id, "name": a.name, "floor": a.floor} for a in areas],
        "windows": [
            {
                "id": w.id,
                "site_id": w.site_id,
                "area_id": w.area_id,
                "number": w.number,
                "name": w.name,
                "services": list(w.services or []),
            }
            for w in windows
        ],
        "devices": [
            {
                "id": d.id,
                "name": d.name,
                "site_id": d.site_id,
                "window_id": d.window_id,
                "area_id": d.area_id,
                "device_type": d.device_type.slug,
                "address": d.address,
                "status": d.status,
                "oper_status": d.oper_status,
                "last_seen": d.last_seen.isoformat() if d.last_seen else None,
            }
            for d in devices
        ],
        "alerts": [
            {
                "id": a.id,
                "device_id": a.device_id,
                "kind": a.kind,
                "severity": a.severity,
                "status": a.status,
                "message": a.message,
                "opened_at": a.opened_at.isoformat(),
            }
            for a in alerts
        ],
        "seats": [
            {
                "name": s.name,
                "site": s.site,
                "window": s.window,
                "gov": s.gov,
                "internet": s.internet,
                "states": states.get(s.name, {}),
            }
            for s in seats
        ],
        "device_types": sorted(db.scalars(select(DeviceType.slug))),
    }


@router.get("/ui/api/overview")
async def overview(request: Request, db: SessionDep, principal: Viewer) -> JSONResponse:
    """Everything the hall map needs in one call."""
    data = await run_in_threadpool(_overview, request.app, db, principal)
    return JSONResponse(data, headers=NO_STORE)


@router.post("/ui/api/stream-ticket")
def stream_ticket(request: Request, principal: Viewer) -> dict[str, Any]:
    state = web_state(request.app)
    now = time.monotonic()
    for key, (_p, expiry) in list(state.stream_tickets.items()):
        if expiry < now:
            del state.stream_tickets[key]
    ticket = secrets.token_urlsafe(24)
    state.stream_tickets[ticket] = (principal, now + STREAM_TICKET_TTL_S)
    return {"ticket": ticket, "expires_in": STREAM_TICKET_TTL_S}


def _fingerprint(data: dict[str, Any]) -> str:
    live = {k: data[k] for k in ("devices", "alerts", "seats", "windows")}
    return json.dumps(live, sort_keys=True, default=str)


@router.get("/ui/api/stream")
async def stream(request: Request, ticket: str = Query(..., min_length=8)) -> EventSourceResponse:
    """Server-sent events: ``overview`` with the full picture whenever anything on it changes."""
    state = web_state(request.app)
    entry = state.stream_tickets.pop(ticket, None)
    if entry is None or entry[1] < time.monotonic():
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired stream ticket")
    principal = entry[0]
    app = request.app

    def snapshot() -> dict[str, Any]:
        with app.state.session_factory() as db:
            return _overview(app, db, principal)

    async def events() -> AsyncIterator[dict[str, str]]:
        last = ""
        while True:
            data = await run_in_threadpool(snapshot)
            mark = _fingerprint(data)
            if mark != last:
                last = mark
                yield {"event": "overview", "data": json.dumps(data, default=str)}
            await asyncio.sleep(state.stream_interval_s)

    return EventSourceResponse(events(), ping=15, headers=NO_STORE)


class SeatTokenRequest(BaseModel):
    ttl_hours: int = Field(default=24 * 30, ge=1, le=24 * 400)


def _seat_visible(db: Session, principal: Principal, seat: Seat) -> bool:
    if seat.site is None or principal.unscoped:
        return principal.unscoped
    site = db.scalar(select(Site).where(Site.slug == seat.site))
    return site is not None and principal.sees_site(site.id)


@router.post("/ui/api/seats/{name}/token")
def issue_seat_token(
    request: Request, db: SessionDep, principal: ItStaff, name: str, payload: SeatTokenRequest | None = None
) -> dict[str, Any]:
    """A token that opens seat ``name``'s page (and only that), shown once."""
    seat = seats_of(request.app).find(name)
    if seat is None or not _seat_visible(db, principal, seat):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"seat {name} does not exist")
    db.close()  # end the read transaction: on SQLite it would block the audit entry's write
    ttl_s = (payload or SeatTokenRequest()).ttl_hours * 3600
    token = seat_tokens.issue(request.app.state.settings.secret_key.get_secret_value(), seat.name, ttl_s)
    audit.record(
        request.app.state.session_factory,
        principal=principal,
        action="seat.token",
        path=f"POST {request.url.path}",
        status_code=200,
        client=client_address(request),
        detail=f"seat {seat.name}",
    )
    return {"seat": seat.name, "token": token, "expires_in": ttl_s, "url": f"/seat/{seat.name}#token={token}"}


# -- seat pages ---------------------------------------------------------------------------------------------


def _cookie_name(seat: str) -> str:
    return f"hc_seat_{seat.replace('.', '_').replace('-', '_')}"


def _seat_grant(request: Request, name: str) -> Seat | None:
    seat = seats_of(request.app).find(name)
    token = request.cookies.get(_cookie_name(name), "")
    if seat is None or not token:
        return None
    secret = request.app.state.settings.secret_key.get_secret_value()
    return seat if seat_tokens.verify(secret, token, seat.name) else None


def _require_seat(request: Request, name: str) -> Seat:
    seat = _seat_grant(request, name)
    if seat is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this seat's token is missing, wrong or expired")
    return seat


SeatGrant = Annotated[Seat, Depends(_require_seat)]


@router.get("/seat/{name}", response_class=HTMLResponse)
def seat_page(request: Request, name: str) -> HTMLResponse:
    page = "seat.html" if _seat_grant(request, name) else "seat_token.html"
    code = status.HTTP_200_OK if page == "seat.html" else status.HTTP_401_UNAUTHORIZED
    html = (STATIC_DIR / page).read_text(encoding="utf-8")
    return HTMLResponse(html, status_code=code, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


class SeatSession(BaseModel):
    token: str = Field(min_length=8, max_length=1024)


@router.post("/seat/{name}/session")
def seat_session(request: Request, response: Response, name: str, payload: SeatSession) -> dict[str, str]:
    seat = seats_of(request.app).find(name)
    secret = request.app.state.settings.secret_key.get_secret_value()
    grant = seat_tokens.verify(secret, payload.token, name) if seat else None
    if grant is None:
        audit.record(
            request.app.state.session_factory,
            principal=None,
            action="auth.failed",
            path=f"POST {request.url.path}",
            status_code=401,
            client=client_address(request),
            detail=f"seat token for {name}",
        )
        request.app.state.auth_failures.take(client_address(request))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this seat's token is wrong or expired")
    max_age = max(1, int(grant.expires_at - time.time()))
    response.set_cookie(
        _cookie_name(name),
        payload.token,
        max_age=max_age,
        path=f"/seat/{name}",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return {"seat": name}


@router.get("/seat/{name}/info")
def seat_info(request: Request, seat: SeatGrant) -> JSONResponse:
    states = _desktop_states(request.app, [seat]).get(seat.name, {})
    return JSONResponse({"seat": seat.name, "window": seat.window, "states": states}, headers=NO_STORE)


@router.post("/seat/{name}/consoles/{role}")
async def open_console(request: Request, seat: SeatGrant, role: str) -> JSONResponse:
    """A one-time console for one desktop: its own websockify and a fresh short-lived VNC password."""
    from vdi.conn import connection
    from vdi.consoles import issue_ticket
    from vdi.exceptions import VdiError

    if role not in ("gov", "internet"):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"seat {seat.name} has no desktop {role!r}")
    desktop = seat.desktop(role)
    proxies = web_state(request.app).proxies

    def open_() -> dict[str, Any]:
        with connection(seat.uri) as conn:
            ticket = issue_ticket(conn, desktop, ttl_s=CONSOLE_TICKET_TTL_S, protocol="vnc")
        proxy = proxies.open(f"seat {seat.name} {role}", ticket.host, ticket.port)
        audit.record(
            request.app.state.session_factory,
            principal=None,
            action="console.open",
            path=f"POST {request.url.path}",
            status_code=200,
            client=client_address(request),
            detail=f"seat {seat.name} {role} desktop {desktop}",
        )  # never the password
        return {
            "role": role,
            "desktop": desktop,
            "port": proxy.port,
            "path": proxy.path,
            "password": ticket.password,
            "expires_in": CONSOLE_TICKET_TTL_S,
        }

    try:
        data = await run_in_threadpool(open_)
    except (VdiError, ProxyError) as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from None
    return JSONResponse(data, headers=NO_STORE)
