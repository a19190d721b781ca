"""Asynchronous SNMP poller: one request plan per device type (``plan.py``), one shared engine per
protocol (``transport.py``), decoding by the type's profile (``decode.py``).

Each poll is a short conversation of GETBULK requests (:meth:`Poller._walk`): the first carries every
scalar as a non-repeater and every table column as a repeater, later ones continue only the columns that
have not left their table. A device with small tables is polled in one round trip; the planner spreads
long and short tables over two concurrent GETBULKs when that saves var-binds.

Status of a device after a poll:

* ``down``: no answer within ``timeout`` x (``retries`` + 1). **A wrong SNMPv2c community looks the
  same**: agents drop such requests silently (at most they send an authenticationFailure trap, which
  the trap receiver reports as ``auth_failure``).
* ``auth_error``: the SNMPv3 agent answered with a USM report (unknown user name, wrong digest,
  decryption error, unsupported security level) or an authorization error.
* ``degraded``: answered, and the decoded values show problems (paper out, interface down, ...).
* ``up``: answered, no problems.
* ``unknown``: not polled (only from :meth:`Poller.poll_many`): its device type has no poll profile, or
  the poll itself failed; ``error`` says why. One such device never fails the others' polls.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pyasn1.type import univ
from pysnmp.proto import rfc1905

from device_manager.snmp.credentials import SnmpV3
from device_manager.snmp.decode import Problem, Raw, Value, decode
from device_manager.snmp.plan import V2C_MESSAGE_COST, V3_MESSAGE_COST, Column, RequestPlan, group_columns
from device_manager.snmp.profiles import PollProfile, ProfileError, ProfileSet
from device_manager.snmp.transport import PollFailure, PollTarget, Status, Transport, VarBinds

__all__ = ["PollResult", "PollTarget", "Poller", "Problem", "Status"]

log = logging.getLogger(__name__)

_MAX_ROUNDS = 40  # GETBULK requests per device and poll; bounds a misbehaving agent


def _plain(value: Any) -> Value | None:
    """pyasn1/pysnmp value -> int, bytes or str; None for noSuchObject/noSuchInstance/endOfMibView."""
    if isinstance(value, univ.Integer):
        return int(value)
    if isinstance(value, univ.OctetString):
        return value.asOctets()
    if isinstance(value, univ.ObjectIdentifier):
        return str(value)
    if isinstance(value, univ.Null):
        return None
    return str(value)


@dataclass
class PollResult:
    device_id: int
    status: Status
    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    duration_s: float = 0.0
    error: str | None = None
    values_count: int = 0


class Poller:
    """Polls devices per their type's profile. Create once and reuse: its transport caches engines,
    transport targets and credentials; ``concurrency`` bounds outstanding devices across ``poll_many``
    calls."""

    def __init__(self, profiles: ProfileSet, concurrency: int = 200) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        self._profiles = profiles
        self._concurrency = concurrency
        self._plans = {t: RequestPlan.build(p) for t, p in profiles.profiles.items()}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._semaphore: asyncio.Semaphore | None = None
        self._transport = Transport()
        # device_id -> (device type, rows per table) seen on the last poll
        self._learned_rows: dict[int, tuple[str, dict[str, int]]] = {}

    # ---- lifecycle -------------------------------------------------------------------------------
    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is loop:
            return
        self.close()
        self._loop = loop
        self._semaphore = asyncio.Semaphore(self._concurrency)

    def close(self) -> None:
        """Release sockets. The poller can be used again afterwards (it reopens lazily)."""
        self._transport.close()
        self._loop = None

    # ---- public API ------------------------------------------------------------------------------
    async def poll(self, target: PollTarget) -> PollResult:
        self._bind_loop()
        assert self._semaphore is not None
        async with self._semaphore:
            return await self._poll(target)

    async def poll_many(self, targets: list[PollTarget]) -> list[PollResult]:
        """One result per target, in order. A target that cannot be polled (no poll profile for its
        type, or an unexpected error) gets status ``unknown`` and its reason; the others are unaffected."""
        self._bind_loop()
        outcomes = await asyncio.gather(*(self.poll(t) for t in targets), return_exceptions=True)
        results = []
        for target, outcome in zip(targets, outcomes, strict=True):
            if isinstance(outcome, PollResult):
                results.append(outcome)
                continue
            if not isinstance(outcome, Exception):  # CancelledError, KeyboardInterrupt: not ours to keep
                raise outcome
            if not isinstance(outcome, ProfileError):
                log.error("poll of device %s failed", target.device_id, exc_info=outcome)
            where = f"device {target.device_id} ({target.address}:{target.port})"
            results.append(PollResult(target.device_id, "unknown", error=f"{where}: not polled: {outcome}"))
        return results

    # ---- one device ------------------------------------------------------------------------------
    async def _poll(self, target: PollTarget) -> PollResult:
        started = time.perf_counter()
        profile = self._profiles.for_type(target.device_type)
        plan = self._plans[target.device_type]
        try:
            raw, count, rows = await self._fetch(target, profile, plan)
        except PollFailure as failure:
            return PollResult(
                target.device_id, failure.status, duration_s=time.perf_counter() - started, error=str(failure)
            )
        self._learned_rows[target.device_id] = (target.device_type, rows)
        decoded = decode(profile, raw)
        status: Status = "degraded" if decoded.problems else "up"
        return PollResult(
            target.device_id,
            status,
            decoded.metrics,
            decoded.facts,
            decoded.problems,
            time.perf_counter() - started,
            None,
            count,
        )

    async def _fetch(
        self, target: PollTarget, profile: PollProfile, plan: RequestPlan
    ) -> tuple[Raw, int, dict[str, int]]:
        learned = self._learned_rows.get(target.device_id)
        rows = learned[1] if learned is not None and learned[0] == target.device_type else None
        message_cost = V3_MESSAGE_COST if isinstance(target.credential, SnmpV3) else V2C_MESSAGE_COST
        groups = group_columns(plan.columns, rows, profile.max_repetitions, message_cost)
        raw = Raw()
        rows_by_table: dict[str, set[str]] = {}
        counts = await asyncio.gather(
            *(
                self._walk(
                    target,
                    plan,
                    with_scalars=index == 0,
                    columns=columns,
                    max_rep=max_rep,
                    raw=raw,
                    rows_by_table=rows_by_table,
                )
                for index, (columns, max_rep) in enumerate(groups)
            )
        )
        return raw, sum(counts), {table: len(indices) for table, indices in rows_by_table.items()}

    async def _walk(
        self,
        target: PollTarget,
        plan: RequestPlan,
        *,
        with_scalars: bool,
        columns: Sequence[Column],
        max_rep: int,
        raw: Raw,
        rows_by_table: dict[str, set[str]],
    ) -> int:
        """GETBULK conversation for some columns (and the scalars); fills ``raw``, returns values."""
        count = 0
        # Column state: (table, column, base oid, base length, last oid requested from).
        active = [(t, c, oid, len(oid), oid) for t, c, oid in columns]
        non_repeaters = len(plan.scalar_requests) if with_scalars else 0
        request: list[tuple[univ.ObjectIdentifier, univ.Null]] = list(plan.scalar_requests[:non_repeaters])
        request += [(oid, univ.Null("")) for *_, oid in active]
        for _round in range(_MAX_ROUNDS):
            if not active and not non_repeaters:
                break
            var_binds = await self._bulk_request(target, non_repeaters, max_rep if active else 0, request)
            for i in range(min(non_repeaters, len(var_binds))):
                oid, value = var_binds[i]
                if oid == plan.scalar_oids[i]:
                    plain = _plain(value)
                    if plain is not None:
                        raw.scalars[plan.scalar_names[i]] = plain
                        count += 1
            repeated = var_binds[non_repeaters:]
            width = len(active)
            still: list[tuple[str, str, univ.ObjectIdentifier, int, univ.ObjectIdentifier]] = []
            progressed = False
            if width:
                reps = (len(repeated) + width - 1) // width
                for col, (table, column, base, base_len, start) in enumerate(active):
                    last = start
                    finished = False
                    for r in range(reps):
                        pos = r * width + col
                        if pos >= len(repeated):
                            break  # the agent truncated its answer: carry on from here next round
                        oid, value = repeated[pos]
                        # leaving the column, or an agent that does not move forward, ends the walk
                        if isinstance(value, rfc1905.EndOfMibView) or not base.isPrefixOf(oid) or oid <= last:
                            finished = True
                            break
                        last = oid
                        progressed = True
                        plain = _plain(value)
                        if plain is None:
                            continue
                        index = ".".join(str(x) for x in oid[base_len:])
                        raw.tables.setdefault(table, {}).setdefault(index, {})[column] = plain
                        rows_by_table.setdefault(table, set()).add(index)
                        count += 1
                    if not finished:
                        still.append((table, column, base, base_len, last))
            answered_scalars = non_repeaters > 0 and len(var_binds) > 0
            if not progressed and not answered_scalars:
                break  # nothing new came back: stop rather than ask the same again
            active = still
            non_repeaters = 0
            request = [(last, univ.Null("")) for *_, last in active]
        return count

    async def _bulk_request(
        self,
        target: PollTarget,
        non_repeaters: int,
        max_rep: int,
        var_binds: Sequence[tuple[univ.ObjectIdentifier, univ.Null]],
    ) -> VarBinds:
        return await self._transport.bulk(target, non_repeaters, max_rep, var_binds)
