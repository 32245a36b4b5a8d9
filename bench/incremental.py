"""Incremental cost: 24 hourly groups through ingest → silver → gold; hour 24 should cost about what hour 1 did
(target: hour 24 / hour 1 ≤ 1.3), i.e. work follows the new data, not the lake's history."""

from __future__ import annotations

import os
import statistics
import time
from pathlib import Path


def run(session, cfg, work: Path) -> dict:
    from bronze import ingest
    from gold import job as gold_job
    from qlake import catalog, maintenance
    from qlake.generate import generate
    from silver import job as silver_job

    hours = int(os.environ.get("QLAKE_BENCH_HOURS", "24"))
    rows = int(os.environ.get("QLAKE_BENCH_HOURLY_ROWS", "20000"))
    for table in catalog.all_tables(session):
        catalog.drop_table(session, cfg, table)
    groups = generate(work / "hourly", groups=hours, rows=rows, seed=24, redeliver=False)
    seconds = []
    for group in groups:
        start = time.perf_counter()
        ingest.ingest(session, cfg, [group])
        silver_job.run(session, cfg)
        gold_job.run(session, cfg)
        maintenance.tidy(cfg, catalog.lake_tables(session, cfg))  # as `qlake run hourly` does
        seconds.append(round(time.perf_counter() - start, 2))
    first, last = seconds[0], seconds[-1]
    early = statistics.median(seconds[1:4]) if hours >= 6 else first
    late = statistics.median(seconds[-3:]) if hours >= 6 else last
    return {
        "hours": hours,
        "rows_per_hour": rows,
        "seconds_per_hour": seconds,
        "hour_last_over_hour_1": round(last / first, 2),
        "late_over_early_median": round(late / early, 2),
        "target": 1.3,
        "meets_target": last / first <= 1.3,
    }
