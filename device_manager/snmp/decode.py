"""Pure decoding: raw SNMP values (already plain Python) -> metrics, facts and problems.

No I/O here: the poller fetches values per profile and hands them over as ``Raw``; each decoder named
by a profile module reads what it needs. Everything a MIB encodes as a sentinel or a bit string is
interpreted here, once:

* Printer-MIB levels and capacities (RFC 3805): -1 "other", -2 "unknown", -3 "some remaining"
  (at least one unit left) are *states*, never numbers; a level above the maximum (some vendors) is
  clamped to 100 % and flagged.
* hrPrinterDetectedErrorState (HOST-RESOURCES-MIB, RFC 2790 as updated by RFC 3805) is an OCTET STRING
  of bits where bit 0 is the most significant bit of the first octet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from device_manager.alert_kinds import PROBLEM_CODES
from device_manager.device_types import Thresholds

if TYPE_CHECKING:
    from device_manager.snmp.profiles import PollProfile

__all__ = [
    "DECODER_PROBLEMS",
    "PRINTER_ERROR_BITS",
    "Problem",
    "Raw",
    "Value",
    "decode",
    "decode_printer_error_state",
    "interpret_level",
]

Value = int | str | bytes


@dataclass
class Problem:
    """Something an operator should look at. ``code`` is an alert kind (``device_manager.alert_kinds``):
    the alert rules of that kind observe it."""

    code: str
    detail: str
    subject: str | None = None


@dataclass
class Raw:
    """Fetched values: scalars by name; tables by name -> row index (dotted) -> column -> value."""

    scalars: dict[str, Value] = field(default_factory=dict)
    tables: dict[str, dict[str, dict[str, Value]]] = field(default_factory=dict)

    def table(self, name: str) -> dict[str, dict[str, Value]]:
        return self.tables.get(name, {})


@dataclass
class Decoded:
    metrics: dict[str, float] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


# hrPrinterDetectedErrorState bit names in bit order (bit 0 = MSB of octet 1).
PRINTER_ERROR_BITS: tuple[str, ...] = (
    "lowPaper",
    "noPaper",
    "lowToner",
    "noToner",
    "doorOpen",
    "jammed",
    "offline",
    "serviceRequested",
    "inputTrayMissing",
    "outputTrayMissing",
    "markerSupplyMissing",
    "outputNearFull",
    "outputFull",
    "inputTrayEmpty",
    "overduePreventMaint",
)

HR_PRINTER_STATUS = {1: "other", 2: "unknown", 3: "idle", 4: "printing", 5: "warmup"}
HR_DEVICE_STATUS = {1: "unknown", 2: "running", 3: "warning", 4: "testing", 5: "down"}
PRT_ALERT_SEVERITY = {1: "other", 3: "critical", 4: "warning", 5: "warningBinaryChangeEvent"}
# A subset of PrtAlertCodeTC (RFC 3805) worth naming; others are reported by number.
PRT_ALERT_CODE = {
    1: "other",
    2: "unknown",
    3: "coverOpen",
    4: "coverClosed",
    5: "interlockOpen",
    6: "interlockClosed",
    7: "configurationChange",
    8: "jam",
    9: "subunitMissing",
    13: "subunitAlmostEmpty",
    14: "subunitEmpty",
    15: "subunitAlmostFull",
    16: "subunitFull",
    501: "doorOpen",
    502: "doorClosed",
    503: "powerUp",
    504: "powerDown",
    505: "printerNMSReset",
    506: "printerManualReset",
    507: "printerReadyToPrint",
    801: "inputMediaTrayMissing",
    805: "inputMediaSupplyLow",
    806: "inputMediaSupplyEmpty",
    807: "inputMediaChangeRequest",
    1101: "markerTonerEmpty",
    1104: "markerTonerAlmostEmpty",
    1301: "mediaPathMediaTrayMissing",
    1302: "mediaPathMediaTrayAlmostFull",
    1303: "mediaPathMediaTrayFull",
}
UPS_BATTERY_STATUS = {1: "unknown", 2: "batteryNormal", 3: "batteryLow", 4: "batteryDepleted"}
UPS_OUTPUT_SOURCE = {
    1: "other",
    2: "none",
    3: "normal",
    4: "bypass",
    5: "battery",
    6: "booster",
    7: "reducer",
}
LEVEL_SENTINELS = {-1: "other", -2: "unknown", -3: "some_remaining"}
HR_STORAGE_FIXED_DISK = "1.3.6.1.2.1.25.2.1.4"
IF_DOWN_STATES = {2, 7}  # down, lowerLayerDown


def _int(value: Value | None) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _text(value: Value | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace").rstrip("\x00").strip()
    return str(value)


def decode_printer_error_state(value: Value | None) -> list[str]:
    """Names of the bits set in hrPrinterDetectedErrorState (bit 0 = MSB of the first octet)."""
    if value is None:
        return []
    data = value if isinstance(value, bytes) else str(value).encode("latin-1")
    names = []
    for bit, name in enumerate(PRINTER_ERROR_BITS):
        octet, offset = divmod(bit, 8)
        if octet < len(data) and data[octet] & (0x80 >> offset):
            names.append(name)
    return names


@dataclass(frozen=True)
class Level:
    """A Printer-MIB level/max pair interpreted: a state, and a percent only when it is meaningful."""

    state: str  # "ok", "empty", "other", "unknown", "some_remaining", "no_max"
    percent: float | None
    clamped: bool = False


def interpret_level(level: int | None, max_capacity: int | None) -> Level:
    if level is None:
        return Level("unknown", None)
    if level in LEVEL_SENTINELS:
        return Level(LEVEL_SENTINELS[level], None)
    if level < 0:
        return Level("unknown", None)
    if level == 0:
        return Level("empty", 0.0)
    if max_capacity is None or max_capacity <= 0:
        # -1: no restriction, -2: unknown; a level alone says nothing relative.
        return Level("no_max", None)
    if level > max_capacity:
        return Level("ok", 100.0, clamped=True)
    return Level("ok", round(100.0 * level / max_capacity, 2))


def _system(raw: Raw, out: Decoded, _t: Thresholds) -> None:
    ticks = _int(raw.scalars.get("sysUpTime"))
    if ticks is not None:
        out.metrics["sys.uptime_s"] = ticks / 100.0
    for name in ("sysName", "sysDescr", "sysObjectID", "sysContact", "sysLocation"):
        text = _text(raw.scalars.get(name))
        if text is not None:
            out.facts[name] = text


def _interfaces(raw: Raw, out: Decoded, _t: Thresholds) -> None:
    names = {idx: _text(row.get("ifName")) for idx, row in raw.table("ifXTable").items()}
    interfaces = {}
    for idx, row in raw.table("ifTable").items():
        admin, oper = _int(row.get("ifAdminStatus")), _int(row.get("ifOperStatus"))
        label = names.get(idx) or _text(row.get("ifDescr")) or f"ifIndex {idx}"
        if admin is not None:
            out.metrics[f"if.{idx}.admin_up"] = 1.0 if admin == 1 else 0.0
        if oper is not None:
            out.metrics[f"if.{idx}.oper_up"] = 1.0 if oper == 1 else 0.0
        for column, metric in (
            ("ifInOctets", "in_octets"),
            ("ifOutOctets", "out_octets"),
            ("ifInErrors", "in_errors"),
            ("ifOutErrors", "out_errors"),
        ):
            number = _int(row.get(column))
            if number is not None:
                out.metrics[f"if.{idx}.{metric}"] = float(number)
        interfaces[idx] = {"name": label, "admin_status": admin, "oper_status": oper}
        if admin == 1 and oper in IF_DOWN_STATES:
            out.problems.append(Problem("interface_down", f"{label} is administratively up but down", label))
    out.facts["interfaces"] = interfaces


def _host_resources(raw: Raw, out: Decoded, t: Thresholds) -> None:
    ticks = _int(raw.scalars.get("hrSystemUptime"))
    if ticks is not None:
        out.metrics["hr.uptime_s"] = ticks / 100.0
    loads = []
    for idx, row in raw.table("hrProcessorTable").items():
        load = _int(row.get("hrProcessorLoad"))
        if load is not None:
            out.metrics[f"hr.cpu.{idx}.load"] = float(load)
            loads.append(load)
    if loads:
        average = sum(loads) / len(loads)
        out.metrics["hr.cpu.load"] = round(average, 2)
        if average >= t.cpu_high_percent and t.cpu_high_percent < 100:
            out.problems.append(Problem("cpu_high", f"CPU load {average:.0f}% >= {t.cpu_high_percent:g}%"))
    storage = {}
    for idx, row in raw.table("hrStorageTable").items():
        unit, size, used = (
            _int(row.get(c)) for c in ("hrStorageAllocationUnits", "hrStorageSize", "hrStorageUsed")
        )
        descr = _text(row.get("hrStorageDescr")) or f"hrStorageIndex {idx}"
        kind = _text(row.get("hrStorageType")) or ""
        entry: dict[str, Any] = {"descr": descr, "type": kind}
        if unit and size is not None and used is not None and size > 0:
            percent = round(100.0 * used / size, 2)
            out.metrics[f"hr.storage.{idx}.percent"] = percent
            out.metrics[f"hr.storage.{idx}.size_bytes"] = float(size * unit)
            out.metrics[f"hr.storage.{idx}.used_bytes"] = float(used * unit)
            entry["percent"] = percent
            if kind == HR_STORAGE_FIXED_DISK and percent >= t.disk_high_percent:
                detail = f"{descr} is {percent:.1f}% full (threshold {t.disk_high_percent:g}%)"
                out.problems.append(Problem("disk_high", detail, descr))
        storage[idx] = entry
    out.facts["storage"] = storage


_ERROR_BIT_PROBLEMS = {
    "noPaper": ("paper_out", "out of paper"),
    "inputTrayEmpty": ("paper_out", "an input tray is empty"),
    "doorOpen": ("door_open", "a door or cover is open"),
    "jammed": ("jam", "paper jam"),
    "noToner": ("supply_empty", "toner empty"),
    "lowToner": ("supply_low", "toner low"),
    "offline": ("printer_error", "printer is offline"),
    "serviceRequested": ("printer_error", "service requested"),
    "inputTrayMissing": ("printer_error", "input tray missing"),
    "outputTrayMissing": ("printer_error", "output tray missing"),
    "markerSupplyMissing": ("printer_error", "marker supply missing"),
    "outputFull": ("printer_error", "output tray full"),
}


def _printer(raw: Raw, out: Decoded, t: Thresholds) -> None:
    codes_seen: set[tuple[str, str | None]] = set()

    def problem(code: str, detail: str, subject: str | None = None) -> None:
        if (code, subject) not in codes_seen:
            codes_seen.add((code, subject))
            out.problems.append(Problem(code, detail, subject))

    for idx, row in raw.table("hrDeviceTable").items():
        status = _int(row.get("hrDeviceStatus"))
        if status is not None:
            out.facts.setdefault("device_status", {})[idx] = HR_DEVICE_STATUS.get(status, str(status))
    printers: dict[str, Any] = {}
    for idx, row in raw.table("hrPrinterTable").items():
        status = _int(row.get("hrPrinterStatus"))
        bits = decode_printer_error_state(row.get("hrPrinterDetectedErrorState"))
        printers[idx] = {"status": HR_PRINTER_STATUS.get(status or 0, str(status)), "errors": bits}
        if status is not None:
            out.metrics[f"printer.{idx}.status"] = float(status)
        for name in bits:
            if name in _ERROR_BIT_PROBLEMS:
                code, detail = _ERROR_BIT_PROBLEMS[name]
                problem(code, detail)
    out.facts["printer"] = printers
    # First printer's status as a flat fact for the common single-engine case.
    if printers:
        first = printers[sorted(printers, key=_index_key)[0]]
        out.facts["printer_status"] = first["status"]
        out.facts["printer_errors"] = first["errors"]

    supplies: dict[str, Any] = {}
    for idx, row in raw.table("prtMarkerSuppliesTable").items():
        key = idx.rsplit(".", 1)[-1]
        descr = _text(row.get("prtMarkerSuppliesDescription")) or f"supply {key}"
        max_cap = _int(row.get("prtMarkerSuppliesMaxCapacity"))
        level = interpret_level(_int(row.get("prtMarkerSuppliesLevel")), max_cap)
        supplies[key] = {
            "description": descr,
            "state": level.state,
            "percent": level.percent,
            "level_above_max": level.clamped,
            "raw_level": _int(row.get("prtMarkerSuppliesLevel")),
            "raw_max": max_cap,
        }
        if level.percent is not None:
            out.metrics[f"supply.{key}.percent"] = level.percent
        if level.state == "empty":
            problem("supply_empty", f"{descr} is empty", descr)
        elif level.percent is not None and level.percent < t.supply_low_percent:
            problem("supply_low", f"{descr} at {level.percent:g}% (< {t.supply_low_percent:g}%)", descr)
    out.facts["supplies"] = supplies

    trays: dict[str, Any] = {}
    for idx, row in raw.table("prtInputTable").items():
        key = idx.rsplit(".", 1)[-1]
        name = _text(row.get("prtInputName")) or f"tray {key}"
        max_cap = _int(row.get("prtInputMaxCapacity"))
        level = interpret_level(_int(row.get("prtInputCurrentLevel")), max_cap)
        trays[key] = {
            "name": name,
            "state": level.state,
            "percent": level.percent,
            "level_above_max": level.clamped,
        }
        if level.percent is not None:
            out.metrics[f"tray.{key}.percent"] = level.percent
        if level.state == "empty" and max_cap is not None and max_cap > 0:
            problem("paper_out", f"{name} is empty", name)
        elif level.percent is not None and level.percent < t.tray_low_percent:
            problem("paper_low", f"{name} at {level.percent:g}% (< {t.tray_low_percent:g}%)", name)
    out.facts["trays"] = trays

    alerts = []
    for idx, row in sorted(raw.table("prtAlertTable").items(), key=lambda kv: _index_key(kv[0])):
        severity = _int(row.get("prtAlertSeverityLevel"))
        alert_code = _int(row.get("prtAlertCode"))
        alerts.append(
            {
                "index": idx,
                "severity": PRT_ALERT_SEVERITY.get(severity or 0, str(severity)),
                "code": PRT_ALERT_CODE.get(alert_code or 0, str(alert_code)),
                "group": _int(row.get("prtAlertGroup")),
                "location": _int(row.get("prtAlertLocation")),
                "description": _text(row.get("prtAlertDescription")) or "",
            }
        )
    out.facts["alerts"] = alerts
    out.metrics["printer.alerts"] = float(len(alerts))
    out.metrics["printer.alerts_critical"] = float(sum(a["severity"] == "critical" for a in alerts))


def _ups(raw: Raw, out: Decoded, t: Thresholds) -> None:
    battery, source = _int(raw.scalars.get("upsBatteryStatus")), _int(raw.scalars.get("upsOutputSource"))
    for name, metric in (
        ("upsEstimatedChargeRemaining", "ups.charge_percent"),
        ("upsSecondsOnBattery", "ups.seconds_on_battery"),
        ("upsEstimatedMinutesRemaining", "ups.minutes_remaining"),
        ("upsBatteryStatus", "ups.battery_status"),
        ("upsOutputSource", "ups.output_source"),
    ):
        number = _int(raw.scalars.get(name))
        if number is not None:
            out.metrics[metric] = float(number)
    if source is not None:
        out.metrics["ups.on_battery"] = 1.0 if source == 5 else 0.0
        out.facts["ups_output_source"] = UPS_OUTPUT_SOURCE.get(source, str(source))
    if battery is not None:
        out.facts["ups_battery_status"] = UPS_BATTERY_STATUS.get(battery, str(battery))
    if source == 5:
        seconds = _int(raw.scalars.get("upsSecondsOnBattery"))
        detail = f"on battery for {seconds} s" if seconds else "on battery"
        out.problems.append(Problem("ups_on_battery", detail))
    if battery in (3, 4):
        out.problems.append(Problem("ups_battery_low", f"battery {UPS_BATTERY_STATUS[battery]}"))
    charge = _int(raw.scalars.get("upsEstimatedChargeRemaining"))
    if charge is not None and charge < t.ups_charge_low_percent and battery not in (3, 4):
        out.problems.append(Problem("ups_battery_low", f"charge {charge}% (< {t.ups_charge_low_percent:g}%)"))


def _index_key(index: str) -> tuple[int, ...]:
    return tuple(int(p) for p in index.split(".") if p.isdigit())


_DECODERS = {
    "system": _system,
    "interfaces": _interfaces,
    "host_resources": _host_resources,
    "printer": _printer,
    "ups": _ups,
}

# The problem codes each decoder can emit. A device type lists exactly those of its poll modules in the
# registry (checked when the profiles are built); every code is an alert kind.
DECODER_PROBLEMS: dict[str, frozenset[str]] = {
    "system": frozenset(),
    "interfaces": frozenset({"interface_down"}),
    "host_resources": frozenset({"cpu_high", "disk_high"}),
    "printer": frozenset(
        {"supply_low", "supply_empty", "paper_out", "paper_low", "door_open", "jam", "printer_error"}
    ),
    "ups": frozenset({"ups_on_battery", "ups_battery_low"}),
}
assert set(DECODER_PROBLEMS) == set(_DECODERS), "every decoder declares its problem codes"
assert set().union(*DECODER_PROBLEMS.values()) <= PROBLEM_CODES, "every problem code is an alert kind"


def decode(profile: PollProfile, raw: Raw) -> Decoded:
    out = Decoded()
    for name in profile.decoders:
        _DECODERS[name](raw, out, profile.thresholds)
    # A device-wide problem (from an error bit) says less than the same problem naming its subject
    # (from a table row): keep only the specific one.
    specific = {p.code for p in out.problems if p.subject is not None}
    out.problems = [p for p in out.problems if p.subject is not None or p.code not in specific]
    return out
