"""The clerks' seat pages (``/seat/<name>``): reachable only with that seat's token
(:mod:`device_manager.web.seat_auth`). The token is entered once (or handed over in the URL *fragment*,
which never reaches a server log) and kept in a cookie scoped to the seat's path. Each desktop's
console is opened separately: a one-time VNC password set through ``vdi.console_tickets`` and a websockify
process of its own (:mod:`device_manager.web.vncproxy`)."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from device_manager.api.deps import audit_request, client_address
from device_manager.web import seat_tokens
from device_manager.web.seat_auth import SeatGrant, cookie_name, find_seat, seat_grant
from device_manager.web.state import web_state
from device_manager.web.static_files import NO_STORE, STATIC_DIR
from device_manager.web.vncproxy import ProxyError

__all__ = ["CONSOLE_TICKET_TTL_S", "SIDES", "router"]

CONSOLE_TICKET_TTL_S = 30
SIDES = ("gov", "internet")

router = APIRouter(include_in_schema=False)


@router.get("/seat/{name}", response_class=HTMLResponse)
def seat_page(request: Request, name: str) -> HTMLResponse:
    page = "seat.html" if seat_grant(request, name) else "seat_token.html"
    code = status.HTTP_200_OK if page == "seat.html" else status.HTTP_401_UNAUTHORIZED
    html = (STATIC_DIR / page).read_text(encoding="utf-8")
    return HTMLResponse(html, status_code=code, headers={**NO_STORE, "Referrer-Policy": "no-referrer"})


class SeatSession(BaseModel):
    token: str = Field(min_length=8, max_length=1024)


@router.post("/seat/{name}/session")
def seat_session(request: Request, response: Response, name: str, payload: SeatSession) -> dict[str, str]:
    seat = find_seat(request, name)
    secret = request.app.state.settings.secret_key.get_secret_value()
    grant = seat_tokens.verify(secret, payload.token, name) if seat else None
    if grant is None:
        audit_request(request, "auth.failed", 401, f"seat token for {name}")
        request.app.state.auth_failures.take(client_address(request))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this seat's token is wrong or expired")
    max_age = max(1, int(grant.expires_at - time.time()))
    response.set_cookie(
        cookie_name(name),
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
    states = web_state(request.app).desktop_states.of([seat]).get(seat.name, {})
    return JSONResponse({"seat": seat.name, "window": seat.window, "states": states}, headers=NO_STORE)


@router.post("/seat/{name}/consoles/{side}")
async def open_console(request: Request, seat: SeatGrant, side: str) -> JSONResponse:
    """A one-time console for one desktop: its own websockify and a fresh short-lived VNC password."""
    from vdi.conn import connection
    from vdi.console_tickets import issue_ticket
    from vdi.exceptions import VdiError

    if side not in SIDES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"seat {seat.name} has no desktop {side!r}")
    desktop = seat.desktop(side)
    proxies = web_state(request.app).proxies

    def open_() -> dict[str, Any]:
        with connection(seat.uri) as conn:
            ticket = issue_ticket(conn, desktop, ttl_s=CONSOLE_TICKET_TTL_S, protocol="vnc")
        proxy = proxies.open(f"seat {seat.name} {side}", ticket.host, ticket.port)
        # never the password
        audit_request(request, "console.open", 200, f"seat {seat.name} {side} desktop {desktop}")
        return {
            "side": side,
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
