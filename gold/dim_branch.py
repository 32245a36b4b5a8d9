"""gold.dim_branch — branch versions (grain: branch_key = one SCD2 version) plus key -1 for online sales."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake.catalog import TableSpec

TABLE = TableSpec(
    name="gold.dim_branch",
    columns="branch_key BIGINT NOT NULL, branch_id INT, location STRING, establish_date DATE, class STRING, "
            "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL",
    comment="branch versions; branch_key -1 = online (no branch), so every fact row joins",
)
NOT_APPLICABLE = -1


def build(spark: SparkSession) -> DataFrame:
    online = spark.createDataFrame(
        [(NOT_APPLICABLE, None, "Online (no branch)", None, None, datetime(1900, 1, 1), None, True)],
        "branch_key bigint, branch_id int, location string, establish_date date, class string, "
        "valid_from timestamp, valid_to timestamp, is_current boolean",
    )
    versions = spark.table("silver.branches").select(
        F.col("branch_sk").alias("branch_key"), "branch_id", "location", "establish_date", "class",
        "valid_from", "valid_to", "is_current",
    )
    return versions.unionByName(online)
