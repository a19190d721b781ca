"""Docstrings of images, vdi, infra and hall.py name only modules and objects that exist.

A module renamed or split leaves ``:mod:`` / ``:func:`` / ``:class:`` references behind; this fails on
any qualified reference (``vdi.render.domain_xml``, ``infra.spec``) that does not import or resolve.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("images", "vdi", "infra", "device_manager", "hall")
REFERENCE = re.compile(r":(?:mod|func|class|meth|attr|data|exc):`~?([A-Za-z_][\w.]*)`")
FILES = sorted(
    [p for package in ("images", "vdi", "infra") for p in (ROOT / package).rglob("*.py")] + [ROOT / "hall.py"]
)


def resolves(reference: str) -> bool:
    parts = reference.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_qualified_references_resolve(path: Path) -> None:
    references = {m.group(1) for m in REFERENCE.finditer(path.read_text())}
    dangling = sorted(r for r in references if r.split(".")[0] in OURS and not resolves(r))
    assert dangling == []


MAX_LINES = 450
"""A module past this many lines says at the top why it stays one module (issue 12)."""


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_a_long_module_says_why_it_is_one_module(path: Path) -> None:
    text = path.read_text()
    if text.count("\n") > MAX_LINES:
        docstring = text.split('"""')[1] if text.startswith('"""') else ""
        assert "Why one module" in docstring, f"{path.name}: {text.count(chr(10))} lines and no reason"
