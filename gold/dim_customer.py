"""gold.dim_customer — customer versions (grain: customer_key = one SCD2 version of a customer)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table
from silver import customers

TABLE = Table(
    name="gold.dim_customer",
    grain="one row per customer version (customer_key = one SCD2 version of silver.customers)",
    tests=("tests/gold/test_dim_customer.py",),
    columns="customer_key BIGINT NOT NULL, customer_id STRING NOT NULL, first_name STRING, last_name STRING, "
            "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL",
    comment="customer versions; emails are left out of gold on purpose (personal data stays in silver)",
    column_lineage=columns_from("silver.customers", "customer_id", "first_name", "last_name", "valid_from", "valid_to",
                                "is_current", customer_key="customer_sk"),
)


def build(spark: SparkSession, since=None) -> DataFrame:
    """All versions, or with ``since`` (a timestamp) only those silver wrote after it (opened or closed)."""
    rows = catalog.read(spark, customers.TABLE)
    if since is not None:
        rows = rows.where(F.col("_updated_at") > F.lit(since).cast("timestamp"))
    return rows.select(
        F.col("customer_sk").alias("customer_key"), "customer_id", "first_name", "last_name",
        "valid_from", "valid_to", "is_current",
    )
