"""silver.products — one row per product_id (names are not unique: two ids are `Boots`), latest delivered
name, category and list price."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table
from silver.context import SilverContext
from silver.dedup import latest_per_key

TABLE = Table(
    name="silver.products",
    grain="one row per product_id with its latest delivered name, category and price",
    tests=("tests/silver/test_products.py",),
    columns=(
        "product_id INT NOT NULL, product_name STRING, product_category STRING, list_price DECIMAL(12,2), "
        "_updated_at TIMESTAMP NOT NULL"
    ),
    comment="products by id: latest name, category and unit price delivered",
    column_lineage=columns_from("silver.sales_transactions", "product_id", "product_name", "product_category",
                                list_price="unit_price"),
)


def build(transactions: DataFrame) -> DataFrame:
    """Latest delivered attributes per product_id from a batch of silver transactions."""
    return latest_per_key(transactions, ["product_id"]).select(
        "product_id", "product_name", "product_category", F.col("unit_price").alias("list_price")
    )


def run(ctx: SilverContext, transactions: DataFrame | None) -> None:
    catalog.ensure_table(ctx.spark, TABLE, ctx.cfg)
    if transactions is None:
        return
    rows = build(transactions).withColumn("_updated_at", F.lit(ctx.now).cast("timestamp"))
    catalog.merge(ctx.spark, rows, TABLE, keys=["product_id"], cfg=ctx.cfg,
                  update_when_changed=["product_name", "product_category", "list_price"])
