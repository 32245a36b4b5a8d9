"""`make bench` / `python -m bench`: each batch stage on a generated group (550,000 transactions by default,
QLAKE_BENCH_ROWS to change) next to DuckDB doing the equivalent work in the same run (bench/baseline_duckdb.py:
the same cleaning, rules, quarantine, deduplication, dimensions, fact and aggregates in SQL, written as Parquet;
what DuckDB does not do is Great Expectations, the Delta log and the metastore).

Prints the JSON result and a Markdown table; writes bench/results.json and bench/results.md.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(stages: tuple[str, ...] = ("ingest", "silver", "gold", "b2b", "incremental")) -> int:
    """Run the given stages (each needs the ones before it to have run; they always do, untimed if unasked)."""
    rows = int(os.environ.get("QLAKE_BENCH_ROWS", "550000"))
    work = HERE / "out"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ["QLAKE_HOME"] = str(work / "lake")
    os.environ["QLAKE_METASTORE_PORT"] = str(_free_port())
    os.environ["QLAKE_THRIFT_PORT"] = str(_free_port())

    from bench import baseline_duckdb as duck
    from bench.common import Comparison, markdown, measured, write_results
    from bronze import ingest
    from gold import b2b_export
    from gold import job as gold_job
    from jobs import registry
    from qlake import catalog, ops, runlog, services, spark as qspark
    from qlake.config import settings
    from qlake.generate import generate
    from silver import job as silver_job

    cfg = settings()
    group = generate(work / "incoming", groups=1, rows=rows, seed=2026, redeliver=False)[0]
    session = qspark.session(cfg)  # engine start-up is not part of any stage
    session.sql("SELECT 1").collect()
    # Nor is creating the lake's tables: a lake does that once, in its first run (bench/hourly.py keeps that
    # one-off out of "an hour" as well); every stage then measures the work on its rows.
    for spec in [*(entry.table for entry in registry.tables() if entry.package != "streaming"),
                 ops.PIPELINE_STATE, ops.DQ_RESULTS, ops.ROW_ACCOUNTING, runlog.JOB_RUNS]:
        catalog.ensure_table(session, spec, cfg)
    con = duck.connect()
    results = []
    try:
        with measured() as q:
            report = ingest.ingest(session, cfg, [group])
        with measured() as d:
            duck_rows = duck.ingest(con, group, work / "duck_bronze")
        results.append(Comparison("ingest (CSV → bronze)", report.rows_added, q, d,
                                  notes={"duckdb_rows": duck_rows}))

        with measured() as q:
            silver_report = silver_job.run(session, cfg)
        with measured() as d:
            duck_silver = duck.silver(con, work / "duck_bronze", work / "duck_silver.parquet")
        silver_rows = session.table("silver.sales_transactions").count()
        results.append(Comparison("silver (clean, validate, dedup)", silver_rows, q, d,
                                  notes={"duckdb_rows": duck_silver, "quarantined": silver_report.quarantined}))

        with measured() as q:
            gold_job.run(session, cfg)
        with measured() as d:
            duck_fact = duck.gold(con, work / "duck_silver.parquet", work / "duck_bronze", work / "duck_gold")
        results.append(Comparison("gold + marketing", session.table("gold.fact_sales").count(), q, d,
                                  notes={"duckdb_rows": duck_fact}))

        day = session.sql("SELECT transaction_date, count(*) AS n FROM silver.sales_transactions "
                          "WHERE NOT is_online GROUP BY transaction_date ORDER BY n DESC LIMIT 1").first()[0]
        with measured() as q:
            exported = b2b_export.export(session, cfg, day)
        with measured() as d:
            duck.b2b(con, work / "duck_gold", day.isoformat(), work / "duck_b2b.csv")
        # One small query and a file: a fixed round trip against DuckDB's in-process read; no goal is set for it.
        results.append(Comparison(f"B2B export ({day})", exported.rows, q, d, target_ratio=None))

        end_to_end = Comparison(
            "end to end", rows,
            type(results[0].qlake)(sum(r.qlake.seconds for r in results), max(r.qlake.peak_rss_mb for r in results)),
            type(results[0].qlake)(sum(r.baseline.seconds for r in results),
                                   max(r.baseline.peak_rss_mb for r in results)),
        )
        results.append(end_to_end)
        pyhive = None
        if "gold" in stages and os.environ.get("QLAKE_BENCH_PYHIVE", "1") != "0":
            from bench import pyhive_query

            pyhive = pyhive_query.run(cfg, work)
        incremental = None
        if "incremental" in stages and os.environ.get("QLAKE_BENCH_HOURS", "24") != "0":
            from bench import incremental as incremental_bench

            incremental = incremental_bench.run(session, cfg, work)
    finally:
        qspark.stop()
        services.down(cfg)
    results = [r for r in results if r.stage.split()[0].lower().rstrip("+") in stages or
               (r.stage == "end to end" and len(stages) > 1)]
    extra = {"rows_per_group": rows, "machine": {"cpus": os.cpu_count()}, "measured_on": date.today().isoformat(),
             "incremental": incremental, "pyhive_marketing_query": pyhive}
    name = "results" if len(stages) > 1 else f"results_{stages[0]}"
    write_results(results, HERE / f"{name}.json", extra)
    table = markdown(results)
    if incremental:
        table += (f"\n\nIncremental cost over {incremental['hours']} hourly groups of "
                  f"{incremental['rows_per_hour']:,} rows: hour {incremental['hours']} / hour 1 = "
                  f"{incremental['hour_last_over_hour_1']} (target ≤ 1.3; median of the last three / hours 2-4 = "
                  f"{incremental['late_over_early_median']}); seconds per hour: {incremental['seconds_per_hour']}")
    if pyhive:
        table += (f"\n\nMarketing queries over pyhive (`qlake serve`, {rows:,}-row lake), warm median of 5: "
                  + ", ".join(f"{k} {v['warm_median_s']} s (first {v['first_s']} s)" for k, v in pyhive["queries"].items())
                  + f" — target < {pyhive['target_s']} s: {'met' if pyhive['meets_target'] else 'NOT met'}")
    (HERE / f"{name}.md").write_text(table + "\n")
    print(json.dumps(json.loads((HERE / f"{name}.json").read_text())))
    print()
    print(table)
    met = (all(r.meets_target is not False for r in results)
           and (not incremental or incremental["meets_target"]) and (not pyhive or pyhive["meets_target"]))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
