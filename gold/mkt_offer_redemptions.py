"""gold.mkt_offer_redemptions — most redeemed offers (grain: scope × offer; scope 'ALL' or a product_id),
with redemptions, units and the discount given, ranked within the scope."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from gold import dim_offer, dim_product, fact_sales
from qlake import catalog
from qlake.catalog import columns_from, lineage
from qlake.tables import Table

TABLE = Table(
    name="gold.mkt_offer_redemptions",
    grain="one row per scope (ALL or a product_id) and offer",
    tests=("tests/gold/test_mkt_offer_redemptions.py",),
    columns="scope STRING NOT NULL, product_id INT, product_name STRING, offer_key INT NOT NULL, "
            "offer_name STRING, redemptions BIGINT NOT NULL, units BIGINT NOT NULL, "
            "discount_given DECIMAL(18,2) NOT NULL, rank_in_scope INT NOT NULL",
    comment="offer redemptions overall (scope ALL) and per product (scope = product id)",
    update_interval=timedelta(hours=2),  # hourly deliveries, one run of slack
    column_lineage=lineage(
        columns_from("gold.fact_sales", "offer_key", "units", scope="product_key", product_id="product_key",
                     redemptions="transaction_id", discount_given=("total_price", "total_paid_price_after_discount"),
                     rank_in_scope="transaction_id"),
        columns_from("gold.dim_offer", "offer_name"),
        columns_from("gold.dim_product", "product_name"),
    ),
)


GRAIN = ("scope", "product_id", "offer_key")


def totals(facts: DataFrame) -> DataFrame:
    """Redemptions, units and discount given of ``facts`` with an offer, per scope and offer (additive: see
    :mod:`gold._aggregates`)."""
    redeemed = facts.where(F.col("offer_key") != dim_offer.NO_OFFER)
    # One pass over the facts: per (offer, product) and rolled up per offer (scope ALL); the roll-up's grand
    # total (no offer) is not a row of this table.
    rolled = redeemed.rollup("offer_key", "product_key").agg(
        F.count(F.lit(1)).alias("redemptions"),
        F.sum("units").cast("bigint").alias("units"),
        F.sum(F.col("total_price") - F.col("total_paid_price_after_discount")).cast("decimal(18,2)")
        .alias("discount_given"),
        F.grouping("offer_key").alias("_is_grand_total"),
        F.grouping("product_key").alias("_is_all_products"),
    ).where(F.col("_is_grand_total") == 0)
    scope = F.when(F.col("_is_all_products") == 1, F.lit("ALL")).otherwise(F.col("product_key").cast("string"))
    return rolled.select(scope.alias("scope"), F.col("product_key").alias("product_id"), "offer_key",
                         "redemptions", "units", "discount_given")


def finish(spark: SparkSession, offer_totals: DataFrame) -> DataFrame:
    """The table's rows from the totals: offer and product names, and the offer's rank in its scope."""
    in_scope = Window.partitionBy("scope").orderBy(F.col("redemptions").desc())
    offers = catalog.read(spark, dim_offer.TABLE).select("offer_key", "offer_name")
    products = catalog.read(spark, dim_product.TABLE).select(F.col("product_key").alias("product_id"),
                                                             "product_name")
    return (
        offer_totals.join(offers, on="offer_key", how="left")
        .join(products, on="product_id", how="left")
        .select(
            "scope", "product_id", "product_name", "offer_key", "offer_name",
            "redemptions", "units", "discount_given", F.dense_rank().over(in_scope).alias("rank_in_scope"),
        )
    )


def build(spark: SparkSession) -> DataFrame:
    return finish(spark, totals(catalog.read(spark, fact_sales.TABLE)))
