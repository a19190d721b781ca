"""What each alert rule kind sees in a poll result or a trap: one observer per kind, in a registry.

An observer turns a poll result into ``subject -> Observation`` (is the condition active for this
supply, interface, disk... now?), or None when the poll cannot say (the device was not reached: an
unreachable printer says nothing about its paper). Subjects are table indexes (supply, ifIndex,
hrStorageIndex, tray) where the poll says which, so traps and polls agree on them. Subjects missing
from an answer are clear.

The kinds are ``device_manager.alert_kinds``; :data:`OBSERVERS` has exactly one entry per kind (the
tests check it). A kind with no special reading uses :func:`_problems_of_kind`: the poll's problems of
that code, by subject.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from device_manager.alert_kinds import ALERT_KINDS, DEVICE_DOWN
from device_manager.db.models import AlertRule

__all__ = [
    "OBSERVERS",
    "REACHABLE",
    "Observation",
    "Observer",
    "PollResultLike",
    "TrapEventLike",
    "describe",
    "observe",
    "observe_trap",
]

REACHABLE = ("up", "degraded")
SUPPLY_RE = re.compile(r"^supply\.([^.]+)\.percent$")
TRAY_RE = re.compile(r"^tray\.([^.]+)\.percent$")
IFINDEX_OID = "1.3.6.1.2.1.2.2.1.1."
HR_STORAGE_FIXED_DISK = "1.3.6.1.2.1.25.2.1.4"
CPU_LOAD = "hr.cpu.load"


class PollResultLike(Protocol):
    """What the engine reads from ``device_manager.snmp.poller.PollResult`` (read-only)."""

    @property
    def device_id(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def metrics(self) -> Mapping[str, float]: ...
    @property
    def facts(self) -> Mapping[str, Any]: ...
    @property
    def problems(self) -> Sequence[Any]: ...
    @property
    def duration_s(self) -> float: ...
    @property
    def error(self) -> str | None: ...


class TrapEventLike(Protocol):
    """What the engine reads from ``device_manager.snmp.traps.TrapEvent``."""

    @property
    def kind(self) -> str: ...
    @property
    def source(self) -> str: ...
    @property
    def oid(self) -> str: ...
    @property
    def varbinds(self) -> Mapping[str, str]: ...


@dataclass(frozen=True)
class Observation:
    active: bool
    value: float | None = None
    detail: str = ""


Seen = dict[str, Observation]
Observe = Callable[[AlertRule, PollResultLike], Seen]
Describe = Callable[[AlertRule, str, Observation], str]


@dataclass(frozen=True)
class Observer:
    """How one rule kind reads a poll (only called for a reachable device, unless ``judges_down``) and
    says what it found in an alert's message."""

    kind: str
    observe: Observe
    describe: Describe | None = None  # None: the kind's name and subject, then the detail
    judges_down: bool = False  # also called for unreachable devices (device_down only)
    detail_in_message: bool = True


OBSERVERS: dict[str, Observer] = {}


def _register(observer: Observer) -> None:
    if observer.kind not in ALERT_KINDS:
        raise ValueError(f"observer for unknown alert kind {observer.kind!r}; add it to alert_kinds.py")
    if observer.kind in OBSERVERS:
        raise ValueError(f"two observers for alert kind {observer.kind!r}")
    OBSERVERS[observer.kind] = observer


def _subject(value: Any) -> str:
    return "" if value is None else str(value)


def _index_by_label(table: Any, label: Any, field: str) -> str:
    """The table index whose ``field`` equals ``label`` (poll facts), so that a problem reported by name
    and a trap reported by index land on the same subject."""
    if isinstance(table, dict):
        for index, entry in table.items():
            if isinstance(entry, dict) and entry.get(field) == label:
                return str(index)
    return _subject(label)


def _problems(rule: AlertRule, result: PollResultLike) -> list[Any]:
    return [p for p in result.problems if getattr(p, "code", None) == rule.kind]


def _problems_of_kind(rule: AlertRule, result: PollResultLike) -> Seen:
    """The poll's problems of the rule's kind, by subject."""
    return {_subject(p.subject): Observation(True, None, p.detail) for p in _problems(rule, result)}


def _threshold(rule: AlertRule) -> float:
    if rule.threshold is not None:
        return rule.threshold
    default = ALERT_KINDS[rule.kind].default_rule
    return default.threshold if default is not None and default.threshold is not None else 0.0


# --- the observers, one per kind ---------------------------------------------------------------------


def _device_down(_rule: AlertRule, result: PollResultLike) -> Seen:
    down = result.status == "down"
    return {"": Observation(down, detail=(result.error or "no answer") if down else "")}


def _supply_low(rule: AlertRule, result: PollResultLike) -> Seen:
    threshold = _threshold(rule)
    seen: Seen = {}
    for metric, value in result.metrics.items():
        match = SUPPLY_RE.match(metric)
        if match is not None and value >= 0:
            seen[match.group(1)] = Observation(value < threshold, float(value), f"{value:g}%")
    supplies = (result.facts or {}).get("supplies")
    if isinstance(supplies, dict):
        for key, entry in supplies.items():
            if isinstance(entry, dict) and entry.get("state") == "empty":
                seen[str(key)] = Observation(True, 0.0, "empty")
    if not seen:  # no levels at all: fall back to the printer's own low-supply bits
        return _problems_of_kind(rule, result)
    return seen


