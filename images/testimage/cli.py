"""``hall images build-test``: build (or find cached) the tiny test images and the LoongArch firmware.

Mounted into the ``images`` group by ``hall.py``; also runnable as ``python -m images.testimage.cli``.
"""

from __future__ import annotations

import os
import time

import click

from .arches import KNOWN_ARCHES
from .build import build_test_image
from .firmware import install_loongarch_descriptor, loongarch_firmware

__all__ = ["build_test"]


def _progress(message: str) -> None:
    click.echo(f"  {message}", err=True)


@click.command(name="build-test", help="Build the tiny test images (cached under ~/.cache/hallcloud).")
@click.option(
    "--arch",
    "arches",
    type=click.Choice(KNOWN_ARCHES),
    multiple=True,
    help="architecture to build (repeatable)",
)
@click.option("--all", "build_all", is_flag=True, help="build every architecture")
@click.option(
    "--firmware-descriptor/--no-firmware-descriptor",
    default=None,
    help="install the LoongArch UEFI firmware and its QEMU descriptor in /etc/qemu/firmware "
    "(default: when loongarch64 is built and running as root)",
)
def build_test(arches: tuple[str, ...], build_all: bool, firmware_descriptor: bool | None) -> None:
    selected = list(KNOWN_ARCHES) if build_all else list(dict.fromkeys(arches))
    if not selected:
        raise click.UsageError(f"name --arch ({', '.join(KNOWN_ARCHES)}) or --all")
    for arch in selected:
        start = time.monotonic()
        image = build_test_image(arch, progress=_progress)
        click.echo(f"{arch}: ready in {time.monotonic() - start:.1f} s (kernel {image.kernel_version})")
        click.echo(f"  kernel  {image.kernel}")
        click.echo(f"  initrd  {image.initrd}")
        click.echo(f"  disk    {image.disk}")
        click.echo(f"  cmdline {image.cmdline}")
        if arch == "loongarch64":
            code, nvram = loongarch_firmware(progress=_progress)
            click.echo(f"  firmware {code}")
            click.echo(f"  vars     {nvram}")
            install = firmware_descriptor if firmware_descriptor is not None else os.geteuid() == 0
            if install:
                click.echo(f"  descriptor {install_loongarch_descriptor(progress=_progress)}")


if __name__ == "__main__":
    build_test()
