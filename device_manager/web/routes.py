"""The web pages' router: static files, the dashboard's data and the seat pages (each its own module)."""

from __future__ import annotations

from fastapi import APIRouter

from device_manager.web import dashboard, seat_page, static_files

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
for _module in (static_files, dashboard, seat_page):
    router.include_router(_module.router)
