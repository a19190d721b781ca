"""SSH operations against inventory devices: build targets from the database (decrypting the key only
in memory), run catalog operations or admin commands on many devices with bounded concurrency, and
record what happened in the job log. A changed host key raises an alert."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from device_manager.core.config import Settings
from device_manager.core.secrets import SecretBox
from device_manager.db.models import CredentialProfile, Device
from device_manager.errors import DomainError, Invalid
from device_manager.jobs.manager import JobContext, JobFailed
from device_manager.services import credentials
from device_manager.ssh import hostkeys, operations
from device_manager.ssh.client import CommandResult, SshTarget, run_command
from device_manager.ssh.errors import HostKeyChanged, HostKeyUnknown, SshError, Unreachable

__all__ = [
    "OUTPUT_KEEP",
    "DeviceRun",
    "plan_command",
    "plan_operation",
    "run_on_devices",
    "ssh_credential",
    "target_for",
]

OUTPUT_KEEP = 20_000  # characters of stdout kept in the job result per device


def ssh_credential(db: Session, box: SecretBox, device: Device) -> tuple[str, str]:
    """(username, private key) of the device's SSH credential profile; the key only in memory."""
    if device.ssh_credential_id is None:
        raise Invalid.field(
            "ssh_credential_id", f"device '{device.name}' has no SSH credential profile; assign one first"
        )
    profile = db.get(CredentialProfile, device.ssh_credential_id)
    if profile is None or profile.kind != "ssh":
        raise Invalid.field("ssh_credential_id", f"device '{device.name}': credential profile is not 'ssh'")
    secret = credentials.decrypt(box, profile)
    return profile.username, secret["private_key"]


def target_for(db: Session, box: SecretBox, device: Device, settings: Settings) -> SshTarget:
    username, key = ssh_credential(db, box, device)
    keys = hostkeys.trusted_keys(db, device.id)
    if not keys:
        raise HostKeyUnknown(
            f"device '{device.name}' ({device.address}): no trusted SSH host key; scan and trust it first "
            f"(GET/POST /api/v1/devices/{device.id}/ssh/host-key)"
        )
    return SshTarget(device.name, device.address, username, key, keys, settings.ssh_port)


@dataclass(frozen=True)
class DeviceRun:
    device_id: int
    name: str
    device_type: str
    command: str
    timeout_s: float
    label: str = ""
    disconnects: bool = False


def plan_operation(
    db: Session, devices: list[Device], operation: str, params: dict[str, Any], settings: Settings
) -> list[DeviceRun]:
    op = operations.get(operation)
    return [
        DeviceRun(
            d.id,
            d.name,
            d.device_type.slug,
            op.command(d.device_type.slug, params, settings.device_root(d.name)),
            op.timeout_s,
            f"operation {op.name}",
            op.disconnects,
        )
        for d in devices
    ]


def plan_command(devices: list[Device], command: str, timeout_s: float) -> list[DeviceRun]:
    if not command.strip():
        raise Invalid.field("command", "empty command")
    return [DeviceRun(d.id, d.name, d.device_type.slug, command, timeout_s, "admin command") for d in devices]


def run_on_devices(
    ctx: JobContext,
    box: SecretBox,
    settings: Settings,
    runs: list[DeviceRun],
    *,
    runner: Callable[..., CommandResult] = run_command,
) -> dict[str, Any]:
    """The work of an SSH job: each device at most ``ssh_concurrency`` at a time; the job fails when
    any device failed, naming each one and why."""
    done = 0
    results: dict[str, Any] = {}

    def one(run: DeviceRun) -> None:
        nonlocal done
        ctx.check_cancelled()
        problem: str | None = None
        target: SshTarget | None = None
        # read in a session of its own, closed before logging (SQLite: one writer at a time)
        with ctx.session_factory() as db:
            device = db.get(Device, run.device_id)
            if device is None:
                problem = "device was deleted"
            else:
                try:
                    target = target_for(db, box, device, settings)
                except (SshError, DomainError) as exc:
                    problem = exc.message
        if target is None:
            ctx.log(f"{run.name}: {problem}", "error")
            results[run.name] = {"ok": False, "error": problem}
            done += 1
            return
        ctx.log(f"{run.name}: running {run.label}")

        def out(stream: str, line: str) -> None:
            ctx.log(f"{run.name}: {line}", "output" if stream == "stdout" else "warning")

        try:
            result = runner(
                target,
                run.command,
                timeout=run.timeout_s,
                connect_timeout=settings.ssh_connect_timeout_s,
                on_output=out,
                cancel=ctx.cancel_event,
            )
        except HostKeyChanged as exc:
            with ctx.session_factory() as db, db.begin():
                device = db.get(Device, run.device_id)
                if device is not None:
                    hostkeys.raise_changed_alert(db, device, exc.seen_fingerprint, exc.trusted_fingerprint)
            ctx.log(exc.message, "error")
            results[run.name] = {"ok": False, "error": exc.message}
            return
        except Unreachable as exc:
            if run.disconnects:  # a reboot may drop the connection before an exit status
                ctx.log(f"{run.name}: connection closed (expected for this operation)")
                results[run.name] = {"ok": True, "exit_status": None}
            else:
                ctx.log(exc.message, "error")
                results[run.name] = {"ok": False, "error": exc.message}
            return
        except SshError as exc:
            ctx.log(exc.message, "error")
            results[run.name] = {"ok": False, "error": exc.message}
            return
        finally:
            done += 1
            ctx.progress(done / len(runs))
        ok = result.exit_status == 0
        ctx.log(
            f"{run.name}: exit status {result.exit_status} in {result.duration_s:.2f} s",
            "info" if ok else "error",
        )
        results[run.name] = {
            "ok": ok,
            "exit_status": result.exit_status,
            "stdout": result.stdout[-OUTPUT_KEEP:],
            "stderr": result.stderr[-OUTPUT_KEEP:],
            "duration_s": round(result.duration_s, 3),
        }

    ctx.progress(0.0, "ssh")
    with ThreadPoolExecutor(max_workers=max(1, min(settings.ssh_concurrency, len(runs)))) as pool:
        list(pool.map(one, runs))
    ctx.check_cancelled()
    failed = sorted(name for name, r in results.items() if not r["ok"])
    if failed:
        reasons = "; ".join(
            f"{n}: {results[n].get('error') or 'exit status ' + str(results[n].get('exit_status'))}"
            for n in failed
        )
        raise JobFailed(
            f"{len(failed)} of {len(runs)} device(s) failed: {reasons}", "ssh", {"devices": results}
        )
    return {"devices": results}
