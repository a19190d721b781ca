"""``make demo`` / ``make demo-down``: the demo hall (``Pulumi.demo.yaml``) through the real Pulumi engine.

``python -m infra.demo up`` validates the demo stack config, runs ``pulumi up`` on the local libvirt with
a file backend in HallCloud's state directory (:func:`infra.settings.state_dir`; passphrase generated
into ``<state>/passphrase``) and prints the seats with their consoles. Running it again changes nothing.
``python -m infra.demo down`` destroys the stack and checks that no libvirt object named ``demo-...``
is left on any of the hall's hosts.
"""

from __future__ import annotations

import sys
import time

import click
import libvirt

from infra.automation import HallStack
from infra.config import spec_from_stack_file
from infra.settings import stack_config_file, state_dir
from infra.spec import HallConfigError, HallSpec
from infra.summary import host_uri, render_summary
from vdi.conn import connection
from vdi.exceptions import VdiError

__all__ = ["DEMO_CONFIG", "STACK", "down", "leftovers", "main", "preflight", "up"]


STACK = "demo"
DEMO_CONFIG = stack_config_file(STACK)


def leftovers(spec: HallSpec) -> dict[str, list[str]]:
    """Every domain, network, pool and volume on the hall's hosts whose name starts with the prefix."""
    prefix = f"{spec.prefix}-"
    found: dict[str, list[str]] = {}
    for host in spec.hosts:
        with connection(host_uri(spec, host)) as conn:
            names = [d.name() for d in conn.listAllDomains() if d.name().startswith(prefix)]
            names += [f"network {n.name()}" for n in conn.listAllNetworks() if n.name().startswith(prefix)]
            for pool in conn.listAllStoragePools():
                if pool.name().startswith(prefix):
                    names.append(f"pool {pool.name()}")
                elif pool.isActive():
                    names += [f"volume {pool.name()}/{v}" for v in pool.listVolumes() if v.startswith(prefix)]
        if names:
            found[host] = names
    return found


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


def _say(line: str) -> None:
    click.echo(line.rstrip("\n"))


@click.group()
def main() -> None:
    """The demo hall."""


@main.command()
@click.option("--quiet", is_flag=True, help="do not stream the engine's output")
def up(quiet: bool) -> None:
    """pulumi up the demo hall and print its seats and consoles."""
    try:
        spec = spec_from_stack_file(DEMO_CONFIG)
    except HallConfigError as exc:
        raise click.ClickException(f"{DEMO_CONFIG.name}: {exc}") from None
    preflight(spec)
    hall = HallStack(STACK, state_dir())
    hall.write_config(spec)
    click.echo(f"demo hall: {len(spec.windows)} windows; state in {hall.state_dir} (file backend)")
    started = time.monotonic()
    result = hall.up(on_output=None if quiet else _say)
    changes = {str(k): v for k, v in (result.summary.resource_changes or {}).items()}
    click.echo(f"\npulumi up: {changes} in {time.monotonic() - started:.1f} s\n")
    click.echo(render_summary(spec, {k: v.value for k, v in result.outputs.items()}))


@main.command()
@click.option("--quiet", is_flag=True, help="do not stream the engine's output")
def down(quiet: bool) -> None:
    """pulumi destroy the demo hall; fail if any demo-* libvirt object is left."""
    spec = spec_from_stack_file(DEMO_CONFIG)
    hall = HallStack(STACK, state_dir())
    if hall.exists():
        hall.write_config(spec)
        started = time.monotonic()
        hall.destroy(on_output=None if quiet else _say)
        hall.remove()
        click.echo(f"pulumi destroy: done in {time.monotonic() - started:.1f} s")
    else:
        click.echo("the demo stack does not exist; checking for leftovers only")
    left = leftovers(spec)
    if left:
        raise click.ClickException(f"libvirt objects of the demo are left: {left}")
    click.echo(f"no libvirt object named {spec.prefix}-* is left on {', '.join(spec.hosts)}")


if __name__ == "__main__":
    sys.exit(main())
