"""Storage providers: StoragePool, GoldenImage (the golden import pipeline) and Volume (linked clone).

A GoldenImage of a HallCloud test image also stages its boot files (kernel, initramfs and, for UEFI
guests whose firmware is local, the firmware) into the pool and outputs their paths, which the
desktops built on it boot from; other catalog images go through :func:`vdi.golden.import_catalog_image`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CheckFailure, CreateResult, DiffResult, ReadResult, Resource, UpdateResult

from images.catalog import CatalogError, get_image
from infra.providers.base import BOOT_FIELDS, HallProvider, is_unknown, split_id
from vdi.golden import import_catalog_image
from vdi.models import Pool
from vdi.storage import (
    delete_pool,
    delete_volume,
    ensure_pool,
    get_pool,
    linked_clone,
    lookup_pool,
    lookup_volume,
)
from vdi.testguest import build_test_image, stage_test_image

__all__ = [
    "GoldenImage",
    "GoldenImageProvider",
    "StoragePool",
    "StoragePoolProvider",
    "Volume",
    "VolumeProvider",
]


# -- pools ------------------------------------------------------------------------------------------


class StoragePoolProvider(HallProvider):
    kind = "pool"
    required = ("host", "name", "type", "path")
    replace_fields = ("host", "name", "type", "path")
    update_fields = ("active",)

    def validate(self, news: dict[str, Any]) -> list[CheckFailure]:
        path = news.get("path")
        if not is_unknown(path) and path and not str(path).startswith("/"):
            return [CheckFailure("path", f"pool: path {path!r} must be absolute")]
        if news.get("type") not in ("dir",) and not is_unknown(news.get("type")):
            return [CheckFailure("type", "pool: only 'dir' pools are provisioned by the stack for now")]
        return []

    def _ensure(self, props: dict[str, Any]) -> None:
        with self.connect(props["host"]) as conn:
            ensure_pool(conn, Pool(name=props["name"], type=props["type"], target_path=props["path"]))

    def create(self, props: dict[str, Any]) -> CreateResult:
        self._ensure(props)
        return CreateResult(id_=f"{props['host']}/{props['name']}", outs={**props, "active": True})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        host, name = split_id(id_)
        with self.connect(host) as conn:
            pool = lookup_pool(conn, name)
            if pool is None:
                return ReadResult(None, {})
            active = bool(pool.isActive())
        return ReadResult(id_, {**props, "host": host, "name": name, "active": active})

    def update(self, id_: str, _olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._ensure(news)  # starts a pool that was stopped
        return UpdateResult(outs={**news, "active": True})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        host, name = split_id(id_)
        with self.connect(host) as conn:
            # the pool is the stack's own (prefixed name): whatever is left in it goes with it
            delete_pool(conn, name, delete_volumes=True)


class StoragePool(Resource, module="hallcloud", name="StoragePool"):
    host: pulumi.Output[str]
    name: pulumi.Output[str]
    path: pulumi.Output[str]
    active: pulumi.Output[bool]

    def __init__(
        self,
        resource_name: str,
        *,
        host: str,
        name: str,
        path: str,
        type: str = "dir",
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"host": host, "name": name, "type": type, "path": path, "active": True}
        super().__init__(StoragePoolProvider(), resource_name, props, opts)


# -- golden images ----------------------------------------------------------------------------------


def boot_of(outs: dict[str, Any]) -> dict[str, Any]:
    """How desktops on the image boot, as ONE output: during ``pulumi preview`` the SDK reports every
    output whose value is None (a BIOS image's loader, say) as unknown, and an unknown boot field would
    show every desktop on the image as being replaced. A dict holding Nones is known."""
    return {key: outs.get(key) for key in BOOT_FIELDS}


class GoldenImageProvider(HallProvider):
    kind = "golden image"
    required = ("host", "pool", "image")
    replace_fields = ("host", "pool", "image", "file", "sha256")

    def validate(self, news: dict[str, Any]) -> list[CheckFailure]:
        image = news.get("image")
        if is_unknown(image) or not image:
            return []
        try:
            get_image(str(image))
        except CatalogError as exc:
            return [CheckFailure("image", str(exc))]
        return []

    def create(self, props: dict[str, Any]) -> CreateResult:
        manifest = get_image(props["image"])
        outs: dict[str, Any] = {
            **props,
            "kernel": None,
            "initrd": None,
            "cmdline": None,
            "loader": None,
            "loader_type": None,
            "secure_boot": None,
            "nvram_template": None,
        }
        with self.connect(props["host"]) as conn:
            if manifest.source.kind == "test-image":
                staged = stage_test_image(conn, props["pool"], build_test_image(manifest.arch))
                pool = get_pool(conn, props["pool"])
                golden_path = str(pool.storageVolLookupByName(staged.golden_volume).path())
                outs.update(
                    volume=staged.golden_volume,
                    path=golden_path,
                    kernel=staged.kernel,
                    initrd=staged.initrd,
                    cmdline=staged.cmdline,
                )
                boot_files = [staged.kernel, staged.initrd]
                if staged.firmware is not None:
                    outs.update(
                        loader=staged.firmware.loader,
                        loader_type=staged.firmware.loader_type,
                        secure_boot=staged.firmware.secure_boot,
                        nvram_template=staged.firmware.nvram_template,
                    )
                    if not staged.firmware.local:
                        boot_files += [
                            f for f in (staged.firmware.loader, staged.firmware.nvram_template) if f
                        ]
                outs["staged"] = [staged.golden_volume, *(os.path.basename(p) for p in boot_files)]
            else:
                golden = import_catalog_image(
                    conn,
                    props["pool"],
                    manifest,
                    local_file=Path(props["file"]) if props.get("file") else None,
                    sha256=props.get("sha256"),
                )
                outs.update(volume=golden.volume, path=golden.path, staged=[golden.volume])
        outs["boot"] = boot_of(outs)
        return CreateResult(id_=f"{props['host']}/{props['pool']}/{outs['volume']}", outs=outs)

    def diff(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        result = super().diff(id_, olds, news)
        if "boot" not in olds and not result.replaces:  # a state written before the boot output existed
            return DiffResult(changes=True, replaces=[], stables=result.stables, delete_before_replace=True)
        return result

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        """Only :meth:`diff`'s migration reaches here: the same image, with the ``boot`` output added."""
        outs = {**olds, **{k: v for k, v in news.items() if v is not None}}
        return UpdateResult(outs={**outs, "boot": boot_of(outs)})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        host, rest = split_id(id_)
        pool_name, _, volume = rest.partition("/")
        with self.connect(host) as conn:
            pool = lookup_pool(conn, pool_name)
            if pool is None or not pool.isActive():
                return ReadResult(None, {})
            pool.refresh(0)
            if lookup_volume(pool, volume) is None:
                return ReadResult(None, {})
            present = [v for v in props.get("staged") or [] if lookup_volume(pool, v) is not None]
        return ReadResult(id_, {**props, "staged": present})

    def abandon(self, inputs: dict[str, Any]) -> None:
        """Nothing to remove: staged files are content-addressed and shared by every stack on the pool,
        and a half-finished upload removes its volume itself."""

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        host, rest = split_id(id_)
        pool_name = rest.partition("/")[0]
        with self.connect(host) as conn:
            pool = lookup_pool(conn, pool_name)
            if pool is None:
                return
            for volume in props.get("staged") or []:
                delete_volume(pool, volume)


class GoldenImage(Resource, module="hallcloud", name="GoldenImage"):
    """A catalog image imported as a golden volume into pool ``pool`` (plus a test image's boot files)."""

    pool: pulumi.Output[str]
    volume: pulumi.Output[str]
    path: pulumi.Output[str]
    kernel: pulumi.Output[str | None]
    initrd: pulumi.Output[str | None]
    cmdline: pulumi.Output[str | None]
    loader: pulumi.Output[str | None]
    loader_type: pulumi.Output[str | None]
    secure_boot: pulumi.Output[bool | None]
    nvram_template: pulumi.Output[str | None]
    boot: pulumi.Output[dict[str, Any]]
    """kernel, initrd, cmdline, loader, loader_type, secure_boot, nvram_template (see :func:`boot_of`)."""

    def __init__(
        self,
        resource_name: str,
        *,
        host: str,
        pool: pulumi.Input[str],
        image: str,
        file: str | None = None,
        sha256: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {"host": host, "pool": pool, "image": image, "file": file, "sha256": sha256}
        for out in (
            "volume",
            "path",
            "kernel",
            "initrd",
            "cmdline",
            "loader",
            "loader_type",
            "secure_boot",
            "nvram_template",
            "staged",
            "boot",
        ):
            props[out] = None
        super().__init__(GoldenImageProvider(), resource_name, props, opts)


# -- volumes ----------------------------------------------------------------------------------------


class VolumeProvider(HallProvider):
    """A linked clone (qcow2 on the golden volume as backing file) in the golden volume's pool."""

    def id_of(self, inputs: Mapping[str, Any]) -> str:
        return f"{inputs['host']}/{inputs['pool']}/{inputs['name']}"

    kind = "volume"
    required = ("host", "pool", "name", "golden")
    replace_fields = ("host", "pool", "name", "golden")

    def create(self, props: dict[str, Any]) -> CreateResult:
        with self.connect(props["host"]) as conn:
            pool = get_pool(conn, props["pool"])
            linked_clone(pool, props["golden"], props["name"])
            path = str(pool.storageVolLookupByName(props["name"]).path())
        return CreateResult(
            id_=f"{props['host']}/{props['pool']}/{props['name']}", outs={**props, "path": path}
        )

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        host, rest = split_id(id_)
        pool_name, _, name = rest.partition("/")
        with self.connect(host) as conn:
            pool = lookup_pool(conn, pool_name)
            if pool is None or not pool.isActive():
                return ReadResult(None, {})
            pool.refresh(0)
            vol = lookup_volume(pool, name)
            if vol is None:
                return ReadResult(None, {})
            path = str(vol.path())
        return ReadResult(id_, {**props, "host": host, "pool": pool_name, "name": name, "path": path})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        host, rest = split_id(id_)
        pool_name, _, name = rest.partition("/")
        with self.connect(host) as conn:
            pool = lookup_pool(conn, pool_name)
            if pool is not None:
                delete_volume(pool, name)


class Volume(Resource, module="hallcloud", name="Volume"):
    """Volume ``name``: a linked clone of golden volume ``golden`` in pool ``pool``."""

    pool: pulumi.Output[str]
    name: pulumi.Output[str]
    path: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        host: str,
        pool: pulumi.Input[str],
        name: str,
        golden: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props = {"host": host, "pool": pool, "name": name, "golden": golden, "path": None}
        super().__init__(VolumeProvider(), resource_name, props, opts)
