"""Pydantic API models: ``XCreate`` (input), ``XUpdate`` (partial input), ``XPublic`` (output)."""

__all__: list[str] = []
