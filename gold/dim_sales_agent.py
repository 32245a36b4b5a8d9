"""gold.dim_sales_agent — agent versions (grain: sales_agent_key = one SCD2 version) plus key -1 for online."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gold._members import NOT_APPLICABLE, with_not_applicable
from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table
from silver import sales_agents

TABLE = Table(
    name="gold.dim_sales_agent",
    grain="one row per sales agent version (sales_agent_key = one SCD2 version) plus key -1 for online sales",
    tests=("tests/gold/test_dim_sales_agent.py",),
    columns="sales_agent_key BIGINT NOT NULL, sales_agent_id INT, sales_agent_name STRING, hire_date DATE, "
            "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL",
    comment="sales agent versions; sales_agent_key -1 = online (no agent), so every fact row joins",
    column_lineage=columns_from("silver.sales_agents", "sales_agent_id", "hire_date", "valid_from", "valid_to",
                                "is_current", sales_agent_key="sales_agent_sk", sales_agent_name="name"),
)
__all__ = ["NOT_APPLICABLE", "TABLE", "build"]


def build(spark: SparkSession) -> DataFrame:
    versions = catalog.read(spark, sales_agents.TABLE).select(
        F.col("sales_agent_sk").alias("sales_agent_key"), "sales_agent_id", F.col("name").alias("sales_agent_name"),
        "hire_date", "valid_from", "valid_to", "is_current",
    )
    return with_not_applicable(spark, versions, TABLE, "sales_agent_key", "sales_agent_name", "Online (no agent)")
