"""Request planning without SNMP: which columns go in which GETBULK, with what max-repetitions."""

from __future__ import annotations

from device_manager.snmp.plan import RequestPlan as _Plan
from device_manager.snmp.plan import group_columns as _group_columns
from device_manager.snmp.profiles import load_profiles

PRINTER = _Plan.build(load_profiles().for_type("printer"))


def _tables(groups: list) -> list[tuple[set[str], int]]:
    return [({table for table, _, _ in columns}, max_rep) for columns, max_rep in groups]


def test_first_poll_is_one_request_with_the_profile_default() -> None:
    groups = _group_columns(PRINTER.columns, None, 10, 10)
    assert len(groups) == 1 and groups[0][1] == 10 and len(groups[0][0]) == len(PRINTER.columns)


def test_long_and_short_tables_are_split_when_it_pays() -> None:
    rows = {
        "hrDeviceTable": 1,
        "hrPrinterTable": 1,
        "prtMarkerSuppliesTable": 6,
        "prtInputTable": 3,
        "prtAlertTable": 3,
    }
    groups = _group_columns(PRINTER.columns, rows, 10, 10)
    assert _tables(groups) == [
        ({"hrDeviceTable", "hrPrinterTable", "prtInputTable", "prtAlertTable"}, 4),
        ({"prtMarkerSuppliesTable"}, 7),
    ]
    assert sorted(c for cols, _ in groups for c in cols) == sorted(PRINTER.columns)
    # an expensive message (SNMPv3) keeps them together: rows + 1 of the longest table for all
    assert _tables(_group_columns(PRINTER.columns, rows, 10, 1000)) == [(set(rows), 7)]


def test_max_repetitions_is_capped_by_the_profile() -> None:
    rows = dict.fromkeys(
        ("hrDeviceTable", "hrPrinterTable", "prtMarkerSuppliesTable", "prtInputTable", "prtAlertTable"), 50
    )
    assert [max_rep for _, max_rep in _group_columns(PRINTER.columns, rows, 10, 10)] == [10]
