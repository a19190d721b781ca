"""Problems in the stack config: :class:`Issue` (config path, problem, fix) and :class:`HallConfigError`.

Every message a person reads names the config path, the problem and the fix::

    hall:windows[3].seat.internet.image: 'uos-21' is not in the image catalog; known: ... Fix: ...

A reference to something a section does not define is always worded by :func:`undefined`
("network 'dmz' is not defined in hall:networks; defined: gov, internet").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pydantic import ValidationError

from infra.spec.schema import NAMESPACE

__all__ = ["HallConfigError", "Issue", "config_path", "dedupe", "known", "pydantic_issues", "undefined"]


@dataclass(frozen=True)
class Issue:
    path: str
    """``hall:windows[3].seat.internet.image``"""
    problem: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}. Fix: {self.fix}"


class HallConfigError(ValueError):
    """The stack config does not describe a valid hall; ``issues`` lists every problem found."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        lines = "\n".join(f"  {issue}" for issue in issues)
        super().__init__(f"the hall's stack config is invalid ({len(issues)} problem(s)):\n{lines}")


def config_path(loc: tuple[int | str, ...]) -> str:
    """``("windows", 3, "seat")`` -> ``hall:windows[3].seat``."""
    out = NAMESPACE
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += (":" if i == 0 else ".") + part
    return out


_FIXES = {
    "missing": "add it (see Pulumi.demo.yaml for a complete hall)",
    "extra_forbidden": "remove it or correct its spelling",
    "literal_error": "use one of the listed values",
}


def pydantic_issues(exc: ValidationError) -> list[Issue]:
    issues = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.endswith("]")))
        # union members (str | dict) appear as loc parts named after the type: drop them
        loc = tuple(p for p in loc if p not in ("str", "dict[str,any]"))
        message = error["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(error["type"], "correct the value")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        issues.append(Issue(config_path(loc), message, fix))
    return dedupe(issues)


def dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[str] = set()
    out = []
    for issue in issues:
        if str(issue) not in seen:
            seen.add(str(issue))
            out.append(issue)
    return out


def known(keys: Iterable[str]) -> str:
    """``keys`` sorted and comma-separated, or ``none``."""
    names = sorted(keys)
    return ", ".join(names) if names else "none"


def undefined(
    path: str, kind: str, name: str, section: str, defined: Iterable[str], fix: str | None = None
) -> Issue:
    """``path`` names ``kind`` ``name``, which ``hall:<section>`` does not define."""
    return Issue(
        path,
        f"{kind} '{name}' is not defined in {NAMESPACE}:{section}; defined: {known(defined)}",
        fix or f"name a defined {kind}",
    )
