"""gold.mkt_top_products — most selling products (grain: period × product; period 'ALL' or 'yyyy-MM'),
units and revenue with a dense rank by units (ties share a rank; revenue breaks display order)."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from gold import dim_product, fact_sales
from qlake import catalog
from qlake.catalog import columns_from, lineage
from qlake.tables import Table

TABLE = Table(
    name="gold.mkt_top_products",
    grain="one row per period (ALL or yyyy-MM) and product",
    tests=("tests/gold/test_mkt_top_products.py",),
    columns="period STRING NOT NULL, product_id INT NOT NULL, product_name STRING, product_category STRING, "
            "units BIGINT NOT NULL, revenue DECIMAL(18,2) NOT NULL, orders BIGINT NOT NULL, rank_by_units INT NOT NULL",
    comment="most selling products overall (period ALL) and per month",
    update_interval=timedelta(hours=2),  # hourly deliveries, one run of slack
    column_lineage=lineage(
        columns_from("gold.fact_sales", "units", period="transaction_month", product_id="product_key",
                     revenue="total_paid_price_after_discount", orders="transaction_id", rank_by_units="units"),
        columns_from("gold.dim_product", "product_name", "product_category"),
    ),
)


GRAIN = ("period", "product_id")


def totals(facts: DataFrame) -> DataFrame:
    """Units, revenue and orders of ``facts`` per period and product (additive: see :mod:`gold._aggregates`)."""
    # One pass over the facts: per (product, month) and rolled up per product; the roll-up's grand total
    # (no product) is not a row of this table.
    rolled = facts.rollup("product_key", "transaction_month").agg(
        F.sum("units").cast("bigint").alias("units"),
        F.sum("total_paid_price_after_discount").cast("decimal(18,2)").alias("revenue"),
        F.count(F.lit(1)).alias("orders"),
        F.grouping("product_key").alias("_is_grand_total"),
        F.grouping("transaction_month").alias("_is_all_months"),
    ).where(F.col("_is_grand_total") == 0)
    period = F.when(F.col("_is_all_months") == 1, F.lit("ALL")).otherwise(F.col("transaction_month"))
    return rolled.select(period.alias("period"), F.col("product_key").alias("product_id"), "units", "revenue",
                         "orders")


def finish(spark: SparkSession, product_totals: DataFrame) -> DataFrame:
    """The table's rows from the totals: the product's name and category, and its rank by units in the period."""
    products = catalog.read(spark, dim_product.TABLE).select(
        F.col("product_key").alias("product_id"), "product_name", "product_category")
    by_units = Window.partitionBy("period").orderBy(F.col("units").desc())
    return product_totals.join(products, on="product_id", how="left").select(
        "period", "product_id", "product_name", "product_category", "units", "revenue", "orders",
        F.dense_rank().over(by_units).alias("rank_by_units"),
    )


def build(spark: SparkSession) -> DataFrame:
    return finish(spark, totals(catalog.read(spark, fact_sales.TABLE)))
