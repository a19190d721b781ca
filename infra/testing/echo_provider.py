"""EchoFile: a dynamic-provider resource that writes one text file, for tests of the real Pulumi engine.

Create writes ``content`` to ``path``, update rewrites it, delete removes it, and read (``pulumi
refresh``) reports what is on disk, so every engine operation has an effect a test can observe. A new
``path`` replaces the resource.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pulumi
from pulumi.dynamic import CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult

__all__ = ["EchoFile", "EchoFileProvider"]


def _checksum(content: str) -> str:
    return hashlib.sha256(content.encode()).hexdigest()


def _write(path: str, content: str) -> dict[str, Any]:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(content)
    return {"path": path, "content": content, "checksum": _checksum(content)}


class EchoFileProvider(ResourceProvider):
    """CRUD of one file; the resource id is its path."""

    def diff(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> DiffResult:
        # During preview an input may still be unknown: compare only what is known.
        changed = [key for key in ("path", "content") if _olds.get(key) != _news.get(key)]
        return DiffResult(
            changes=bool(changed),
            replaces=["path"] if "path" in changed else [],
            delete_before_replace=True,
        )

    def create(self, props: dict[str, Any]) -> CreateResult:
        return CreateResult(id_=props["path"], outs=_write(props["path"], props["content"]))

    def update(self, _id: str, _olds: dict[str, Any], _news: dict[str, Any]) -> UpdateResult:
        return UpdateResult(outs=_write(_news["path"], _news["content"]))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        target = Path(id_)
        if not target.exists():
            return ReadResult(None, {})  # gone: refresh drops it from the state
        content = target.read_text()
        return ReadResult(id_, {"path": id_, "content": content, "checksum": _checksum(content)})

    def delete(self, _id: str, _props: dict[str, Any]) -> None:
        Path(_id).unlink(missing_ok=True)


class EchoFile(Resource, module="hallcloud-testing", name="EchoFile"):
    """A text file at ``path`` holding ``content``."""

    path: pulumi.Output[str]
    content: pulumi.Output[str]
    checksum: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        path: pulumi.Input[str],
        content: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(EchoFileProvider(), name, {"path": path, "content": content, "checksum": None}, opts)
