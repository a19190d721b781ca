"""The demo hall's stack (``Pulumi.demo.yaml``) through the real Pulumi engine: up, and down without
leftovers.

:func:`stack_up` validates the demo config, checks every host, and runs ``pulumi up`` on the project's
``demo`` stack (state under HallCloud's state directory), printing a line per finished resource and,
when something fails, one summary. :func:`stack_down` destroys the stack, forgets it, and then removes
anything named ``demo-...`` that an interrupted run left on the hall's hosts outside the stack's state,
checking that nothing is left.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import click
import libvirt

from infra.automation import HallStack
from infra.spec import HallSpec
from infra.summary import host_uri
from vdi.conn import connection
from vdi.domain import undefine_domain
from vdi.exceptions import VdiError
from vdi.network import delete_network
from vdi.storage import delete_pool, delete_volume

__all__ = ["STACK", "demo_stack", "leftovers", "preflight", "remove_leftovers", "stack_down", "stack_up"]

STACK = "demo"
Say = Callable[[str], None]


def demo_stack() -> HallStack:
    return HallStack(STACK)


def leftovers(spec: HallSpec) -> dict[str, list[str]]:
    """Every domain, network, nwfilter, pool and volume on the hall's hosts named with the prefix."""
    prefix = f"{spec.prefix}-"
    found: dict[str, list[str]] = {}
    for host in spec.hosts:
        with connection(host_uri(spec, host)) as conn:
            names = [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)]
            names += [f"network {n.name()}" for n in conn.listAllNetworks() if n.name().startswith(prefix)]
            names += [f"nwfilter {f.name()}" for f in conn.listAllNWFilters() if f.name().startswith(prefix)]
            for pool in conn.listAllStoragePools():
                if pool.name().startswith(prefix):
                    names.append(f"pool {pool.name()}")
                elif pool.isActive():
                    names += [f"volume {pool.name()}/{v}" for v in pool.listVolumes() if v.startswith(prefix)]
        if names:
            found[host] = names
    return found


def remove_leftovers(spec: HallSpec, say: Say) -> None:
    """Remove what ``leftovers`` finds: objects of the demo an interrupted run made but never recorded."""
    prefix = f"{spec.prefix}-"
    for host in spec.hosts:
        with connection(host_uri(spec, host)) as conn:
            for dom in conn.listAllDomains():
                if dom.name().startswith(prefix):
                    say(f"  removing leftover domain {dom.name()}")
                    undefine_domain(conn, dom.name())
            for pool in conn.listAllStoragePools():
                if pool.name().startswith(prefix):
                    say(f"  removing leftover pool {pool.name()}")
                    delete_pool(conn, pool.name(), delete_volumes=True)
                elif pool.isActive():
                    for volume in pool.listVolumes():
                        if volume.startswith(prefix):
                            say(f"  removing leftover volume {pool.name()}/{volume}")
                            delete_volume(pool, volume)
            for net in conn.listAllNetworks():
                if net.name().startswith(prefix):
                    say(f"  removing leftover network {net.name()}")
                    delete_network(conn, net.name())
            for flt in conn.listAllNWFilters():
                if flt.name().startswith(prefix):
                    say(f"  removing leftover nwfilter {flt.name()}")
                    with contextlib.suppress(libvirt.libvirtError):
                        flt.undefine()


def preflight(spec: HallSpec) -> None:
    """Refuse to start when a host is unreachable or its libvirtd lacks the storage driver."""
    for host in spec.hosts:
        uri = host_uri(spec, host)
        try:
            with connection(uri) as conn:
                conn.listAllStoragePools()
        except VdiError as exc:
            raise click.ClickException(f"host {host} ({uri}): {exc}") from None
        except libvirt.libvirtError as exc:
            raise click.ClickException(
                f"host {host} ({uri}): libvirtd has no storage driver ({exc.get_error_message()}). "
                "Fix: install libvirt-daemon-driver-storage and restart libvirtd (a libvirtd started "
                "before the driver was installed does not load it)"
            ) from None


def stack_up(say: Say, *, quiet: bool = False) -> tuple[HallStack, dict[str, object]]:
    """``pulumi up`` the demo stack; returns the stack and its outputs (errors propagate)."""
    hall = demo_stack()
    spec = hall.spec()
    preflight(spec)
    say(
        f"demo hall: {len(spec.windows)} windows; stack {hall.name} ({hall.config_file.name}), "
        f"state in {hall.state_dir}"
    )
    started = time.monotonic()
    result = hall.up(progress=None if quiet else say)
    hall.select()  # `pulumi preview` in the project directory now works on the demo
    changes = ", ".join(f"{n} {op}" for op, n in sorted(result.changes.items()))
    say(f"pulumi up: {changes} in {time.monotonic() - started:.1f} s")
    return hall, result.outputs


def stack_down(say: Say, *, quiet: bool = False) -> HallSpec:
    """Destroy and forget the demo stack, remove what interrupted runs left; fail if anything is left."""
    hall = demo_stack()
    spec = hall.spec()
    if hall.exists():
        started = time.monotonic()
        hall.destroy(None if quiet else say)
        hall.remove()
        say(f"pulumi destroy: done in {time.monotonic() - started:.1f} s")
    else:
        hall.forget_secrets_salt()
        say("the demo stack does not exist; checking for leftovers only")
    if leftovers(spec):
        remove_leftovers(spec, say)
    left = leftovers(spec)
    if left:
        raise click.ClickException(f"libvirt objects of the demo are left: {left}")
    say(f"no libvirt object named {spec.prefix}-* is left on {', '.join(spec.hosts)}")
    return spec
