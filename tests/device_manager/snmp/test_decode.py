"""Decoding of raw values, without SNMP: sentinels, bit strings, derived problems."""

from __future__ import annotations

import pytest

from device_manager.snmp.decode import Raw, decode, decode_printer_error_state, interpret_level
from device_manager.snmp.profiles import load_profiles

PROFILES = load_profiles()


@pytest.mark.parametrize(
    ("octets", "expected"),
    [
        (b"\x80\x00", ["lowPaper"]),
        (b"\x40", ["noPaper"]),
        (b"\x08\x00", ["doorOpen"]),
        (b"\x04\x00", ["jammed"]),
        (b"\x01\x00", ["serviceRequested"]),
        (b"\x00\x80", ["inputTrayMissing"]),
        (b"\x00\x04", ["inputTrayEmpty"]),
        (b"\x00\x02", ["overduePreventMaint"]),
        (b"\x68\x04", ["noPaper", "lowToner", "doorOpen", "inputTrayEmpty"]),
        (b"\x00", []),
        (b"", []),
    ],
)
def test_printer_error_bits_msb_first(octets: bytes, expected: list[str]) -> None:
    assert decode_printer_error_state(octets) == expected


@pytest.mark.parametrize(
    ("level", "max_capacity", "state", "percent", "clamped"),
    [
        (-3, 100, "some_remaining", None, False),
        (-2, 100, "unknown", None, False),
        (-1, 100, "other", None, False),
        (50, -2, "no_max", None, False),
        (50, -1, "no_max", None, False),
        (0, 100, "empty", 0.0, False),
        (25, 200, "ok", 12.5, False),
        (1200, 1000, "ok", 100.0, True),
        (None, 100, "unknown", None, False),
    ],
)
def test_levels_sentinels_are_states(
    level: int | None, max_capacity: int, state: str, percent: float | None, clamped: bool
) -> None:
    result = interpret_level(level, max_capacity)
    assert (result.state, result.percent, result.clamped) == (state, percent, clamped)


def _printer(supplies: dict[str, tuple[str, int, int]], error_bits: bytes = b"\x00\x00") -> Raw:
    return Raw(
        scalars={"sysUpTime": 100, "sysName": b"prn"},
        tables={
            "hrPrinterTable": {"1": {"hrPrinterStatus": 3, "hrPrinterDetectedErrorState": error_bits}},
            "prtMarkerSuppliesTable": {
                f"1.{k}": {
                    "prtMarkerSuppliesDescription": d.encode(),
                    "prtMarkerSuppliesMaxCapacity": m,
                    "prtMarkerSuppliesLevel": lv,
                }
                for k, (d, m, lv) in supplies.items()
            },
        },
    )


def test_supply_low_uses_the_profile_threshold_and_skips_sentinels() -> None:
    out = decode(
        PROFILES.for_type("printer"),
        _printer(
            {
                "1": ("Black", 100, -3),
                "2": ("Cyan", 100, 14),
                "3": ("Magenta", 100, 15),
                "4": ("Yellow", -2, 3),
                "5": ("Drum", 100, 0),
            }
        ),
    )
    assert [(p.code, p.subject) for p in out.problems] == [("supply_low", "Cyan"), ("supply_empty", "Drum")]
    assert "supply.1.percent" not in out.metrics and "supply.4.percent" not in out.metrics
    assert out.metrics["supply.2.percent"] == 14.0
    assert out.facts["supplies"]["1"]["state"] == "some_remaining"
    assert out.facts["sysName"] == "prn"


def test_error_bits_become_problems() -> None:
    out = decode(PROFILES.for_type("printer"), _printer({"1": ("Black", 100, 90)}, b"\x4c\x00"))
    assert {p.code for p in out.problems} == {"paper_out", "door_open", "jam"}
    assert out.facts["printer_errors"] == ["noPaper", "doorOpen", "jammed"]


def test_interface_down_only_when_admin_up() -> None:
    raw = Raw(
        tables={
            "ifTable": {
                "1": {"ifDescr": b"Gi0/1", "ifAdminStatus": 1, "ifOperStatus": 1},
                "2": {"ifDescr": b"Gi0/2", "ifAdminStatus": 1, "ifOperStatus": 2},
                "3": {"ifDescr": b"Gi0/3", "ifAdminStatus": 2, "ifOperStatus": 2},
            }
        }
    )
    out = decode(PROFILES.for_type("switch"), raw)
    assert [(p.code, p.subject) for p in out.problems] == [("interface_down", "Gi0/2")]
    assert out.metrics["if.2.oper_up"] == 0.0 and out.metrics["if.3.admin_up"] == 0.0


def test_ups_on_battery_and_low_charge() -> None:
    raw = Raw(
        scalars={
            "upsBatteryStatus": 3,
            "upsEstimatedChargeRemaining": 12,
            "upsOutputSource": 5,
            "upsSecondsOnBattery": 600,
        }
    )
    out = decode(PROFILES.for_type("ups"), raw)
    assert [p.code for p in out.problems] == ["ups_on_battery", "ups_battery_low"]
    assert out.metrics["ups.on_battery"] == 1.0 and out.metrics["ups.charge_percent"] == 12.0


def test_disk_high_only_for_fixed_disks() -> None:
    raw = Raw(
        tables={
            "hrStorageTable": {
                "1": {
                    "hrStorageType": "1.3.6.1.2.1.25.2.1.2",
                    "hrStorageDescr": b"RAM",
                    "hrStorageAllocationUnits": 1024,
                    "hrStorageSize": 100,
                    "hrStorageUsed": 99,
                },
                "31": {
                    "hrStorageType": "1.3.6.1.2.1.25.2.1.4",
                    "hrStorageDescr": b"/",
                    "hrStorageAllocationUnits": 4096,
                    "hrStorageSize": 100,
                    "hrStorageUsed": 91,
                },
            }
        }
    )
    out = decode(PROFILES.for_type("kiosk"), raw)
    assert [(p.code, p.subject) for p in out.problems] == [("disk_high", "/")]
    assert out.metrics["hr.storage.31.percent"] == 91.0 and out.metrics["hr.storage.1.percent"] == 99.0
