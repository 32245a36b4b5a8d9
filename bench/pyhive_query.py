"""A marketing query over HiveServer2 (pyhive → `qlake serve`) on the lake the batch bench just built.

Starts `qlake serve` for that lake in its own process, runs each marketing question once to warm the server
(its Python readers start on the first query), then times it five times; the figure is the median of the warm
runs, the target under one second.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from qlake.config import Settings
from qlake.services import wait_for_port

QUERIES = {
    "top products (ALL)": "SELECT product_id, product_name, units, revenue FROM gold.mkt_top_products "
                          "WHERE period = 'ALL' ORDER BY rank_by_units LIMIT 10",
    "offer redemptions (ALL)": "SELECT offer_key, offer_name, redemptions FROM gold.mkt_offer_redemptions "
                               "WHERE scope = 'ALL' ORDER BY rank_in_scope",
    "lowest online cities": "SELECT shipping_city, shipping_state, online_revenue FROM gold.mkt_online_sales_by_city "
                            "ORDER BY rank_lowest_revenue LIMIT 5",
}
TARGET_SECONDS = 1.0


def run(cfg: Settings, work: Path, repeats: int = 5) -> dict:
    from pyhive import hive

    log_path = work / "serve.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--poll", "30"],
                                stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())
        try:
            if not wait_for_port(cfg.host, cfg.thrift_port, 240, lambda: proc.poll() is None):
                raise RuntimeError(f"qlake serve did not start; see {log_path}")
            timings = {}
            with hive.connect(host=cfg.host, port=cfg.thrift_port, username="qlake", auth="NONE") as conn:
                cursor = conn.cursor()
                for label, query in QUERIES.items():
                    runs = []
                    for _ in range(repeats + 1):
                        start = time.perf_counter()
                        cursor.execute(query)
                        rows = cursor.fetchall()
                        runs.append(time.perf_counter() - start)
                    timings[label] = {"first_s": round(runs[0], 3), "warm_median_s": round(statistics.median(runs[1:]), 3),
                                      "rows": len(rows)}
        finally:
            proc.terminate()
            proc.wait(60)
    worst = max(t["warm_median_s"] for t in timings.values())
    return {"queries": timings, "worst_warm_median_s": worst, "target_s": TARGET_SECONDS,
            "meets_target": worst < TARGET_SECONDS}
