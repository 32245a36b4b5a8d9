"""gold.mkt_online_sales_by_city — online sales per city (grain: city × state), lowest revenue first."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from gold import fact_sales
from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table

TABLE = Table(
    name="gold.mkt_online_sales_by_city",
    grain="one row per shipping city and state of online sales",
    tests=("tests/gold/test_mkt_online_sales_by_city.py",),
    columns="shipping_city STRING, shipping_state STRING, online_revenue DECIMAL(18,2) NOT NULL, "
            "orders BIGINT NOT NULL, units BIGINT NOT NULL, rank_lowest_revenue INT NOT NULL",
    comment="online revenue, orders and units per city; rank 1 = lowest revenue (cities where marketing can grow)",
    update_interval=timedelta(hours=2),  # hourly deliveries, one run of slack
    column_lineage=columns_from("gold.fact_sales", "shipping_city", "shipping_state", "units",
                                online_revenue="total_paid_price_after_discount", orders="transaction_id",
                                rank_lowest_revenue="total_paid_price_after_discount"),
)


GRAIN = ("shipping_city", "shipping_state")


def totals(facts: DataFrame) -> DataFrame:
    """Online revenue, orders and units of ``facts`` per city (additive: see :mod:`gold._aggregates`)."""
    return facts.where(F.col("is_online")).groupBy(*GRAIN).agg(
        F.sum("total_paid_price_after_discount").cast("decimal(18,2)").alias("online_revenue"),
        F.count(F.lit(1)).alias("orders"),
        F.sum("units").cast("bigint").alias("units"),
    )


def finish(spark: SparkSession, city_totals: DataFrame) -> DataFrame:
    """The table's rows from the totals: each city's rank, lowest revenue first (equal revenue, equal rank)."""
    lowest_first = Window.orderBy(F.col("online_revenue").asc()).rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    return city_totals.withColumn("rank_lowest_revenue", F.rank().over(lowest_first))


def build(spark: SparkSession) -> DataFrame:
    return finish(spark, totals(catalog.read(spark, fact_sales.TABLE)))