def _paper_low(rule: AlertRule, result: PollResultLike) -> Seen:
    """Input trays below the threshold but not empty: an empty tray is ``paper_out``'s."""
    threshold = _threshold(rule)
    seen: Seen = {}
    for metric, value in result.metrics.items():
        match = TRAY_RE.match(metric)
        if match is not None and value >= 0:
            seen[match.group(1)] = Observation(0 < value < threshold, float(value), f"{value:g}%")
    if not seen:
        return _problems_of_kind(rule, result)
    return seen


def _disk_high(rule: AlertRule, result: PollResultLike) -> Seen:
    threshold = _threshold(rule)
    storage = (result.facts or {}).get("storage")
    if not (isinstance(storage, dict) and storage):
        return _problems_of_kind(rule, result)
    seen: Seen = {}
    for index, entry in storage.items():
        if not isinstance(entry, dict) or entry.get("percent") is None:
            continue
        if not str(entry.get("type", "")).endswith(HR_STORAGE_FIXED_DISK):
            continue  # RAM and virtual memory are meant to be full
        percent = float(entry["percent"])
        seen[str(index)] = Observation(percent > threshold, percent, f"{percent:g}%")
    return seen


def _cpu_high(rule: AlertRule, result: PollResultLike) -> Seen:
    """The average processor load (HOST-RESOURCES-MIB) at or above the threshold."""
    load = result.metrics.get(CPU_LOAD)
    if load is None:
        return _problems_of_kind(rule, result)
    threshold = _threshold(rule)
    return {"": Observation(load >= threshold, float(load), f"{load:g}%")}


def _interface_down(rule: AlertRule, result: PollResultLike) -> Seen:
    interfaces = (result.facts or {}).get("interfaces")
    return {
        _index_by_label(interfaces, p.subject, "name"): Observation(True, None, p.detail)
        for p in _problems(rule, result)
    }


def _ups_on_battery(rule: AlertRule, result: PollResultLike) -> Seen:
    seen = _problems_of_kind(rule, result)
    if result.metrics.get("ups.on_battery", 0) >= 1:
        seen.setdefault("", Observation(True, 1.0, "on battery"))
    return seen


def _percent_message(what: str, otherwise: str) -> Describe:
    def message(rule: AlertRule, subject: str, obs: Observation) -> str:
        name = f"{what} {subject}" if subject else what
        if rule.threshold is None:
            return f"{name} {otherwise}"
        return f"{name} at {obs.detail} (threshold {rule.threshold:g}%)"

    return message


def _supply_message(rule: AlertRule, subject: str, obs: Observation) -> str:
    if rule.threshold is None:
        return f"supply {subject} low"
    return f"supply {subject} low ({obs.detail}; threshold {rule.threshold:g}%)"


for _observer in (
    Observer(
        DEVICE_DOWN,
        _device_down,
        lambda rule, _s, _o: f"down for {rule.raise_after} poll cycle(s)",
        judges_down=True,
    ),
    Observer("supply_low", _supply_low, _supply_message, detail_in_message=False),
    Observer("supply_empty", _problems_of_kind),
    Observer("paper_out", _problems_of_kind),
    Observer("paper_low", _paper_low, _percent_message("tray", "low"), detail_in_message=False),
    Observer("door_open", _problems_of_kind),
    Observer("jam", _problems_of_kind),
    Observer("printer_error", _problems_of_kind),
    Observer("interface_down", _interface_down, lambda _r, subject, _o: f"interface {subject or '?'} down"),
    Observer("ups_on_battery", _ups_on_battery, lambda _r, _s, _o: "UPS on battery"),
    Observer("ups_battery_low", _problems_of_kind, lambda _r, _s, _o: "UPS battery low"),
    Observer("disk_high", _disk_high, _percent_message("storage", "full"), detail_in_message=False),
    Observer("cpu_high", _cpu_high, _percent_message("CPU load", "high"), detail_in_message=False),
):
    _register(_observer)


# --- entry points ------------------------------------------------------------------------------------


def observe(rule: AlertRule, result: PollResultLike) -> Seen | None:
    """What ``rule`` sees in ``result``: subject -> observation, or None when it cannot judge (an
    unknown kind, or a device the poll did not reach)."""
    observer = OBSERVERS.get(rule.kind)
    if observer is None or result.status == "unknown":  # not polled: nothing to judge, not even down
        return None
    if not observer.judges_down and result.status not in REACHABLE:
        return None
    return observer.observe(rule, result)


def describe(rule: AlertRule, subject: str, obs: Observation) -> str:
    """What an alert of ``rule`` says about ``subject`` (after the device's name)."""
    observer = OBSERVERS.get(rule.kind)
    if observer is not None and observer.describe is not None:
        what = observer.describe(rule, subject, obs)
    else:
        what = rule.kind.replace("_", " ") + (f" ({subject})" if subject else "")
    with_detail = observer is None or observer.detail_in_message
    return what + (f": {obs.detail}" if obs.detail and with_detail else "")


def observe_trap(event: TrapEventLike) -> tuple[str, str, Observation] | None:
    """(rule kind, subject, observation) for a trap that sets or clears a condition."""
    if event.kind in ("link_down", "link_up"):
        index = ""
        for oid, value in event.varbinds.items():
            if oid.lstrip(".").startswith(IFINDEX_OID) or oid.lower().startswith("ifindex"):
                index = str(value)
                break
        down = event.kind == "link_down"
        return "interface_down", index, Observation(down, None, "linkDown trap" if down else "linkUp trap")
    if event.kind in ("ups_on_battery", "ups_on_line"):
        on_battery = event.kind == "ups_on_battery"
        return "ups_on_battery", "", Observation(on_battery, None, "UPS trap")
    return None
