"""``hall images``: the image catalog.

``hall.py`` mounts more commands into this group: ``build-test`` from the test-image builder
(``images.testimage.cli``) and the commands that need libvirt (``validate``, ``boot-test``,
``import``) from ``vdi.cli.images``; this module imports nothing of HallCloud's outside ``images``.
"""

from __future__ import annotations

import click

from images.catalog import CatalogError, catalog_table, load_catalog
from images.profiles import ProfileError

__all__ = ["images", "list_images"]


@click.group(help="Image catalog, golden images and tiny test images.")
def images() -> None:
    pass


@images.command("list", help="Print the image catalog as a table.")
def list_images() -> None:
    try:
        click.echo(catalog_table(load_catalog()))
    except (CatalogError, ProfileError) as exc:
        raise click.ClickException(str(exc)) from exc
