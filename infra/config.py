"""Reading the hall's stack config inside a Pulumi program (or from a stack file, for tools)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import config as runtime_config

from infra.spec import NAMESPACE, HallConfigError, HallSpec, load_spec

__all__ = ["raw_config_of_program", "spec_from_pulumi_config", "spec_from_stack_file"]


def _decode(value: Any) -> Any:
    """Structured config reaches the program as JSON text; plain strings stay strings."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


def raw_config_of_program() -> dict[str, Any]:
    """Every ``hall:*`` config value of the running program's stack."""
    merged: dict[str, Any] = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    return {k: _decode(v) for k, v in merged.items() if k.startswith(f"{NAMESPACE}:")}


def spec_from_pulumi_config() -> HallSpec:
    """The validated hall of the running stack; a clean error (no traceback) listing every problem."""
    try:
        return load_spec(raw_config_of_program())
    except HallConfigError as exc:
        raise pulumi.RunError(str(exc)) from None


def spec_from_stack_file(path: Path) -> HallSpec:
    """The hall a ``Pulumi.<stack>.yaml`` describes (for CLIs and tests; secrets are not supported)."""
    data = yaml.safe_load(path.read_text()) or {}
    return load_spec(data.get("config") or {})
