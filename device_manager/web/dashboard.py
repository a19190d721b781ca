"""The IT dashboard's data (``/ui/api/...``): plain HTML + JS served from ``static/`` signs in with an
API token (kept in the tab's sessionStorage, sent as ``Authorization: Bearer``) and calls the public API
under ``/api/v1`` plus :func:`overview` here. Live updates come over SSE from :func:`stream`;
EventSource cannot send headers, so the page first trades its token for a one-time, 30-second stream
ticket. IT staff also issue seat tokens here (the seat page is ``seat_page.py``).

Seats come from the seats file (``Settings.seats_path``: ``hall stack seats-file -o PATH`` writes it
from the Pulumi stack, the seats' source of truth), read when the app starts.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from sse_starlette.sse import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from device_manager.api.deps import ItStaff, SessionDep, Viewer, audit_request
from device_manager.core.security import Principal
from device_manager.db.models import Alert, Area, Device, DeviceType, Site, Window
from device_manager.services import inventory
from device_manager.web import seat_tokens
from device_manager.web.seat_auth import find_seat, seat_visible
from device_manager.web.state import web_state
from device_manager.web.static_files import NO_STORE

__all__ = ["router"]

router = APIRouter(include_in_schema=False)


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
        for seat in web_state(app).seats
        if seat.site in slug_of.values() or (seat.site is None and principal.unscoped)
    ]
    states = web_state(app).desktop_states.of(seats)
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
    tickets = web_state(request.app).stream_tickets
    return {"ticket": tickets.issue(principal), "expires_in": tickets.ttl_s}


def _fingerprint(data: dict[str, Any]) -> str:
    live = {k: data[k] for k in ("devices", "alerts", "seats", "windows")}
    return json.dumps(live, sort_keys=True, default=str)


@router.get("/ui/api/stream")
async def stream(request: Request, ticket: str = Query(..., min_length=8)) -> EventSourceResponse:
    """Server-sent events: ``overview`` with the full picture whenever anything on it changes."""
    state = web_state(request.app)
    principal = state.stream_tickets.redeem(ticket)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "invalid or expired stream ticket")
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


@router.post("/ui/api/seats/{name}/token")
def issue_seat_token(
    request: Request, db: SessionDep, principal: ItStaff, name: str, payload: SeatTokenRequest | None = None
) -> dict[str, Any]:
    """A token that opens seat ``name``'s page (and only that), shown once."""
    seat = find_seat(request, name)
    if seat is None or not seat_visible(db, principal, seat):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"seat {name} does not exist")
    db.close()  # end the read transaction: on SQLite it would block the audit entry's write
    ttl_s = (payload or SeatTokenRequest()).ttl_hours * 3600
    token = seat_tokens.issue(request.app.state.settings.secret_key.get_secret_value(), seat.name, ttl_s)
    audit_request(request, "seat.token", 200, f"seat {seat.name}", principal)
    return {"seat": seat.name, "token": token, "expires_in": ttl_s, "url": f"/seat/{seat.name}#token={token}"}
