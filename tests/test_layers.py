"""The import graph of the product packages: no cycle, and no import pointing up a layer.

Layers, top to bottom: ``device_manager -> infra -> vdi -> images`` (docs: the architecture document).
Every import counts, including those inside functions and under ``TYPE_CHECKING``: an import deferred
into a function still makes the two modules depend on each other. ``hall.py`` composes the packages'
commands by name and imports none of them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = {"images": 0, "vdi": 1, "infra": 2, "device_manager": 3}
CHECKED = ("images", "vdi", "infra")
"""The packages whose graph must be acyclic (device_manager's own graph is not checked here)."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


ALL = modules()


def _imported(node: ast.AST, importer: str, is_package: bool) -> Iterator[str]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name
    elif isinstance(node, ast.ImportFrom):
        if node.level:
            base = importer.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            module = ".".join([*base, node.module] if node.module else base)
        else:
            module = node.module or ""
        for alias in node.names:
            candidate = f"{module}.{alias.name}"
            yield candidate if candidate in ALL else module


def imports_of(name: str) -> set[str]:
    """The modules of ours that module ``name`` imports (anywhere in the file)."""
    path = ALL[name]
    tree = ast.parse(path.read_text(), str(path))
    out = set()
    for node in ast.walk(tree):
        for target in _imported(node, name, path.name == "__init__.py"):
            while target and target not in ALL:
                target = target.rpartition(".")[0]  # `import vdi.backup.store` names the module itself
            if target and target != name:
                out.add(target)
    return out


GRAPH = {name: imports_of(name) for name in ALL if name.split(".")[0] in CHECKED}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in graph:
                continue
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_graph_is_read_from_every_module() -> None:
    assert {"vdi.desktops", "vdi.snapshots", "vdi.recovery", "infra.spec", "images.catalog"} <= set(GRAPH)
    assert "vdi.snapshots" in GRAPH["vdi.recovery"] and "vdi.desktops" in GRAPH["vdi.snapshots"]
    assert "vdi.backup.store" in GRAPH["vdi.backup.create"]  # from-imports of a module's names
    assert "images.testimage.build" in GRAPH["images.testimage.firmware"]  # relative imports


def test_no_import_cycle_in_the_product_packages() -> None:
    assert cycles(GRAPH) == []


def test_cycle_detection_finds_a_deferred_import() -> None:
    graph = {"vdi.a": {"vdi.b"}, "vdi.b": {"vdi.c"}, "vdi.c": {"vdi.a"}, "vdi.d": {"vdi.a"}}
    assert cycles(graph) == [["vdi.a", "vdi.b", "vdi.c"]]


@pytest.mark.parametrize("package", CHECKED)
def test_no_import_points_up_a_layer(package: str) -> None:
    up = sorted(
        f"{name} imports {target}"
        for name, targets in GRAPH.items()
        if name.split(".")[0] == package
        for target in targets
        if LAYERS[target.split(".")[0]] > LAYERS[package]
    )
    assert up == []


def test_hall_py_imports_no_package_of_ours() -> None:
    tree = ast.parse((ROOT / "hall.py").read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {n.split(".")[0] for n in names} & set(LAYERS)
