"""What the hall stacks know about one desktop, for commands that act on it (``hall desktop ...``,
``hall backup verify``): its host's libvirt URI and its snapshot policy's backup pool.

Read from the stacks' config files only (no engine run, no libvirt call), so the lookup costs
milliseconds. The ``hall`` shell hands :func:`desktop_defaults` to vdi's commands
(:data:`vdi.cli.common.DEFAULTS_PROVIDER`).
"""

from __future__ import annotations

from infra.automation import HallStack, stack_names
from infra.hall_plan import plan_hall, scheduler_policies
from infra.spec import HallConfigError
from infra.summary import host_uri
from vdi.cli.common import DesktopDefaults

__all__ = ["desktop_defaults"]


def desktop_defaults(desktop: str) -> DesktopDefaults | None:
    """The first stack (by name) in the state directory that has a domain named ``desktop``."""
    for stack in stack_names():
        try:
            spec = HallStack(stack).spec()
        except HallConfigError:
            continue  # a stack whose config is invalid or missing knows nothing usable
        domain = next((d for d in plan_hall(spec).domains if d.name == desktop), None)
        if domain is None:
            continue
        policy = scheduler_policies(spec)["desktops"].get(desktop) or {}
        return DesktopDefaults(
            source=f"stack {stack}",
            uri=host_uri(spec, domain.host),
            backup_pool=policy.get("backup_pool"),
        )
    return None
