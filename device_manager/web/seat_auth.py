"""Who may open a seat's page: the holder of that seat's token (:mod:`device_manager.web.seat_tokens`),
kept in an HttpOnly, SameSite=Strict cookie scoped to the seat's path; and who may issue such a token
(IT staff of the seat's site)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from device_manager.core.security import Principal
from device_manager.db.models import Site
from device_manager.web import seat_tokens
from device_manager.web.state import web_state
from vdi.seats import Seat

__all__ = ["SeatGrant", "cookie_name", "find_seat", "seat_grant", "seat_visible"]


def cookie_name(seat: str) -> str:
    return f"hc_seat_{seat.replace('.', '_').replace('-', '_')}"


def find_seat(request: Request, name: str) -> Seat | None:
    return web_state(request.app).seats.find(name)


def seat_grant(request: Request, name: str) -> Seat | None:
    """The seat, when the request carries a genuine, unexpired token for it."""
    seat = find_seat(request, name)
    token = request.cookies.get(cookie_name(name), "")
    if seat is None or not token:
        return None
    secret = request.app.state.settings.secret_key.get_secret_value()
    return seat if seat_tokens.verify(secret, token, seat.name) else None


def _require_seat(request: Request, name: str) -> Seat:
    seat = seat_grant(request, name)
    if seat is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "this seat's token is missing, wrong or expired")
    return seat


SeatGrant = Annotated[Seat, Depends(_require_seat)]


def seat_visible(db: Session, principal: Principal, seat: Seat) -> bool:
    """Whether ``principal`` may see (and issue tokens for) ``seat``: its site's, or every site's."""
    if seat.site is None or principal.unscoped:
        return principal.unscoped
    site = db.scalar(select(Site).where(Site.slug == seat.site))
    return site is not None and principal.sees_site(site.id)
