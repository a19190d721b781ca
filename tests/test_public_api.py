"""Every public module of images, vdi and infra says what it exports (``__all__``), and tells the truth:
each name it lists exists, and each name another product module imports from it is listed."""

from __future__ import annotations

import ast
import importlib

import pytest

from tests.test_layers import ALL, CHECKED

PUBLIC = sorted(
    name
    for name in ALL
    if name.split(".")[0] in CHECKED and not any(part.startswith("_") for part in name.split("."))
)


def _exports(name: str) -> list[str]:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert isinstance(exported, list | tuple), f"{name} has no __all__"
    return list(exported)


@pytest.mark.parametrize("name", PUBLIC)
def test_every_public_module_lists_what_exists(name: str) -> None:
    module = importlib.import_module(name)
    missing = [n for n in _exports(name) if not hasattr(module, n)]
    assert missing == [], f"{name}.__all__ lists names it does not have"


def test_what_product_modules_import_from_each_other_is_in_the_exporters_all() -> None:
    unlisted = set()
    for importer in PUBLIC + [n for n in ALL if n.split(".")[0] in CHECKED and n not in PUBLIC]:
        for node in ast.walk(ast.parse(ALL[importer].read_text())):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module not in ALL:
                continue
            if node.module.split(".")[0] not in CHECKED:
                continue
            exported = set(_exports(node.module))
            for alias in node.names:
                listed = alias.name in exported or alias.name in ("*", "__all__")
                private = alias.name.startswith("_")
                if not (listed or private or f"{node.module}.{alias.name}" in ALL):
                    unlisted.add(f"{importer} imports {node.module}.{alias.name}")
    assert sorted(unlisted) == [], "\n".join(sorted(unlisted))
