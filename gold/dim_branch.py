"""gold.dim_branch — branch versions (grain: branch_key = one SCD2 version) plus key -1 for online sales."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gold._members import NOT_APPLICABLE, with_not_applicable
from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table
from silver import branches

TABLE = Table(
    name="gold.dim_branch",
    grain="one row per branch version (branch_key = one SCD2 version) plus key -1 for online sales",
    tests=("tests/gold/test_dim_branch.py",),
    columns="branch_key BIGINT NOT NULL, branch_id INT, location STRING, establish_date DATE, class STRING, "
            "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL",
    comment="branch versions; branch_key -1 = online (no branch), so every fact row joins",
    column_lineage=columns_from("silver.branches", "branch_id", "location", "establish_date", "class", "valid_from",
                                "valid_to", "is_current", branch_key="branch_sk"),
)
__all__ = ["NOT_APPLICABLE", "TABLE", "build"]


def build(spark: SparkSession) -> DataFrame:
    versions = catalog.read(spark, branches.TABLE).select(
        F.col("branch_sk").alias("branch_key"), "branch_id", "location", "establish_date", "class",
        "valid_from", "valid_to", "is_current",
    )
    return with_not_applicable(spark, versions, TABLE, "branch_key", "location", "Online (no branch)")
