"""The scheduler with a recording job runner and a fixed clock: state across restarts, missed runs,
the per-desktop lock (never the same job twice at once), failures, and the policy file."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from vdi.cli.snapshots import snapshots as snapshots_group
from vdi.conn import connect
from vdi.desktops import desktop_lock
from vdi.policy import Policy, PolicyError
from vdi.scheduler import DesktopPolicy, Scheduler, load_policies

URI = "test:///default"
T0 = datetime(2026, 11, 25, 10, 0, 30, tzinfo=UTC)
HOURLY = Policy(snapshot_schedule="0 * * * *")


class Recorder:
    def __init__(self, delay: float = 0.0, fail_for: set[str] | None = None) -> None:
        self.calls: list[tuple[str, str, datetime]] = []
        self.delay = delay
        self.fail_for = fail_for or set()
        self.lock = threading.Lock()

    def __call__(self, desktop, kind, policy, slot):
        with self.lock:
            self.calls.append((desktop, kind, slot))
        time.sleep(self.delay)
        if desktop in self.fail_for:
            raise RuntimeError(f"disk of {desktop} is gone")
        return f"{kind} at {slot:%H:%M}"


@pytest.fixture(autouse=True)
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("HALLCLOUD_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def make(runner, policies=None, events=None, path=None):
    return Scheduler(
        URI,
        policies or [DesktopPolicy("win01-gov", HOURLY)],
        runner=runner,
        report=(events.append if events is not None else None),
        state_path=path,
    )


def test_first_sight_starts_from_now_then_each_slot_runs_once_even_across_restarts():
    rec = Recorder()
    assert make(rec).tick(T0) == []  # first sight: nothing replayed
    assert make(rec).tick(T0 + timedelta(minutes=20)) == []  # no slot yet
    events = make(rec).tick(T0 + timedelta(hours=1))  # 11:00:30: the 11:00 slot is due
    assert [(e.status, e.slot.hour) for e in events] == [("ok", 11)]
    # a restarted scheduler (new instance, same state file) does not run the 11:00 slot again
    assert make(rec).tick(T0 + timedelta(hours=1, minutes=10)) == []
    assert [(d, k, s.hour) for d, k, s in rec.calls] == [("win01-gov", "snapshot", 11)]
    status = make(rec).status()["win01-gov snapshot"]
    assert (
        status["runs"] == 1
        and status["last_status"] == "ok"
        and status["last_slot"].startswith("2026-11-25T11:00")
    )


def test_missed_slots_are_reported_and_only_the_latest_runs():
    rec, events = Recorder(), []
    make(rec).tick(T0)
    make(rec, events=events).tick(T0 + timedelta(hours=3, minutes=5))  # 11:00, 12:00 missed; 13:00 runs
    assert [e.status for e in events] == ["missed", "ok"]
    assert [s.hour for s in events[0].missed] == [11, 12]
    assert "2 slot(s) missed" in events[0].detail
    assert [s.hour for _, _, s in rec.calls] == [13]
    assert make(rec).status()["win01-gov snapshot"]["missed"] == 2


def test_a_busy_desktop_is_retried_on_the_next_tick_not_skipped():
    rec, events = Recorder(), []
    make(rec).tick(T0)
    conn = connect(URI)
    try:
        with desktop_lock(conn, "win01-gov", "restore backup b1"):
            make(rec, events=events).tick(T0 + timedelta(hours=1))
    finally:
        conn.close()
    assert [e.status for e in events] == ["busy"] and "restore backup b1" in events[0].detail
    assert rec.calls == []
    make(rec, events=events).tick(T0 + timedelta(hours=1, minutes=1))
    assert [e.status for e in events] == ["busy", "ok"] and len(rec.calls) == 1


def test_two_schedulers_at_once_never_run_the_same_job_twice():
    rec = Recorder(delay=0.5)
    make(rec).tick(T0)
    at = T0 + timedelta(hours=1)
    results: list[list] = []
    threads = [threading.Thread(target=lambda: results.append(make(rec).tick(at))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec.calls) == 1
    statuses = sorted(e.status for r in results for e in r)
    assert statuses.count("ok") == 1 and set(statuses) <= {"ok", "busy"}


def test_a_failing_desktop_is_recorded_and_does_not_stop_the_others():
    rec, events = Recorder(fail_for={"win01-gov"}), []
    policies = [DesktopPolicy("win01-gov", HOURLY), DesktopPolicy("win01-internet", HOURLY)]
    make(rec, policies).tick(T0)
    make(rec, policies, events).tick(T0 + timedelta(hours=1))
    assert [(e.desktop, e.status) for e in events] == [("win01-gov", "failed"), ("win01-internet", "ok")]
    assert "disk of win01-gov is gone" in events[0].detail
    assert make(rec, policies).status()["win01-gov snapshot"]["failures"] == 1


def test_backup_jobs_follow_their_own_schedule():
    rec = Recorder()
    policy = Policy(snapshot_schedule=None, backup_schedule="30 2 * * *", backup_pool="hall-backups")
    make(rec, [DesktopPolicy("w", policy)]).tick(T0)
    make(rec, [DesktopPolicy("w", policy)]).tick(T0 + timedelta(days=1))
    assert [(k, s.hour, s.minute) for _, k, s in rec.calls] == [("backup", 2, 30)]


def test_policy_file_merges_defaults_and_names_the_path_in_errors(tmp_path):
    good = tmp_path / "policies.yaml"
    good.write_text(
        "uri: test:///default\n"
        "defaults: {snapshot_schedule: '*/30 * * * *', snapshot_retention: {keep_last: 4}}\n"
        "desktops:\n  win01-gov: {}\n  win01-internet: {quiesce: false}\n"
    )
    uri, items = load_policies(good)
    assert uri == URI
    assert [(i.desktop, i.policy.snapshot_schedule, i.policy.quiesce) for i in items] == [
        ("win01-gov", "*/30 * * * *", True),
        ("win01-internet", "*/30 * * * *", False),
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text("desktops:\n  win02-gov: {snapshot_schedule: 'hourly'}\n")
    with pytest.raises(PolicyError, match=r"bad.yaml:desktops.win02-gov.snapshot_schedule: 'hourly' is not"):
        load_policies(bad)


def test_cli_scheduler_once_and_status(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("uri: test:///default\ndesktops:\n  win09-gov: {snapshot_schedule: '0 3 * * *'}\n")
    runner = CliRunner()
    out = runner.invoke(snapshots_group, ["scheduler", "--policies", str(path), "--once"])
    assert out.exit_code == 0, out.output
    assert "scheduler: 1 job(s) on test:///default" in out.output
    out = runner.invoke(snapshots_group, ["status", "--policies", str(path)])
    assert out.exit_code == 0 and "win09-gov snapshot" in out.output and "runs 0" in out.output
    path.write_text("desktops: {}\n")
    out = runner.invoke(snapshots_group, ["scheduler", "--policies", str(path), "--once"])
    assert out.exit_code == 1 and "must map desktop names to policies" in out.output
