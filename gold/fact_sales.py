"""gold.fact_sales — one row per sale (grain: transaction_id), keyed by date_key and the dimension versions
current when the sale was delivered (hourly deliveries: the version valid on the sale date; for a customer,
the name and email the sale arrived with); partitioned by transaction month. Money is DECIMAL end to end."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from gold import dim_branch, dim_customer, dim_date, dim_offer, dim_sales_agent
from qlake import catalog
from qlake.catalog import columns_from, lineage
from qlake.tables import Table

KEY = "transaction_id"  # one row per sale
TABLE = Table(
    name="gold.fact_sales",
    grain="one row per sale (transaction_id), keyed to the dimension versions valid when it was delivered",
    # Its keys reference these dimensions too (no column is read from them): they are written before it.
    reads=("gold.dim_date", "gold.dim_product", "gold.dim_offer"),
    tests=("tests/gold/test_fact_sales.py",),
    columns=(
        "transaction_id STRING NOT NULL, date_key INT NOT NULL, product_key INT NOT NULL, "
        "customer_key BIGINT NOT NULL, branch_key BIGINT NOT NULL, sales_agent_key BIGINT NOT NULL, "
        "offer_key INT NOT NULL, units INT NOT NULL, unit_price DECIMAL(12,2) NOT NULL, "
        "discount_pct DECIMAL(5,2) NOT NULL, total_price DECIMAL(12,2) NOT NULL, "
        "total_paid_price_after_discount DECIMAL(12,2) NOT NULL, is_online BOOLEAN NOT NULL, payment_method STRING, "
        "shipping_city STRING, shipping_state STRING, transaction_month STRING NOT NULL"
    ),
    partitioned_by=("transaction_month",),
    comment="sales fact: one row per transaction, date-keyed, with total_paid_price_after_discount",
    update_interval=timedelta(hours=2),  # hourly deliveries, one run of slack
    column_lineage=lineage(
        columns_from("silver.sales_transactions", "transaction_id", "units", "unit_price", "discount_pct",
                     "total_price", "total_paid_price_after_discount", "is_online", "payment_method",
                     "shipping_city", "shipping_state", date_key="transaction_date", product_key="product_id",
                     customer_key="customer_id", branch_key="branch_id", sales_agent_key="sales_agent_id",
                     offer_key="offer_id", transaction_month="transaction_date"),
        columns_from("gold.dim_customer", "customer_key"),
        columns_from("gold.dim_branch", "branch_key"),
        columns_from("gold.dim_sales_agent", "sales_agent_key"),
    ),
)


def _version_on(sales: DataFrame, versions: DataFrame, id_col: str, key_col: str, sale_time) -> DataFrame:
    """Key of the version of ``id_col`` valid at ``sale_time`` (valid_from <= t < valid_to)."""
    v = versions.select(
        F.col(id_col).alias("_vid"), F.col(key_col).alias(f"_{key_col}"),
        F.col("valid_from").alias("_vfrom"), F.col("valid_to").alias("_vto"),
    )
    valid = (F.col(id_col) == F.col("_vid")) & (F.col("_vfrom") <= sale_time) & (
        F.col("_vto").isNull() | (sale_time < F.col("_vto"))
    )
    return sales.join(v, on=valid, how="left").drop("_vid", "_vfrom", "_vto")


def _from_sale() -> dict[str, Column]:
    """The fact's columns a silver sale determines alone: all but the versioned dimension keys."""
    return {
        "transaction_id": F.col("transaction_id"),
        "date_key": dim_date.date_key(F.col("transaction_date")),
        "product_key": F.col("product_id"),
        "offer_key": F.coalesce("offer_id", F.lit(dim_offer.NO_OFFER)),
        **{name: F.col(name) for name in ("units", "unit_price", "discount_pct", "total_price",
                                          "total_paid_price_after_discount", "is_online", "payment_method",
                                          "shipping_city", "shipping_state")},
        "transaction_month": F.date_format("transaction_date", "yyyy-MM"),
    }


def sale_columns(sales: DataFrame) -> DataFrame:
    """The fact columns of a batch of silver sales that need no dimension (one row per sale, no joins): what the
    marketing aggregates read of facts the run appended."""
    return sales.select(*[column.alias(name) for name, column in _from_sale().items()])


def build(spark: SparkSession, sales: DataFrame) -> DataFrame:
    """Fact rows for a batch of silver sales."""
    # Dimension versions are by delivery time, so the sale's own delivery time picks the version.
    sale_ts = F.col("_ingested_at")
    branches = catalog.read(spark, dim_branch.TABLE).where(F.col("branch_key") != dim_branch.NOT_APPLICABLE)
    agents = catalog.read(spark, dim_sales_agent.TABLE).where(
        F.col("sales_agent_key") != dim_sales_agent.NOT_APPLICABLE
    )
    customers = catalog.read(spark, dim_customer.TABLE)
    keyed = _version_on(sales, branches, "branch_id", "branch_key", sale_ts)
    keyed = _version_on(keyed, agents, "sales_agent_id", "sales_agent_key", sale_ts)
    keyed = _version_on(keyed, customers, "customer_id", "customer_key", sale_ts)
    columns = _from_sale() | {
        "customer_key": F.col("_customer_key"),
        "branch_key": F.coalesce("_branch_key", F.lit(dim_branch.NOT_APPLICABLE).cast("bigint")),
        "sales_agent_key": F.coalesce("_sales_agent_key", F.lit(dim_sales_agent.NOT_APPLICABLE).cast("bigint")),
    }
    return keyed.select(*[columns[name].alias(name) for name in TABLE.column_names])
