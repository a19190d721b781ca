"""Policies (validation with config paths) and the pure retention plan, with fixed timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vdi.policy import Policy, PolicyError, Retention, due_times, plan_retention

T0 = datetime(2026, 11, 25, 23, 30, tzinfo=UTC)  # a Wednesday


def hourly(n: int, start: datetime = T0) -> list[tuple[str, datetime]]:
    """``n`` scheduled snapshots one hour apart, newest at ``start``."""
    return [(f"auto-{i:03d}", start - timedelta(hours=i)) for i in range(n)]


# -- validation ---------------------------------------------------------------------------------------


def test_defaults_are_valid_and_from_mapping_reads_every_setting():
    policy = Policy.from_mapping(
        {
            "snapshot_schedule": "*/15 8-18 * * 1-5",
            "snapshot_retention": {"keep_last": 4, "keep_daily": 7},
            "backup_schedule": "0 19 * * *",
            "backup_retention": {"keep_weekly": 8},
            "backup_pool": "hall-backups",
            "quiesce": False,
            "timezone": "Asia/Shanghai",
        },
        "hall:windows[3].snapshots",
    )
    assert policy.snapshot_retention == Retention(keep_last=4, keep_daily=7)
    assert policy.backup_retention == Retention(keep_weekly=8)
    assert (policy.backup_pool, policy.quiesce, policy.tz) == (
        "hall-backups",
        False,
        ZoneInfo("Asia/Shanghai"),
    )
    assert Policy().validate() == Policy()


@pytest.mark.parametrize(
    ("data", "path", "words"),
    [
        ({"snapshot_schedule": "every hour"}, "w.snapshot_schedule", "cron"),
        ({"snapshot_schedule": "0 * * *"}, "w.snapshot_schedule", "5-field"),
        ({"snapshot_retention": {"keep_last": -1}}, "w.snapshot_retention.keep_last", ">= 0"),
        ({"snapshot_retention": {"keep_last": 0}}, "w.snapshot_retention", "keeps nothing"),
        ({"snapshot_retention": {"keep_hourly": 3}}, "w.snapshot_retention.keep_hourly", "retention rule"),
        ({"backup_schedule": "0 2 * * *"}, "w.backup_pool", "required"),
        ({"quiesce": "yes"}, "w.quiesce", "true or false"),
        ({"timezone": "Mars/Olympus"}, "w.timezone", "time zone"),
        ({"schedule": "0 * * * *"}, "w.schedule", "not a policy setting"),
        ({"snapshot_retention": [3]}, "w.snapshot_retention", "mapping"),
    ],
)
def test_invalid_policies_name_the_config_path_the_problem_and_the_fix(data, path, words):
    with pytest.raises(PolicyError) as err:
        Policy.from_mapping(data, "w")
    assert err.value.obj == path
    assert words in str(err.value)
    assert "Fix:" in str(err.value)


def test_due_times_fire_in_the_policy_time_zone():
    tz = ZoneInfo("Asia/Shanghai")  # UTC+8: 02:00 local is 18:00 UTC the day before
    slots = due_times(
        "0 2 * * *", datetime(2026, 11, 24, 17, 0, tzinfo=UTC), datetime(2026, 11, 25, 12, 0, tzinfo=UTC), tz
    )
    assert [s.astimezone(UTC) for s in slots] == [datetime(2026, 11, 24, 18, 0, tzinfo=UTC)]


# -- retention ---------------------------------------------------------------------------------------


def test_keep_last_keeps_exactly_the_newest_n_and_deletes_the_rest_oldest_first():
    plan = plan_retention(hourly(6), Retention(keep_last=2))
    assert sorted(plan.keep) == ["auto-000", "auto-001"]
    assert plan.delete == ["auto-005", "auto-004", "auto-003", "auto-002"]


def test_daily_keeps_the_newest_of_each_of_the_last_d_days():
    items = hourly(72)  # three days and a bit (23:30 back to 00:30 two days before, plus one more day)
    plan = plan_retention(items, Retention(keep_daily=3))
    # newest per day: 25th 23:30 (auto-000), 24th 23:30 (auto-024), 23rd 23:30 (auto-048)
    assert plan.keep == {
        "auto-000": ["daily 2026-11-25"],
        "auto-024": ["daily 2026-11-24"],
        "auto-048": ["daily 2026-11-23"],
    }
    assert len(plan.delete) == 69


def test_rules_combine_and_a_snapshot_can_be_kept_by_several():
    items = [(f"auto-{d:02d}", T0 - timedelta(days=d)) for d in range(30)]
    plan = plan_retention(items, Retention(keep_last=2, keep_daily=3, keep_weekly=3))
    assert plan.keep["auto-00"] == ["last", "daily 2026-11-25", "weekly 2026-W48"]
    assert plan.keep["auto-01"] == ["last", "daily 2026-11-24"]
    assert plan.keep["auto-02"] == ["daily 2026-11-23"]
    # weekly: newest of ISO weeks 48 (Mon 23rd..), 47 (Sun 22nd) and 46 (Sun 15th)
    assert plan.keep["auto-03"] == ["weekly 2026-W47"]
    assert plan.keep["auto-10"] == ["weekly 2026-W46"]
    assert set(plan.keep) == {"auto-00", "auto-01", "auto-02", "auto-03", "auto-10"}
    assert len(plan.delete) == 25


def test_days_are_counted_in_the_hall_time_zone():
    # 2026-11-25 17:00 UTC is already the 26th in Shanghai
    items = [
        ("auto-late", datetime(2026, 11, 25, 17, 0, tzinfo=UTC)),
        ("auto-early", datetime(2026, 11, 25, 15, 0, tzinfo=UTC)),
    ]
    assert sorted(plan_retention(items, Retention(keep_daily=5), ZoneInfo("UTC")).keep) == ["auto-late"]
    assert plan_retention(items, Retention(keep_daily=5), ZoneInfo("Asia/Shanghai")).keep == {
        "auto-late": ["daily 2026-11-26"],
        "auto-early": ["daily 2026-11-25"],
    }


def test_manual_snapshots_are_never_pruned_nor_counted():
    items = [*hourly(3), ("before-update", T0 + timedelta(minutes=5))]
    plan = plan_retention(items, Retention(keep_last=1))
    assert plan.keep == {"before-update": ["manual"], "auto-000": ["last"]}
    assert plan.delete == ["auto-002", "auto-001"]
