"""Small files of the stream tables: files per table and query time, before and after ``streaming.compaction``.

    python -m bench.stream_compaction [--commits 1500] [--rows 500]

Simulates the stream's appends at 1,000 ev/s with a 0.5 s trigger: ``--commits`` micro-batch commits of
``--rows`` bronze rows each (real producer messages, bronze's data columns, one file per commit as the job
writes), on a throw-away table. Then a query (count + distinct offsets per partition, through deltalake's
DataFusion) runs on the small files, the table is compacted + vacuumed, and the query runs again. A day at that
rate is 172,800 commits per table; the figures for 24 h are extrapolated from the measured per-file cost and the
compaction schedule (printed with the formula, so nothing is presented as measured that was not).

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


def query_seconds(location: str, repeat: int = 3) -> tuple[float, list]:
    import pyarrow as pa
    from deltalake import DeltaTable, QueryBuilder

    best, rows = None, None
    for _ in range(repeat):
        started = time.perf_counter()
        table = DeltaTable(location)
        # deltalake answers with an arro3 table: read it through pyarrow (the Arrow C stream interface)
        rows = pa.table(QueryBuilder().register("t", table).execute(QUERY).read_all()).to_pylist()
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
        since_compaction = int(args.compact_every_hours * 3600 * 1000 // args.rows)
        rows_per_day = DAY_SECONDS * 1000
        bytes_per_row = Path(compacted_file := DeltaTable(location).file_uris()[0].removeprefix("file://")).stat().st_size \
            / (args.commits * args.rows / max(1, compacted.files_after))
        compacted_files_day = max(1, int(rows_per_day * bytes_per_row // (128 * 1024 * 1024)) + 1)
        per_file_query = small_query / files_small
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
                "files_per_table_compacted_every_%gh" % args.compact_every_hours: compacted_files_day + since_compaction,
                "query_seconds_uncompacted_est": round(per_file_query * per_day, 1),
                # At worst just before a compaction: the day's compacted files plus every commit since the last one.
                "query_seconds_compacted_every_%gh_est" % args.compact_every_hours: round(
                    per_file_query * since_compaction + big_query * compacted_files_day, 2),
                "formula": "files = compacted 128 MB files of the day + files since the last compaction "
                           "(interval x 1000 ev/s / rows per commit); query time ~ measured seconds per small file x "
                           "small files + measured seconds per compacted file x compacted files",
            },
        })
        result["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    finally:
        shutil.rmtree(home, ignore_errors=True)
    (Path(__file__).resolve().parent / "results_stream_compaction.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
