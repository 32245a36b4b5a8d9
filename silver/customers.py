"""silver.customers — customer history, SCD type 2 in business time (grain: customer_id × valid_from).

The same customer id arrives with different names/emails; each sale says what the customer was called on its
date. A version starts at the first sale date with new attributes and lasts until the next version. Only the
customers touched by a run are recomputed, from all their sales, so late deliveries slot into history.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import TableSpec
from silver import sales_transactions
from silver.pipeline import SilverContext, scd2_versions

TABLE = TableSpec(
    name="silver.customers",
    columns=(
        "customer_sk BIGINT NOT NULL, customer_id STRING NOT NULL, first_name STRING, last_name STRING, "
        "email STRING, valid_from DATE NOT NULL, valid_to DATE, is_current BOOLEAN NOT NULL, "
        "_updated_at TIMESTAMP NOT NULL"
    ),
    comment="customers with history (SCD2 by sale date); current row = latest name and email",
)
ATTRIBUTES = ["first_name", "last_name", "email"]


def build(sales: DataFrame) -> DataFrame:
    """Versions from sales (customer_id, names, email, transaction_date, transaction_id).

    History is kept per day: when one customer's sales on one date disagree, the last one (by transaction_id)
    states the day's attributes, so each version starts on its own date and keys stay unique.
    """
    last_of_day = Window.partitionBy("customer_id", "transaction_date").orderBy(F.col("transaction_id").desc())
    daily = sales.withColumn("_rank", F.row_number().over(last_of_day)).where(F.col("_rank") == 1)
    observations = daily.select(
        "customer_id",
        F.col("customer_first_name").alias("first_name"),
        F.col("customer_last_name").alias("last_name"),
        F.col("customer_email").alias("email"),
        F.col("transaction_date").alias("_effective"),
        "transaction_id",
    )
    versions = scd2_versions(observations, ["customer_id"], ATTRIBUTES, "_effective", ["transaction_id"])
    return versions.select(
        F.xxhash64("customer_id", "valid_from").alias("customer_sk"),
        "customer_id", *ATTRIBUTES, "valid_from", "valid_to", "is_current",
    )


def run(ctx: SilverContext, transactions: DataFrame | None) -> None:
    catalog.ensure_table(ctx.spark, TABLE, ctx.cfg)
    if transactions is None:
        return
    touched = transactions.select("customer_id").distinct()
    sales = ctx.spark.table(sales_transactions.TABLE.name).join(touched, on="customer_id", how="left_semi")
    rebuilt = build(sales)
    existing = ctx.spark.table(TABLE.name)
    compare = ["customer_sk", *ATTRIBUTES, "valid_to", "is_current"]
    before = existing.join(touched, on="customer_id", how="left_semi").select(*compare)
    changed = rebuilt.select(*compare).exceptAll(before).count() + before.exceptAll(rebuilt.select(*compare)).count()
    if not changed:
        return
    now = F.lit(ctx.now).cast("timestamp")
    untouched = existing.join(touched, on="customer_id", how="left_anti")
    table = untouched.unionByName(rebuilt.withColumn("_updated_at", now))
    catalog.overwrite(ctx.spark, table, TABLE, ctx.cfg)
