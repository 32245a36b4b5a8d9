"""Operations: the run log, replay from bronze equals the incremental build, and the scheduler."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from helpers import qlake, reset_lake



@pytest.fixture(scope="module")
def hourly_built(spark, cfg, sample_dir):
    """The sample delivered hour by hour through `qlake run hourly` (the incremental path)."""
    reset_lake(spark, cfg)
    for group in sorted(sample_dir.iterdir()):
        out = qlake("run", "hourly", "--incoming", str(group))
        assert out.returncode == 0, out.stderr[-3000:]
    return cfg


def test_job_runs_record_each_hourly_run(hourly_built, cfg):
    from qlake import runlog

    runs = runlog.last_runs(cfg, "hourly")
    assert [r["status"] for r in runs] == ["succeeded"] * 3
    assert [r["rows_in"] for r in runs] == [1515, 1500, 0]  # group 3 is a re-delivery: nothing new
    import json

    assert "gold.fact_sales" in json.loads(runs[0]["delta_versions"])
    # the re-delivered group only adds its manifest rows
    assert set(json.loads(runs[2]["delta_versions"])) == {"bronze.ingested_files"}
    out = qlake("status")
    assert out.returncode == 0 and "hourly" in out.stdout


def test_replay_from_bronze_equals_incremental(hourly_built, spark, cfg):
    from gold import replay
    from qlake import spark as qspark

    diffs = replay.replay(qspark.session(cfg), cfg)
    names = {d.table for d in diffs}
    assert {"gold.fact_sales", "gold.mkt_top_products", "silver.sales_transactions", "silver.customers"} <= names
    assert [(d.table, d.rows_before, d.rows_after, d.only_before, d.only_after) for d in diffs if not d.equal] == []
    fact = next(d for d in diffs if d.table == "gold.fact_sales")
    assert fact.rows_before == fact.rows_after == 3000


def test_missed_slot_is_detected(hourly_built, cfg):
    from qlake import runlog, schedule

    job = schedule.ScheduledJob("hourly", "0 * * * *", [])
    # Within the hour of the fixture's last run, whatever the clock says now (a suite can cross an hour).
    last = [r for r in runlog.last_runs(cfg, "hourly") if r["status"] != "skipped"][-1]["started_at"]
    now = last if last.tzinfo else last.replace(tzinfo=timezone.utc)
    assert not schedule.missed(cfg, job, now)  # ran this hour already (the fixture)
    assert schedule.missed(cfg, job, now + timedelta(hours=2))  # two slots later with no run: catch up
    assert schedule.missed(cfg, schedule.ScheduledJob("daily", "30 0 * * *", []), now)  # never ran


def test_the_schedule_compacts_the_stream_tables_every_15_minutes(cfg):
    from qlake import schedule

    by_name = {job.name: job for job in schedule.jobs(cfg)}
    assert sorted(by_name) == ["daily", "hourly", "stream-compact"]
    compact = by_name["stream-compact"]
    assert (compact.cron, compact.argv, compact.catch_up) == ("*/15 * * * *", ["stream", "compact"], False)
    fires = [schedule.trigger(compact.cron).get_next_fire_time(None, datetime(2026, 1, 1, 10, 7, tzinfo=timezone.utc))]
    assert fires == [datetime(2026, 1, 1, 10, 15, tzinfo=timezone.utc)]


def _await_runs(cfg, before: int, done, timeout: float = 60.0) -> list[dict]:
    """The hourly runs logged since ``before``, once ``done(statuses)`` holds (fails after ``timeout`` s)."""
    from qlake import runlog

    deadline = time.monotonic() + timeout
    while True:
        runs = runlog.last_runs(cfg, "hourly")[before:]
        if done([r["status"] for r in runs]):
            return runs
        assert time.monotonic() < deadline, [r["status"] for r in runs]
        time.sleep(0.5)


def test_scheduler_runs_skips_overlaps_and_survives_failures(hourly_built, cfg, tmp_path, monkeypatch):
    from qlake import runlog, schedule
    from qlake.config import settings
    from qlake.generate import generate

    incoming = tmp_path / "incoming"
    generate(incoming, groups=1, rows=100, seed=3, redeliver=False, start_group=20)
    monkeypatch.setenv("QLAKE_INCOMING", str(incoming))
    monkeypatch.setenv("QLAKE_HOURLY_CRON", "*/3 * * * * *")  # every 3 s
    before = len(runlog.last_runs(cfg, "hourly"))
    stop = threading.Event()
    thread = threading.Thread(target=schedule.run_scheduler, args=(settings(), stop, ["hourly"]), daemon=True)
    thread.start()
    try:
        _await_runs(cfg, before, lambda statuses: "succeeded" in statuses)
        # An overlap, made on purpose rather than hoped for from slow runs: another run (a manual one, here)
        # holds the hourly lock while the schedule fires; those runs are logged as skipped and do nothing.
        held_from = time.monotonic()
        while True:
            with runlog.job_lock(cfg, "hourly") as acquired:
                if acquired:
                    _await_runs(cfg, before, lambda statuses: "skipped" in statuses)
                    break
            assert time.monotonic() - held_from < 60, "the scheduled runs never released the hourly lock"
            time.sleep(0.2)
        # A broken delivery: most dates unparseable -> the `fail` rule stops every following run, which is logged.
        broken = incoming / "group_broken"
        broken.mkdir()
        header = (Path(sorted(incoming.glob("group*/sales_transactions_*.csv"))[0]).read_text().splitlines()[0])
        rows = [f"not-a-date,trx-7777777777{i:02d},85469,A,B,a@b.com,1,1,1,X,Y,,,,,,1,1.00,no,Cash" for i in range(5)]
        (broken / "sales_transactions_broken.csv").write_text("\r\n".join([header, *rows]) + "\r\n")
        # the schedule keeps going after a failure: a second failed run follows the first
        runs = _await_runs(cfg, before, lambda statuses: statuses.count("failed") >= 2)
    finally:
        stop.set()
        thread.join(120)
    skipped = [r for r in runs if r["status"] == "skipped"]
    assert skipped[0]["error"] == "previous hourly run still in progress"
    failed = [r for r in runs if r["status"] == "failed"]
    assert "transaction_dates_mostly_parse" in failed[0]["error"]
    assert failed[1]["started_at"] > failed[0]["started_at"]
