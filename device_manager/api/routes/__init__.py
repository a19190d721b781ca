"""One module per resource; ``api_router`` mounts them under the API prefix."""

from __future__ import annotations

from fastapi import APIRouter

from device_manager.api.routes import (
    alert_rules,
    alerts,
    areas,
    audit_log,
    credential_profiles,
    device_types,
    devices,
    events,
    maintenance_windows,
    sites,
    tokens,
    windows,
)

__all__ = ["api_router"]

api_router = APIRouter()
for module in (
    sites,
    areas,
    windows,
    device_types,
    devices,
    credential_profiles,
    alert_rules,
    alerts,
    maintenance_windows,
    events,
    tokens,
    audit_log,
):
    api_router.include_router(module.router)
