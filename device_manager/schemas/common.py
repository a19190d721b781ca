"""Shared field types and the NetBox-style paginated list."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["SLUG_RE", "ManagementAddress", "Name", "Page", "Port", "Slug", "Strict", "Tags"]

T = TypeVar("T")

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*$")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


def _slug(value: str) -> str:
    if not SLUG_RE.match(value):
        raise ValueError("use lowercase letters, digits, '-' and '_' (e.g. 'north-hall')")
    return value


Slug = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), AfterValidator(_slug)
]


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"'{value}' is not an IPv4 or IPv6 address") from None


ManagementAddress = Annotated[str, AfterValidator(_address)]


def _tags(values: list[str]) -> list[str]:
    cleaned = []
    for value in values:
        tag = value.strip().lower()
        if not SLUG_RE.match(tag) or len(tag) > 50:
            raise ValueError(f"tag '{value}': use lowercase letters, digits, '-' and '_' (max 50)")
        if tag not in cleaned:
            cleaned.append(tag)
    return cleaned


Tags = Annotated[list[str], AfterValidator(_tags)]
Port = Annotated[int, Field(ge=1, le=65535)]


class Strict(BaseModel):
    """Input models reject unknown fields so that typos are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[T]):
    count: int
    results: list[T]
