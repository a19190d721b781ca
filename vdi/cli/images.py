"""The image commands that need libvirt; ``hall.py`` mounts ``image_commands`` into ``hall images``.

Each command takes ``--uri`` (default ``$HALLCLOUD_URI`` or ``qemu:///system``) and turns
:class:`vdi.exceptions.VdiError` into a one-line error and a nonzero exit.
"""

from __future__ import annotations

from pathlib import Path

import click

from images.catalog import CatalogError, load_catalog
from images.profiles import ProfileError, known_arches
from vdi.cancel import EXIT_CODES, interruptible, signal_of
from vdi.cli.common import uri_option
from vdi.conn import connection
from vdi.domain_plan import image_for
from vdi.exceptions import VdiError
from vdi.golden import import_catalog_image
from vdi.models import Pool
from vdi.storage import default_pool_path, ensure_pool
from vdi.testguest import boot_test, build_test_image
from vdi.validate import validate_entries

__all__ = ["boot_test_command", "image_commands", "import_command", "validate"]


@click.command(
    "validate", help="Render every catalog entry's domain XML, schema-check it and define/undefine it."
)
@uri_option
def validate(uri: str) -> None:
    try:
        manifests = load_catalog()
        with connection(uri) as conn:
            results = validate_entries(conn, manifests)
    except (VdiError, CatalogError, ProfileError) as exc:
        raise click.ClickException(str(exc)) from exc
    for r in results:
        click.echo(f"{'ok  ' if r.ok else 'FAIL'} {r.name}: {r.detail}")
    passed = sum(r.ok for r in results)
    click.echo(f"valid: {passed}/{len(results)}")
    if passed != len(results):
        raise SystemExit(1)


@click.command(
    "boot-test", help="Boot the tiny test image with two NICs on two isolated networks, then remove it."
)
@click.option("--arch", required=True, type=click.Choice(known_arches()), help="guest architecture")
@click.option("--timeout", default=300.0, show_default=True, help="seconds to wait for the marker")
@uri_option
def boot_test_command(arch: str, timeout: float, uri: str) -> None:
    try:
        with interruptible():
            result = boot_test(arch, uri, timeout=timeout, progress=lambda m: click.echo(m, err=True))
    except VdiError as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt as exc:  # boot_test removed everything it created while unwinding
        click.echo("interrupted; everything the boot test created was removed", err=True)
        raise SystemExit(EXIT_CODES.get(signal_of(exc), 130)) from None
    for nic, mac in result.nics:
        click.echo(f"NIC {nic} {mac}")
    click.echo(f"GUEST-READY arch={arch} seconds={result.seconds:.1f}")


@click.command("import", help="Golden image pipeline: verify sha256, convert to qcow2, upload into a pool.")
@click.argument("name")
@click.option("--pool", "pool_name", default="hallcloud-golden", show_default=True, help="target pool")
@click.option("--pool-path", default=None, help="directory of the pool if it must be created (dir pool)")
@click.option(
    "--file",
    "local_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="a local copy of the image (downloaded already, or installed from the vendor ISO)",
)
@click.option("--sha256", default=None, help="sha256 of --file (required for vendor-ISO images)")
@uri_option
def import_command(
    name: str, pool_name: str, pool_path: str | None, local_file: Path | None, sha256: str | None, uri: str
) -> None:
    try:
        manifest = image_for(name)
        if manifest.source.kind == "test-image" and local_file is None:
            built = build_test_image(manifest.arch)
            local_file, sha256 = built.disk, built.sha256["disk"]
        with connection(uri) as conn:
            path = pool_path or default_pool_path(pool_name)
            ensure_pool(conn, Pool(name=pool_name, type="dir", target_path=path))
            golden = import_catalog_image(conn, pool_name, manifest, local_file=local_file, sha256=sha256)
    except VdiError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{golden.outcome}: golden volume {pool_name}/{golden.volume} ({golden.path})")
    click.echo(f"sha256={golden.sha256}")


image_commands: list[click.Command] = [validate, boot_test_command, import_command]
