"""Request planning: a device type's poll profile turned into what goes on the wire, once, and how a
device's table columns are spread over GETBULK requests.

Each poll is a short conversation of GETBULK requests: the first carries every scalar of the profile as
a non-repeater (GETNEXT of the scalar's parent returns the ``.0`` instance) plus every table column as a
repeater; later requests continue only the columns that have not left their table yet. ``max-repetitions``
adapts per device to the table sizes seen on the previous poll (rows + 1, the one past the end closing
the walk), and when a device's tables differ much in length (a printer's 6 supplies and 1 printer row)
they are split over two concurrent GETBULKs (:func:`group_columns`), so short tables do not drag back
pages of unrelated OIDs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyasn1.type import univ
from pysnmp.proto import rfc1902

from device_manager.snmp.profiles import PollProfile

__all__ = ["V2C_MESSAGE_COST", "V3_MESSAGE_COST", "Column", "RequestPlan", "group_columns"]

# What one more request costs, in var-binds' worth of CPU (encode, decode; USM and AES for v3). Used to
# decide whether to split a device's tables over two GETBULKs of different max-repetitions.
V2C_MESSAGE_COST = 10
V3_MESSAGE_COST = 60

Column = tuple[str, str, univ.ObjectIdentifier]  # (table, column, column oid)


def group_columns(
    columns: Sequence[Column],
    rows: dict[str, int] | None,
    default_max_rep: int,
    message_cost: int,
) -> list[tuple[list[Column], int]]:
    """Columns per GETBULK and its max-repetitions. A GETBULK fetches max-repetitions rows of *every*
    column, so a long table (supplies) makes short ones (alerts) drag back unrelated OIDs. Knowing each
    table's rows from the last poll, split the tables in two requests when that saves more var-binds
    than the extra message costs. Rows + 1: the one past the end tells the walk the table ended."""
    if not columns or rows is None:
        return [(list(columns), default_max_rep)]
    by_table: dict[str, list[Column]] = {}
    for column in columns:
        by_table.setdefault(column[0], []).append(column)
    need = {t: max(1, min(default_max_rep, rows.get(t, 0) + 1)) for t in by_table}
    ordered = sorted(by_table, key=lambda t: need[t])

    def cost(tables: list[str]) -> int:
        return sum(len(by_table[t]) for t in tables) * max(need[t] for t in tables) + message_cost

    best = (cost(ordered), len(ordered))
    for split in range(1, len(ordered)):
        best = min(best, (cost(ordered[:split]) + cost(ordered[split:]), split))
    parts = [ordered[: best[1]], ordered[best[1] :]] if best[1] < len(ordered) else [ordered]
    # the largest group first: it also carries the scalars
    parts.sort(key=lambda tables: -sum(len(by_table[t]) for t in tables))
    return [([c for t in part for c in by_table[t]], max(need[t] for t in part)) for part in parts]


@dataclass(frozen=True)
class RequestPlan:
    """A profile's request, prepared once: OIDs as pyasn1 objects, ready to go on the wire."""

    scalar_names: tuple[str, ...]
    scalar_oids: tuple[univ.ObjectIdentifier, ...]
    scalar_requests: tuple[tuple[univ.ObjectIdentifier, univ.Null], ...]  # parents, for GETNEXT
    columns: tuple[Column, ...]

    @classmethod
    def build(cls, profile: PollProfile) -> RequestPlan:
        names = tuple(n for n, _ in profile.scalar_oids)
        oids = tuple(rfc1902.ObjectName(o) for _, o in profile.scalar_oids)
        parents = tuple((rfc1902.ObjectName(o[:-1]), univ.Null("")) for o in oids)
        columns = tuple((t, c, rfc1902.ObjectName(o)) for t, c, o in profile.columns)
        return cls(names, oids, parents, columns)
