"""The real sample (groups 1..3) through bronze, silver and gold: the figures the business signs off."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import reset_lake
from helpers import sql_value


@pytest.fixture(scope="module")
def built(spark, cfg, sample_dir):
    from bronze import ingest
    from gold import job as gold_job
    from silver import job as silver_job

    reset_lake(spark, cfg)
    report = ingest.ingest(spark, cfg, [sample_dir])
    silver = silver_job.run(spark, cfg)
    gold = gold_job.run(spark, cfg)
    return report, silver, gold


def table_versions(cfg, spark):
    from deltalake import DeltaTable
    from qlake import catalog

    return {t: DeltaTable(cfg.table_location(*t.split("."))).version() for t in catalog.all_tables(spark)}


def test_gold_on_an_empty_lake(spark, cfg):
    """Before the first sale: gold creates its tables (the aggregates read them), fills the offers, and a second
    run writes nothing."""
    from gold import job as gold_job

    reset_lake(spark, cfg)
    first = gold_job.run(spark, cfg)
    assert first.fact_rows_in == 0 and "gold.dim_offer" in first.tables_written
    assert sql_value(spark, "select count(*) from gold.dim_offer") == 6
    assert sql_value(spark, "select count(*) from gold.fact_sales") == 0
    assert sql_value(spark, "select count(*) from gold.mkt_top_products") == 0
    before = table_versions(cfg, spark)
    assert gold_job.run(spark, cfg).tables_written == []
    assert table_versions(cfg, spark) == before


def test_bronze_counts_and_redelivery(built, spark):
    report, _, _ = built
    assert sql_value(spark, "select count(*) from bronze.sales_transactions") == 3000
    assert sql_value(spark, "select count(*) from bronze.branches") == 5
    assert sql_value(spark, "select count(*) from bronze.sales_agents") == 10
    per_file = {Path(f.path).name: (f.status, f.rows_added) for f in report.files}
    assert per_file["sales_transactions_SS_raw_1.csv"] == ("ingested", 1500)
    assert per_file["sales_transactions_SS_raw_2.csv"] == ("ingested", 1500)
    assert per_file["sales_transactions_SS_raw_3.csv"] == ("duplicate", 0)
    assert per_file["branches_SS_raw_2.csv"] == ("duplicate", 0)
    assert per_file["sales_agents_SS_raw_3.csv"] == ("duplicate", 0)
    assert sql_value(spark, "select count(*) from bronze.ingested_files where status = 'duplicate'") == 5
    # lineage: row 1 of the first file is the first data line
    first = spark.sql("select transaction_id from bronze.sales_transactions "
                      "where _row_number = 1 and _source_file like '%raw_1.csv'").collect()
    assert [r[0] for r in first] == ["trx-152546429674"]


def test_silver_figures(built, spark):
    assert sql_value(spark, "select count(*) from silver.sales_transactions") == 3000
    assert sql_value(spark, "select sum(total_paid_price_after_discount) from silver.sales_transactions") == \
        Decimal("2821074.78")
    offers = spark.sql("select offer_id, count(*) from silver.sales_transactions where offer_id is not null "
                       "group by offer_id order by offer_id").collect()
    assert [tuple(r) for r in offers] == [(1, 304), (2, 286), (3, 303), (4, 303), (5, 292)]
    bad_emails = sql_value(spark, "select count(*) from silver.sales_transactions "
                                  "where not customer_email rlike '^[a-z0-9._%+-]+@([a-z0-9-]+\\\\.)+[a-z]{2,}$'")
    assert bad_emails == 0
    assert sql_value(spark, "select count(*) from silver.sales_transactions where shipping_city = ''") == 0


def test_silver_accounting_adds_up(built):
    _, silver, _ = built
    by_table = {a.table: a for a in silver.accounting}
    tx = by_table["silver.sales_transactions"]
    assert (tx.rows_in, tx.inserted, tx.updated, tx.duplicates, tx.quarantined) == (3000, 3000, 0, 0, 0)
    assert by_table["silver.branches"].inserted == 5
    assert by_table["silver.sales_agents"].inserted == 10


def test_empty_city_filled_from_same_postal_code(built, spark):
    row = spark.sql("select shipping_city, shipping_state, shipping_postal_code from silver.sales_transactions "
                    "where transaction_id = 'trx-651086456144'").collect()[0]
    assert tuple(row) == ("Bristol", "VT", "05443")  # the only city delivered with 05443


def test_gold_figures(built, spark):
    assert sql_value(spark, "select count(*) from gold.fact_sales") == 3000
    assert sql_value(spark, "select sum(total_paid_price_after_discount) from gold.fact_sales") == Decimal("2821074.78")
    top = spark.sql("select product_id, product_name, units from gold.mkt_top_products where period = 'ALL' "
                    "order by rank_by_units limit 2").collect()
    assert [tuple(r) for r in top] == [(16, "Skirt", 692), (4, "Headphones", 689)]
    offers = spark.sql("select offer_key, redemptions from gold.mkt_offer_redemptions where scope = 'ALL' "
                       "order by offer_key").collect()
    assert [tuple(r) for r in offers] == [(1, 304), (2, 286), (3, 303), (4, 303), (5, 292)]
    lowest = spark.sql("select shipping_city, shipping_state, online_revenue from gold.mkt_online_sales_by_city "
                       "where rank_lowest_revenue = 1 order by shipping_city").collect()
    assert [tuple(r) for r in lowest] == [("Northfield", "KY", Decimal("19.99")), ("Smartsville", "CA", Decimal("19.99"))]
    assert sql_value(spark, "select count(*) from gold.mkt_online_sales_by_city where shipping_city = ''") == 0


@pytest.mark.parametrize("dim,key", [("dim_date", "date_key"), ("dim_product", "product_key"),
                                     ("dim_customer", "customer_key"), ("dim_branch", "branch_key"),
                                     ("dim_sales_agent", "sales_agent_key"), ("dim_offer", "offer_key")])
def test_no_orphan_fact_keys(built, spark, dim, key):
    assert sql_value(spark, f"select count(*) from gold.fact_sales f left anti join gold.{dim} d on f.{key} = d.{key}") == 0


def test_b2b_export_matches_raw_files(built, spark, cfg, sample_dir):
    from gold import b2b_export

    day = date(2023, 5, 20)
    result = b2b_export.export(spark, cfg, day)
    # Independent computation from the raw files: offline rows of that date, unique transaction ids.
    agents = {}
    for row in csv.DictReader(open(sample_dir / "group1" / "sales_agents_SS_raw_1.csv", newline="")):
        agents[row["sales_person_id"]] = row["name"]
    seen, expected = set(), defaultdict(int)
    for group in sorted(sample_dir.iterdir()):
        path = next(group.glob("sales_transactions_*.csv"))
        with open(path, newline="") as f:
            for row in csv.DictReader(f):
                y, m, d = (int(x) for x in row["transaction_date"].split("-"))
                if date(y, m, d) == day and row["is_online"] == "no" and row["transaction_id"] not in seen:
                    seen.add(row["transaction_id"])
                    expected[(agents[row["sales_agent_id"]], row["product_name"])] += int(row["units"])
    lines = result.path.read_text().splitlines()
    assert lines[0] == "sales_agent_name,product_name,total_sold_units"
    assert lines[1:] == [f"{a},{p},{u}" for (a, p), u in sorted(expected.items())]
    first = result.path.read_bytes()
    assert b2b_export.export(spark, cfg, day).path.read_bytes() == first  # byte-identical re-run
    empty = b2b_export.export(spark, cfg, date(2030, 1, 1))
    assert empty.rows == 0 and empty.path.read_text() == "sales_agent_name,product_name,total_sold_units\n"


def test_reruns_change_nothing(built, spark, cfg, sample_dir):
    from bronze import ingest
    from gold import job as gold_job
    from silver import job as silver_job

    before = table_versions(cfg, spark)
    for _ in range(3):
        report = ingest.ingest(spark, cfg, [sample_dir])
        assert report.rows_added == 0 and {f.status for f in report.files} == {"skipped"}
    silver = silver_job.run(spark, cfg)
    gold = gold_job.run(spark, cfg)
    assert silver.rows_in == 0 and gold.fact_rows_in == 0
    assert table_versions(cfg, spark) == before


def test_catalog_persists_across_restart(built, cfg):
    """Stop the session and the metastore, then a new process sees the same tables through a new metastore."""
    from qlake import services, spark as qspark

    qspark.stop()
    services.down(cfg)
    out = subprocess.run(
        [sys.executable, "-m", "cli", "sql", "select count(*) from bronze.sales_transactions",
         "--format", "csv"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "3000"
    # the CLI started the metastore; the fixtures' session reconnects on next use
    assert services.Metastore(cfg).running()
