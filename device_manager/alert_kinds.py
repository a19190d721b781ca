"""The one vocabulary of alert kinds: every problem code ``snmp/decode.py`` emits is an alert rule kind.

A *problem* is what the decoders find in a poll (``Problem.code``); an *alert rule* of the same kind
turns it into an alert (``services/alerts``: one observer per kind). ``device_down`` is the one kind no
decoder emits: it is judged from the poll's status. A kind may come with a *default rule*, which the
running system seeds once (``services/seeds.py``); a kind without one (``supply_empty``, already covered
by the ``supply_low`` default rule) raises alerts only through a rule someone creates.

The labels are the dashboard's ``kind.<name>`` translations (``device_manager.i18n`` derives them from
here). Adding a kind: add it here, give it an observer in ``services/alerts/observers.py`` (the tests
check that both lists agree) and, if a decoder emits it, list it in ``DECODER_PROBLEMS``
(``snmp/decode.py``) and in the ``problems`` of the device types that poll with that decoder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "ALERT_KINDS",
    "DEVICE_DOWN",
    "PROBLEM_CODES",
    "THRESHOLD_KINDS",
    "AlertKind",
    "DefaultRule",
    "kind_names",
]


@dataclass(frozen=True)
class DefaultRule:
    """The rule seeded for a kind: name, threshold (percent, threshold kinds only) and hysteresis."""

    name: str
    threshold: float | None = None
    raise_after: int = 1
    clear_after: int = 1
    severity: str = "warning"


@dataclass(frozen=True)
class AlertKind:
    name: str
    labels: Mapping[str, str]  # language -> label (zh-CN and en)
    description: str
    threshold: bool = False  # rules of this kind need a threshold (percent)
    default_rule: DefaultRule | None = None
    emitted_by_decoders: bool = True  # False: judged from the poll status, not a problem code


DEVICE_DOWN = "device_down"

_KINDS = (
    AlertKind(
        DEVICE_DOWN,
        {"zh-CN": "设备离线", "en": "device down"},
        "no answer to polling (or the SNMP credentials are refused) for raise_after cycles",
        default_rule=DefaultRule("device down", raise_after=3, severity="critical"),
        emitted_by_decoders=False,
    ),
    AlertKind(
        "supply_low",
        {"zh-CN": "耗材不足", "en": "supply low"},
        "a printer supply (toner, drum) below the threshold, or empty",
        threshold=True,
        default_rule=DefaultRule("supply low", threshold=10.0),
    ),
    AlertKind(
        "supply_empty",
        {"zh-CN": "耗材用尽", "en": "supply empty"},
        "a printer supply is empty (the supply_low default rule already covers it)",
    ),
    AlertKind(
        "paper_out",
        {"zh-CN": "缺纸", "en": "paper out"},
        "out of paper, or an input tray is empty",
        default_rule=DefaultRule("paper out"),
    ),
    AlertKind(
        "paper_low",
        {"zh-CN": "纸张不足", "en": "paper low"},
        "an input tray below the threshold but not empty (empty is paper_out)",
        threshold=True,
        default_rule=DefaultRule("paper low", threshold=10.0),
    ),
    AlertKind(
        "door_open",
        {"zh-CN": "机盖打开", "en": "door open"},
        "a door or cover is open",
        default_rule=DefaultRule("door open"),
    ),
    AlertKind("jam", {"zh-CN": "卡纸", "en": "jam"}, "paper jam", default_rule=DefaultRule("paper jam")),
    AlertKind(
        "printer_error",
        {"zh-CN": "打印机故障", "en": "printer error"},
        "offline, service requested, a tray or supply missing, output full",
        default_rule=DefaultRule("printer error"),
    ),
    AlertKind(
        "interface_down",
        {"zh-CN": "端口断开", "en": "interface down"},
        "an interface administratively up but down",
        default_rule=DefaultRule("interface down"),
    ),
    AlertKind(
        "ups_on_battery",
        {"zh-CN": "UPS 电池供电", "en": "UPS on battery"},
        "the UPS output is on battery",
        default_rule=DefaultRule("UPS on battery", severity="critical"),
    ),
    AlertKind(
        "ups_battery_low",
        {"zh-CN": "UPS 电量低", "en": "UPS battery low"},
        "battery low or depleted, or the charge below the profile's threshold",
        default_rule=DefaultRule("UPS battery low", severity="critical"),
    ),
    AlertKind(
        "disk_high",
        {"zh-CN": "磁盘空间不足", "en": "disk almost full"},
        "a fixed disk fuller than the threshold",
        threshold=True,
        default_rule=DefaultRule("disk high", threshold=90.0),
    ),
    AlertKind(
        "cpu_high",
        {"zh-CN": "CPU 负载过高", "en": "CPU load high"},
        "the average processor load at or above the threshold",
        threshold=True,
        default_rule=DefaultRule("CPU high", threshold=90.0, raise_after=3),
    ),
)

ALERT_KINDS: dict[str, AlertKind] = {kind.name: kind for kind in _KINDS}
# what decoders may put in Problem.code
PROBLEM_CODES: frozenset[str] = frozenset(k.name for k in _KINDS if k.emitted_by_decoders)
THRESHOLD_KINDS: frozenset[str] = frozenset(k.name for k in _KINDS if k.threshold)


def kind_names() -> tuple[str, ...]:
    return tuple(ALERT_KINDS)
