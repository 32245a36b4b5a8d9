"""HiveServer2 over the lake: pyhive and beeline see the same figures as Spark SQL, and new data without a
restart of `qlake serve`."""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import reset_lake
from helpers import sql_value



@pytest.fixture(scope="module")
def served(spark, cfg, sample_dir, tmp_path_factory):
    from bronze import ingest
    from gold import job as gold_job
    from silver import job as silver_job

    reset_lake(spark, cfg)
    ingest.ingest(spark, cfg, [sample_dir])
    silver_job.run(spark, cfg)
    gold_job.run(spark, cfg)
    log = open(tmp_path_factory.mktemp("serve") / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "cli", "serve", "--poll", "1"], stdout=log, stderr=subprocess.STDOUT)
    from qlake.services import wait_for_port

    assert wait_for_port("127.0.0.1", cfg.thrift_port, 180, lambda: proc.poll() is None), "qlake serve did not start"
    yield proc
    proc.terminate()
    proc.wait(60)


def pyhive_value(cfg, query):
    from pyhive import hive

    with hive.connect(host="127.0.0.1", port=cfg.thrift_port, username="qlake", auth="NONE") as conn:
        cursor = conn.cursor()
        cursor.execute(query)
        return cursor.fetchall()


def test_pyhive_sees_gold_figures(served, cfg):
    assert pyhive_value(cfg, "select count(*), sum(total_paid_price_after_discount) from gold.fact_sales") == \
        [(3000, Decimal("2821074.78"))]
    top = pyhive_value(cfg, "select product_id, units from gold.mkt_top_products where period = 'ALL' "
                            "order by rank_by_units limit 2")
    assert top == [(16, 692), (4, 689)]
    lowest = pyhive_value(cfg, "select shipping_city, shipping_state from gold.mkt_online_sales_by_city "
                               "where rank_lowest_revenue = 1 order by shipping_city")
    assert lowest == [("Northfield", "KY"), ("Smartsville", "CA")]


def test_beeline_sees_the_same_total(served, cfg):
    from qlake.services import spark_home

    out = subprocess.run(
        [str(Path(spark_home(), "bin", "beeline")), "-u", f"jdbc:hive2://127.0.0.1:{cfg.thrift_port}/default",
         "--silent=true", "--outputformat=csv2", "-e", "select sum(total_paid_price_after_discount) from gold.fact_sales"],
        capture_output=True, text=True, timeout=180, env={**os.environ, "SPARK_HOME": spark_home()},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "2821074.78" in out.stdout


def test_new_data_visible_without_restart(served, spark, cfg, tmp_path):
    from bronze import ingest
    from gold import job as gold_job
    from qlake.generate import generate
    from silver import job as silver_job

    folder = generate(tmp_path, groups=1, rows=200, seed=5, redeliver=False, start_group=7)[0]
    ingest.ingest(spark, cfg, [folder])
    silver_job.run(spark, cfg)
    gold_job.run(spark, cfg)
    expected = sql_value(spark, "select sum(total_paid_price_after_discount) from gold.fact_sales")
    count = sql_value(spark, "select count(*) from gold.fact_sales")
    assert count > 3000
    assert pyhive_value(cfg, "select count(*), sum(total_paid_price_after_discount) from gold.fact_sales") == \
        [(count, expected)]
