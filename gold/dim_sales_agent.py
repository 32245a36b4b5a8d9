"""gold.dim_sales_agent — agent versions (grain: sales_agent_key = one SCD2 version) plus key -1 for online."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake.catalog import TableSpec

TABLE = TableSpec(
    name="gold.dim_sales_agent",
    columns="sales_agent_key BIGINT NOT NULL, sales_agent_id INT, sales_agent_name STRING, hire_date DATE, "
            "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL",
    comment="sales agent versions; sales_agent_key -1 = online (no agent), so every fact row joins",
)
NOT_APPLICABLE = -1


def build(spark: SparkSession) -> DataFrame:
    online = spark.createDataFrame(
        [(NOT_APPLICABLE, None, "Online (no agent)", None, datetime(1900, 1, 1), None, True)],
        "sales_agent_key bigint, sales_agent_id int, sales_agent_name string, hire_date date, "
        "valid_from timestamp, valid_to timestamp, is_current boolean",
    )
    versions = spark.table("silver.sales_agents").select(
        F.col("sales_agent_sk").alias("sales_agent_key"), "sales_agent_id", F.col("name").alias("sales_agent_name"),
        "hire_date", "valid_from", "valid_to", "is_current",
    )
    return versions.unionByName(online)
