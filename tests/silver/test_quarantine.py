"""silver.quarantine_<table>'s build (the quality gate's quarantine rows): each flagged row that broke a
quarantine rule, with its rule names and its delivered row as JSON from bronze; good rows stay out."""

from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality

from bronze import branches as bronze_branches
from helpers import frame
from silver import quarantine_branches, quarantine_sales_agents, quarantine_sales_transactions
from silver.quality_gate import quarantine_rows

AT = datetime(2023, 1, 2, 10)
FILE = {"_source_file": "branches_SS_raw_1.csv", "_source_sha256": "a1", "_batch_id": "b1"}


def test_quarantine_rows_keep_the_rules_and_the_delivered_row(spark):
    bronze = frame(spark, bronze_branches.TABLE, [
        {"branch_id": "1", "location": "Cairo", "establish_date": "2010-5-1", "class": "A", "_row_number": 1,
         "_ingested_at": AT, **FILE},
        {"branch_id": "", "location": "Giza", "establish_date": "2010-13-1", "class": "B", "_row_number": 2,
         "_ingested_at": AT, **FILE},
    ])
    flagged = spark.createDataFrame([
        ([], False, *FILE.values(), 1),
        (["branch_id_not_null", "establish_date_parses"], True, *FILE.values(), 2),
    ], "_failed_rules ARRAY<STRING>, _is_quarantined BOOLEAN, _source_file STRING, _source_sha256 STRING, "
       "_batch_id STRING, _row_number BIGINT")
    expected = frame(spark, quarantine_branches.TABLE, [{
        "failed_rules": ["branch_id_not_null", "establish_date_parses"],
        "raw_row": '{"branch_id":"","location":"Giza","establish_date":"2010-13-1","class":"B"}',
        "_row_number": 2, "run_id": "r1", "quarantined_at": AT, **FILE}],
        columns=["failed_rules", "raw_row", "_source_file", "_source_sha256", "_row_number", "_batch_id", "run_id",
                 "quarantined_at"])
    rows = quarantine_rows(flagged, bronze, bronze_branches.KIND.columns, "r1", AT)
    assert_df_equality(rows, expected, ignore_nullable=True)


def test_one_quarantine_table_per_gated_table_with_one_contract():
    tables = (quarantine_branches.TABLE, quarantine_sales_agents.TABLE, quarantine_sales_transactions.TABLE)
    assert [t.name for t in tables] == ["silver.quarantine_branches", "silver.quarantine_sales_agents",
                                        "silver.quarantine_sales_transactions"]
    assert [t.inputs for t in tables] == [("bronze.branches",), ("bronze.sales_agents",),
                                          ("bronze.sales_transactions",)]
    assert {t.columns for t in tables} == {quarantine_branches.TABLE.columns}
