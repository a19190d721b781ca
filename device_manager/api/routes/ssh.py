"""SSH: host-key scan and explicit trust per device, the operation catalog, operations as jobs, and
admin-only arbitrary commands (audited with the command text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, Field

from device_manager.api.deps import Admin, ItStaff, Operator, RuntimeDep, SessionDep, Viewer, note
from device_manager.api.routes.jobs import accepted, devices_of
from device_manager.jobs.schemas import JobAccepted
from device_manager.services import inventory
from device_manager.ssh import hostkeys, operations
from device_manager.ssh import service as ssh_service
from device_manager.ssh.client import HostKey
from device_manager.ssh.errors import SshError

router = APIRouter(tags=["ssh"])

__all__ = ["router"]


class KeyPublic(BaseModel):
    key_type: str
    fingerprint: str


class HostKeyState(BaseModel):
    device_id: int
    state: str  # unknown | trusted | changed
    presented: KeyPublic
    trusted: KeyPublic | None


class TrustRequest(BaseModel):
    fingerprint: str = Field(min_length=8, max_length=100, description="SHA256:... as shown by the scan")
    replace: bool = Field(False, description="replace a different trusted key (admin only)")


class OperationRequest(BaseModel):
    device_ids: list[int] = Field(min_length=1, max_length=1000)
    params: dict[str, Any] = Field(default_factory=dict)


class CommandRequest(BaseModel):
    device_ids: list[int] = Field(min_length=1, max_length=1000)
    command: str = Field(min_length=1, max_length=4000)
    timeout_s: float = Field(30.0, gt=0, le=3600)


def _public(key: HostKey | None) -> KeyPublic | None:
    return KeyPublic(key_type=key.key_type, fingerprint=key.fingerprint) if key else None


@router.get("/devices/{device_id}/ssh/host-key", response_model=HostKeyState)
def scan_host_key(db: SessionDep, principal: ItStaff, runtime: RuntimeDep, device_id: int) -> HostKeyState:
    device = inventory.get_device(db, principal, device_id)
    try:
        seen = hostkeys.scan(db, device, runtime.settings.ssh_port, runtime.settings.ssh_connect_timeout_s)
    except SshError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from None
    if seen.state == "changed" and seen.trusted is not None:
        hostkeys.raise_changed_alert(db, device, seen.key.fingerprint, seen.trusted.fingerprint)
        db.commit()
    presented = _public(seen.key)
    assert presented is not None
    return HostKeyState(
        device_id=device.id, state=seen.state, presented=presented, trusted=_public(seen.trusted)
    )


@router.post("/devices/{device_id}/ssh/trust", response_model=HostKeyState)
def trust_host_key(
    db: SessionDep,
    principal: ItStaff,
    runtime: RuntimeDep,
    request: Request,
    device_id: int,
    payload: TrustRequest,
) -> HostKeyState:
    device = inventory.get_device(db, principal, device_id)
    if payload.replace and not principal.at_least("admin"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "replacing a trusted host key needs the 'admin' role")
    try:
        seen = hostkeys.trust(
            db,
            device,
            payload.fingerprint,
            principal.actor,
            replace=payload.replace,
            port=runtime.settings.ssh_port,
            timeout=runtime.settings.ssh_connect_timeout_s,
        )
    except SshError as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, exc.message) from None
    db.commit()
    note(request, f"trusted {seen.key.key_type} {seen.key.fingerprint} for device {device.name}")
    presented = _public(seen.key)
    assert presented is not None
    return HostKeyState(device_id=device.id, state="trusted", presented=presented, trusted=presented)


@router.delete("/devices/{device_id}/ssh/host-key", status_code=status.HTTP_204_NO_CONTENT)
def forget_host_key(db: SessionDep, principal: Admin, device_id: int) -> None:
    hostkeys.forget(db, inventory.get_device(db, principal, device_id))
    db.commit()


@router.get("/ssh/operations")
def list_operations(_principal: Viewer, device_type: str | None = None) -> list[dict[str, Any]]:
    ops = operations.catalog_for(device_type) if device_type else list(operations.catalog().values())
    return [
        {
            "name": o.name,
            "description": o.description,
            "device_types": list(o.device_types),
            "params": list(o.params),
            "timeout_s": o.timeout_s,
            # read-only operations an operator may run; the rest need it_staff
            "role": "operator" if o.read_only else "it_staff",
        }
        for o in ops
    ]


@router.post("/ssh/operations/{name}", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def run_operation(
    db: SessionDep,
    principal: Operator,
    runtime: RuntimeDep,
    request: Request,
    name: str,
    payload: OperationRequest,
) -> JobAccepted:
    operation = operations.get(name)
    if not operation.read_only and not principal.at_least("it_staff"):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"operation '{name}' needs the 'it_staff' role")
    devices = devices_of(db, principal, payload.device_ids)
    runs = ssh_service.plan_operation(db, devices, name, payload.params, runtime.settings)
    single = devices[0] if len(devices) == 1 else None
    db.commit()  # end this request's transaction: on SQLite it holds the write lock the job needs
    job_id = runtime.jobs.submit(
        "ssh_operation",
        f"{operation.name} on "
        + ", ".join(d.name for d in devices[:5])
        + ("..." if len(devices) > 5 else ""),
        lambda ctx: ssh_service.run_on_devices(ctx, runtime.box, runtime.settings, runs),
        params={"operation": name, "params": payload.params, "device_ids": payload.device_ids},
        created_by=principal.actor,
        site_id=devices[0].site_id if len({d.site_id for d in devices}) == 1 else None,
        device_id=single.id if single else None,
    )
    note(request, f"ssh operation {name} on devices {payload.device_ids}: job {job_id}")
    return accepted(job_id, request.app.state.settings.api_v1_prefix)


@router.post("/ssh/commands", response_model=JobAccepted, status_code=status.HTTP_202_ACCEPTED)
def run_arbitrary_command(
    db: SessionDep, principal: Admin, runtime: RuntimeDep, request: Request, payload: CommandRequest
) -> JobAccepted:
    devices = devices_of(db, principal, payload.device_ids)
    runs = ssh_service.plan_command(devices, payload.command, payload.timeout_s)
    db.commit()  # end this request's transaction: on SQLite it holds the write lock the job needs
    job_id = runtime.jobs.submit(
        "ssh_command",
        "admin command on " + ", ".join(d.name for d in devices[:5]) + ("..." if len(devices) > 5 else ""),
        lambda ctx: ssh_service.run_on_devices(ctx, runtime.box, runtime.settings, runs),
        params={"device_ids": payload.device_ids, "timeout_s": payload.timeout_s},
        created_by=principal.actor,
        site_id=devices[0].site_id if len({d.site_id for d in devices}) == 1 else None,
        device_id=devices[0].id if len(devices) == 1 else None,
    )
    # the command text goes to the audit log (who ran what, where), not into the job's params
    note(request, f"admin command on devices {payload.device_ids} (job {job_id}): {payload.command[:2000]}")
    return accepted(job_id, request.app.state.settings.api_v1_prefix)
