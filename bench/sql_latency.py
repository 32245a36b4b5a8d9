"""`qlake sql` as a whole process and the same gold queries over HiveServer2 (pyhive → `qlake serve`).

Builds a lake from the sample groups (../shared/data/raw) in bench/out_sql, then for three gold queries and one
statement that takes the rewrite path (QUALIFY) times: the `qlake sql` process (one warm-up run, then the median
of 5 warm runs: OS caches and the metastore are warm, the engine starts in each process as it does for a user),
and the query over pyhive on one connection (median of 5 after a warm-up). Two baselines measured in the same run:
a plain Connect-client process (the same statement through `qlake.spark.session().sql(q).collect()` with the
client imported as pyspark does, pandas included, and the normal interpreter exit — what `qlake sql` did before
its lean start), and the floor of importing the client alone. Also times the two slower paths a statement may
take: a sqlglot rewrite (QUALIFY) and the classic-Spark path (a decimal division, README "SQL").
Writes bench/results_sql.json. Run: `/work/bin/heavy python -m bench.sql_latency`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

HERE = Path(__file__).resolve().parent
SAMPLE = HERE.parent.parent / "shared" / "data" / "raw"
QUERIES = {
    "fact total": "SELECT count(*), sum(total_paid_price_after_discount) FROM gold.fact_sales",
    "top products (ALL)": "SELECT product_id, product_name, units FROM gold.mkt_top_products WHERE period = 'ALL' "
                          "ORDER BY rank_by_units LIMIT 10",
    "revenue by category": "SELECT p.product_category, sum(f.total_paid_price_after_discount) AS revenue "
                           "FROM gold.fact_sales f JOIN gold.dim_product p ON f.product_key = p.product_key "
                           "GROUP BY p.product_category ORDER BY revenue DESC",
    "QUALIFY (rewrite path)": "SELECT product_category, product_id FROM gold.mkt_top_products WHERE period = 'ALL' "
                              "QUALIFY row_number() OVER (PARTITION BY product_category ORDER BY units DESC) = 1",
    "decimal division (classic path)": "SELECT product_category, round(revenue / sum(revenue) OVER (), 6) AS share "
                                       "FROM (SELECT product_category, sum(revenue) AS revenue FROM "
                                       "gold.mkt_top_products WHERE period = 'ALL' GROUP BY product_category) c",
}
GOLD = ("fact total", "top products (ALL)", "revenue by category")
TARGET_SECONDS = 1.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _timed(cmd: list[str], repeats: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeats + 1):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    return round(runs[0], 3), round(statistics.median(runs[1:]), 3)


def main(repeats: int = 5) -> dict:
    work = HERE / "out_sql"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    os.environ.update(QLAKE_HOME=str(work / "lake"), QLAKE_METASTORE_PORT=str(_free_port()),
                      QLAKE_THRIFT_PORT=str(_free_port()))
    from bronze import ingest
    from gold import job as gold_job
    from qlake import services, spark as qspark
    from qlake.config import settings
    from silver import job as silver_job

    cfg = settings()
    session = qspark.session(cfg)
    ingest.ingest(session, cfg, [SAMPLE])
    silver_job.run(session, cfg)
    gold_job.run(session, cfg)
    qspark.stop()
    py = sys.executable
    try:
        floor = _timed([py, "-c", "import pyspark.sql.connect.session"], repeats)[1]
        process, plain = {}, {}
        for label, query in QUERIES.items():
            first, warm = _timed([py, "-m", "cli", "sql", query, "--format", "csv"], repeats)
            process[label] = {"first_s": first, "warm_median_s": warm}
            if label in GOLD:
                plain[label] = _timed([py, "-m", "bench.sql_latency", "--plain", query], repeats)[1]
                process[label]["plain_client_warm_median_s"] = plain[label]
        from bench import pyhive_query

        pyhive_query.QUERIES = {k: QUERIES[k] for k in GOLD}
        hs2 = pyhive_query.run(cfg, work)
    finally:
        services.down(cfg)
    worst = max(process[k]["warm_median_s"] for k in GOLD)
    result = {"measured_on": date.today().isoformat(), "qlake_sql_process": process,
              "client_import_floor_s": floor, "worst_warm_median_s": worst,
              "worst_over_plain_client": round(worst / max(plain.values()), 2),
              "target_s": TARGET_SECONDS, "meets_target": worst <= TARGET_SECONDS, "hiveserver2": hs2,
              "machine": {"cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2)}}
    (HERE / "results_sql.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return result


def plain(query: str) -> None:
    """The baseline process: the statement through the Connect client as pyspark imports it, then a normal exit."""
    from qlake import spark as qspark

    print(qspark.session().sql(query).collect())


if __name__ == "__main__":
    if sys.argv[1:2] == ["--plain"]:
        plain(sys.argv[2])
    else:
        main()
