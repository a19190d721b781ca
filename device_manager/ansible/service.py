"""Playbook runs as jobs: the inventory and variables come from the database (devices, their SSH
credential profile decrypted only into the private data dir, their trusted host keys), and runner
events become the job's log lines and progress."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from device_manager.ansible import adapter
from device_manager.ansible.playbooks import Playbook, get
from device_manager.core.config import Settings
from device_manager.core.secrets import SecretBox
from device_manager.db.models import Device
from device_manager.device_types import default_registry
from device_manager.errors import Invalid
from device_manager.jobs.manager import JobContext, JobFailed
from device_manager.runtime import Runtime
from device_manager.ssh import hostkeys
from device_manager.ssh.service import ssh_credential

__all__ = [
    "RunPlaybook",
    "check_request",
    "failure_message",
    "inventory_host",
    "result_summary",
    "run_in_job",
    "submit_playbook",
]

RunPlaybook = Callable[..., adapter.PlaybookResult]


def inventory_host(
    db: Session,
    box: SecretBox,
    device: Device,
    settings: Settings,
    variables: Mapping[str, Any] | None = None,
) -> adapter.InventoryHost:
    username, key = ssh_credential(db, box, device)
    keys = hostkeys.trusted_keys(db, device.id)
    if not keys:
        raise Invalid.field(
            "device_ids",
            f"device '{device.name}' has no trusted SSH host key; scan and trust it first "
            f"(GET/POST /api/v1/devices/{device.id}/ssh/host-key)",
        )
    host_vars: dict[str, Any] = {
        "hall_device_id": device.id,
        "hall_device_type": device.device_type.slug,
        "ansible_python_interpreter": settings.ansible_python_interpreter,
    }
    spec = default_registry().get(device.device_type.slug)
    if spec is not None and spec.window_setup is not None and spec.window_setup.configure is not None:
        # window_setup.yml runs this role on the device
        host_vars["hall_window_setup_role"] = spec.window_setup.configure.ansible_role
    root = settings.device_root(device.name)
    if root:
        host_vars["hall_root"] = root
    host_vars.update(variables or {})
    return adapter.InventoryHost(
        name=device.name,
        address=device.address,
        user=username,
        private_key=key,
        host_keys=keys,
        port=settings.ssh_port,
        groups=(device.device_type.slug,),
        variables=host_vars,
    )


def check_request(playbook: Playbook, devices: Sequence[Device], variables: Mapping[str, Any]) -> None:
    wrong = [d.name for d in devices if d.device_type.slug not in playbook.device_types]
    if wrong:
        raise Invalid.field(
            "device_ids",
            f"playbook '{playbook.name}' applies to {', '.join(playbook.device_types)}; "
            f"not to {', '.join(wrong)}",
        )
    unknown = sorted(set(variables) - set(playbook.variables))
    if unknown:
        raise Invalid.field(
            "variables",
            f"playbook '{playbook.name}' takes no variable(s) {', '.join(unknown)}; "
            f"known: {', '.join(playbook.variables)}",
        )


def run_in_job(
    ctx: JobContext,
    playbook: Playbook,
    hosts: tuple[adapter.InventoryHost, ...],
    *,
    extra_vars: Mapping[str, Any] | None = None,
    check: bool = False,
    settings: Settings,
    progress_span: tuple[float, float] = (0.0, 1.0),
    runner: RunPlaybook = adapter.run,
) -> adapter.PlaybookResult:
    """Run one playbook inside a job: events -> log lines and progress. Returns the result; the caller
    decides whether a failure fails the job (see :func:`raise_for_failures`)."""
    total = max(1, playbook.task_count * len(hosts))
    done = 0
    low, high = progress_span

    def on_event(event: adapter.RunnerEvent) -> None:
        nonlocal done
        if event.kind == "task_start":
            ctx.log(f"TASK {event.task}")
            return
        if event.kind in ("ok", "changed", "skipped", "failed", "unreachable"):
            done += 1
            ctx.progress(low + (high - low) * min(1.0, done / total))
        level = {"failed": "error", "unreachable": "error", "changed": "output"}.get(event.kind, "info")
        if event.kind == "skipped":
            return
        if event.text:
            ctx.log(event.text, level)
        elif event.host:
            ctx.log(f"{event.host}: {event.kind}: {event.task}", level)

    mode = " (check mode, diff)" if check else ""
    ctx.log(f"playbook {playbook.file}{mode} on {', '.join(h.name for h in hosts)}")
    result = runner(
        adapter.PlaybookRequest(
            playbook.file,
            hosts,
            dict(extra_vars or {}),
            check=check,
            diff=check,
            forks=settings.ansible_forks,
            connect_timeout_s=settings.ansible_timeout_s,
        ),
        on_event,
        ctx.cancel_event,
    )
    summary = ", ".join(
        f"{name}: ok={s.ok} changed={s.changed} failed={s.failed} unreachable={s.unreachable}"
        for name, s in sorted(result.hosts.items())
    )
    ctx.log(f"playbook {playbook.file}: {result.status} ({summary})")
    return result


def failure_message(playbook: Playbook, result: adapter.PlaybookResult) -> str:
    if result.failures:
        parts = []
        for f in result.failures:
            what = "unreachable" if f.kind == "unreachable" else f"task '{f.task}' failed"
            parts.append(f"{f.host}: {what}: {f.message}")
        return f"playbook {playbook.name}: " + "; ".join(parts)
    return f"playbook {playbook.name}: ansible-runner finished with status {result.status} (rc {result.rc})"


def result_summary(result: adapter.PlaybookResult) -> dict[str, Any]:
    return {
        "status": result.status,
        "changed": result.changed,
        "hosts": {n: vars(s) for n, s in result.hosts.items()},
        "failures": [
            {"host": f.host, "task": f.task, "kind": f.kind, "message": f.message} for f in result.failures
        ],
    }


def submit_playbook(
    runtime: Runtime,
    db: Session,
    name: str,
    devices: Sequence[Device],
    *,
    check: bool = False,
    variables: Mapping[str, Any] | None = None,
    created_by: str = "",
) -> int:
    playbook = get(name)
    variables = dict(variables or {})
    check_request(playbook, devices, variables)
    hosts = tuple(inventory_host(db, runtime.box, d, runtime.settings) for d in devices)
    sites = {d.site_id for d in devices}
    db.commit()  # end the caller's transaction: on SQLite it holds the write lock the job needs

    def work(ctx: JobContext) -> dict[str, Any]:
        result = run_in_job(
            ctx, playbook, hosts, extra_vars=variables, check=check, settings=runtime.settings
        )
        summary = result_summary(result)
        if not result.ok:
            raise JobFailed(failure_message(playbook, result), "playbook", summary)
        return summary

    return runtime.jobs.submit(
        "playbook",
        f"playbook {name}{' (check)' if check else ''} on {', '.join(d.name for d in devices[:5])}",
        work,
        params={
            "playbook": name,
            "check": check,
            "device_ids": [d.id for d in devices],
            "variables": variables,
        },
        created_by=created_by,
        site_id=sites.pop() if len(sites) == 1 else None,
        device_id=devices[0].id if len(devices) == 1 else None,
    )
