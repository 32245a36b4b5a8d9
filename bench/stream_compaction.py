"""Small files of the stream tables: files per table and query time, before and after ``streaming.compaction``.

    python -m bench.stream_compaction [--commits 1500] [--rows 500] [--day-hours 24] [--pool 200000]

About ten minutes on 2 cores, most of it the simulated day (2.5 GB on disk while it runs).

Simulates the stream's appends at 1,000 ev/s with a 0.5 s trigger: ``--commits`` micro-batch commits of
``--rows`` bronze rows each (real producer messages, bronze's data columns, one file per commit as the job
writes), on a throw-away table. Then a query (count + distinct offsets per partition, through deltalake's
DataFusion) runs on the small files, the table is compacted + vacuumed, and the query runs again. A day at that
rate is 172,800 commits per table; the figures for 24 h are extrapolated from the measured per-file cost and the
compaction schedule (printed with the formula, so nothing is presented as measured that was not).

A simulated day (``--day-hours``, default 24; 0 skips it): the stream's bronze table through a day at 1,000
ev/s with ``qlake schedule``'s compaction every ``--compact-every-hours``. Each 15 minutes' 900,000 rows land
and are compacted as scheduled; the day's last 15 minutes land as the stream writes them (a commit of
``--rows`` rows a trigger) and are not compacted yet, the worst moment of the day. Earlier slots land in
commits of 100,000 rows: the compaction that follows turns them into the same files however many commits
brought them (that keeps a day to minutes). The rows are distinct producer events, cycled from a pool of
``--pool`` (their files compress as the stream's do). Measured: files in the table and a query over the whole
day (rows and last offset per partition, deltalake's DataFusion) before and after that last compaction.

The Delta log: every commit is a file in ``_delta_log``, and a deltalake commit costs more the more files are
there. The simulated table has the stream's bounded log retention (``streaming.delta_io.STREAM_TABLE_PROPERTIES``),
scaled to the simulation's pace (``--log-retention-seconds``: the simulation commits ~10-20 times a second, the
stream twice); a second table with Delta's default retention (30 days) takes the same commits in turn, as the
baseline. Reported: log files at the end and the append's milliseconds over the first and the last 100 commits.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

DAY_SECONDS = 24 * 3600
QUERY = "SELECT kafka_partition, COUNT(*) AS n, COUNT(DISTINCT kafka_offset) AS offsets FROM t GROUP BY kafka_partition"


def bronze_batch(messages, first_offset: int, batch_id: int):
    import pyarrow as pa

    # The bronze columns that carry data here (the full DDL needs a SparkContext to parse; this process has none).
    schema = pa.schema([
        ("key", pa.binary()), ("value", pa.binary()), pa.field("topic", pa.string(), False),
        pa.field("kafka_partition", pa.int32(), False), pa.field("kafka_offset", pa.int64(), False),
        pa.field("kafka_timestamp", pa.timestamp("us", tz="UTC"), False),
        pa.field("ingest_time", pa.timestamp("us", tz="UTC"), False), pa.field("batch_id", pa.int64(), False),
        pa.field("is_valid", pa.bool_(), False),
    ])
    n = len(messages)
    now = datetime.now(timezone.utc)
    columns = {
        "key": pa.array([m.key for m in messages], pa.binary()),
        "value": pa.array([m.value for m in messages], pa.binary()),
        "topic": pa.array(["app_events"] * n),
        "kafka_partition": pa.array([i % 3 for i in range(n)], pa.int32()),
        "kafka_offset": pa.array(range(first_offset, first_offset + n), pa.int64()),
        "kafka_timestamp": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        "ingest_time": pa.array([now] * n, pa.timestamp("us", tz="UTC")),
        "batch_id": pa.array([batch_id] * n, pa.int64()),
        "is_valid": pa.array([True] * n),
    }
    return pa.table({f.name: columns.get(f.name, pa.nulls(n, f.type)) for f in schema}, schema=schema)


DAY_QUERY = "SELECT kafka_partition, COUNT(*) AS n, MAX(kafka_offset) AS last_offset FROM t GROUP BY kafka_partition"
BULK_ROWS = 100_000


def day_rows(pool, first_offset: int, n: int, batch_id: int, started: datetime):
    """``n`` bronze rows from offset ``first_offset`` on: the pool's events in turn, each with its own offset
    and the time it arrives at 1,000 ev/s from ``started``."""
    import numpy as np
    import pyarrow as pa

    offsets = np.arange(first_offset, first_offset + n, dtype=np.int64)
    rows = pool.take(pa.array(offsets % pool.num_rows))
    at_us = int(started.timestamp() * 1_000_000) + offsets * 1000
    at = pa.array(at_us, pa.timestamp("us", tz="UTC"))
    replaced = {"kafka_partition": pa.array((offsets % 3).astype(np.int32)), "kafka_offset": pa.array(offsets),
                "kafka_timestamp": at, "ingest_time": at, "batch_id": pa.array(np.full(n, batch_id, np.int64))}
    for name, column in replaced.items():
        rows = rows.set_column(rows.schema.get_field_index(name), rows.schema.field(name), column)
    return rows


def simulate_day(home: Path, hours: float, every_hours: float, rows_per_commit: int, pool_size: int) -> dict:
    """A day of the stream's bronze table with compaction on schedule (see the module's text)."""
    from deltalake import DeltaTable, write_deltalake

    from streaming.compaction import compact_location
    from streaming.producer import generate

    pool = bronze_batch(list(generate(pool_size, seed=7)), 0, 0)
    location = str(home / "app_events_day")
    started_at, clock = datetime(2026, 12, 1, tzinfo=timezone.utc), time.perf_counter()
    slot_rows = int(every_hours * 3600 * 1000)
    slots = max(1, round(hours / every_hours))
    offset, batch_id, compaction_seconds = 0, 0, []
    for _ in range(slots - 1):
        for first in range(0, slot_rows, BULK_ROWS):
            rows = min(BULK_ROWS, slot_rows - first)
            write_deltalake(location, day_rows(pool, offset, rows, batch_id, started_at), mode="append")
            offset, batch_id = offset + rows, batch_id + 1
        compaction_seconds.append(compact_location("bronze.app_events (day)", location, merge=True,
                                                   retention_hours=0).seconds)
    for _ in range(slot_rows // rows_per_commit):  # the last slot, as the stream commits it
        write_deltalake(location, day_rows(pool, offset, rows_per_commit, batch_id, started_at), mode="append")
        offset, batch_id = offset + rows_per_commit, batch_id + 1
    files_end_of_day = len(DeltaTable(location).file_uris())
    query_end_of_day, rows_before = query_seconds(location, DAY_QUERY)
    last = compact_location("bronze.app_events (day)", location, merge=True, retention_hours=0)
    query_compacted, rows_after = query_seconds(location, DAY_QUERY)
    assert rows_before == rows_after and sum(r["n"] for r in rows_after) == offset, "the day's rows changed"
    files = DeltaTable(location).file_uris()
    return {
        "hours": hours, "events": offset, "compact_every_hours": every_hours,
        "bulk_commits_per_slot": -(-slot_rows // BULK_ROWS), "last_slot_commits": slot_rows // rows_per_commit,
        "distinct_events_in_pool": pool_size,
        "files_at_end_of_day_before_compaction": files_end_of_day,
        "query_seconds_end_of_day_before_compaction": round(query_end_of_day, 3),
        "files_after_compaction": len(files),
        "query_seconds_after_compaction": round(query_compacted, 3),
        "table_bytes": sum(Path(f.removeprefix("file://")).stat().st_size for f in files),
        "compaction_seconds_median": round(statistics.median(compaction_seconds + [last.seconds]), 3),
        "compaction_seconds_max": round(max(compaction_seconds + [last.seconds]), 3),
        "query": DAY_QUERY,
        "simulation_seconds": round(time.perf_counter() - clock, 1),
    }


def query_seconds(location: str, query: str = QUERY, repeat: int = 3) -> tuple[float, list]:
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder

    best, rows = None, None
    for _ in range(repeat):
        started = time.perf_counter()
        table = DeltaTable(location)
        # deltalake answers with an arro3 table: read it through pyarrow (the Arrow C stream interface)
        rows = pa.table(QueryBuilder().register("t", table).execute(query).read_all()).to_pylist()
        took = time.perf_counter() - started
        best = took if best is None else min(best, took)
    return best, sorted(rows, key=lambda r: r["kafka_partition"])


def log_figures(location: str, seconds: list[float]) -> dict:
    """Commit files left in the table's _delta_log, and its appends' milliseconds at the start and at the end."""
    return {
        "log_commit_files_at_end": len(list(Path(location, "_delta_log").glob("*.json"))),
        "append_ms_first_100": round(statistics.median(seconds[:100]) * 1000, 1),
        "append_ms_last_100": round(statistics.median(seconds[-100:]) * 1000, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=1500)
    parser.add_argument("--rows", type=int, default=500, help="rows per commit (1,000 ev/s x 0.5 s trigger)")
    parser.add_argument("--compact-every-hours", type=float, default=0.25,
                        help="the schedule the 24 h figure assumes (qlake schedule: every 15 minutes)")
    parser.add_argument("--day-hours", type=float, default=24.0, help="the simulated day's length (0: skip it)")
    parser.add_argument("--pool", type=int, default=200_000, help="distinct events the simulated day cycles through")
    parser.add_argument("--log-retention-seconds", type=int, default=20,
                        help="the simulated table's log retention (the stream's, scaled to the simulation's pace)")
    args = parser.parse_args(argv)

    from deltalake import DeltaTable, write_deltalake

    from streaming.compaction import compact_location
    from streaming.delta_io import STREAM_TABLE_PROPERTIES
    from streaming.producer import generate

    home = Path(tempfile.mkdtemp(prefix="qlake-bench-compaction-"))
    location = str(home / "app_events")
    baseline = str(home / "app_events_default_log")
    result: dict = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                    "machine": {"cpus": os.cpu_count(), "load_avg_at_start": [round(x, 2) for x in os.getloadavg()]}}
    try:
        messages = list(generate(args.rows, seed=3))
        retention = {"delta.logRetentionDuration": f"interval {args.log_retention_seconds} seconds"}
        appends: dict[str, list[float]] = {location: [], baseline: []}
        write_seconds = 0.0
        for batch_id in range(args.commits):
            batch = bronze_batch(messages, batch_id * args.rows, batch_id)
            for target in (location, baseline):  # in turn: both see the same moments of the host
                started = time.perf_counter()
                write_deltalake(target, batch, mode="append",
                                configuration=retention if target == location and batch_id == 0 else None)
                appends[target].append(time.perf_counter() - started)
            write_seconds += appends[location][-1]
        files_small = len(DeltaTable(location).file_uris())
        small_query, small_rows = query_seconds(location)
        compacted = compact_location("bronze.app_events (simulated)", location, merge=True, retention_hours=0)
        big_query, big_rows = query_seconds(location)
        assert small_rows == big_rows, "compaction changed the query's answer"
        assert sum(r["n"] for r in big_rows) == args.commits * args.rows
        per_day = DAY_SECONDS * 1000 // args.rows * 1  # commits (one file each) per table per day, uncompacted
        per_file_query = small_query / files_small
        compacted_file = DeltaTable(location).file_uris()[0].removeprefix("file://")
        result.update({
            "simulated": {"commits": args.commits, "rows_per_commit": args.rows, "write_seconds": round(write_seconds, 1),
                          "stands_for_minutes_at_1000_ev_s": round(args.commits * args.rows / 1000 / 60, 1)},
            "measured": {
                "files_before": files_small, "files_after": compacted.files_after,
                "files_removed_by_vacuum": compacted.files_removed_by_vacuum, "compaction_seconds": compacted.seconds,
                "query_seconds_small_files": round(small_query, 3), "query_seconds_compacted": round(big_query, 3),
                "query_speedup": round(small_query / big_query, 1), "compacted_file_bytes": Path(compacted_file).stat().st_size,
            },
            "delta_log": {
                "simulated_retention": retention["delta.logRetentionDuration"],
                "stands_for": "the stream's " + STREAM_TABLE_PROPERTIES["delta.logRetentionDuration"]
                              + " at two commits a second (~600 commits kept)",
                **log_figures(location, appends[location]),
                "default_retention": log_figures(baseline, appends[baseline]),
            },
            "extrapolated_24h": {
                "files_per_table_uncompacted": per_day,
                "query_seconds_uncompacted_est": round(per_file_query * per_day, 1),
                "formula": "query time ~ measured seconds per small file x a day's commits; compacted on "
                           "schedule, the day is measured (simulated_day)",
            },
        })
        if args.day_hours > 0:
            result["simulated_day"] = simulate_day(home, args.day_hours, args.compact_every_hours, args.rows,
                                                   args.pool)
        result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    (Path(__file__).resolve().parent / "results_stream_compaction.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
