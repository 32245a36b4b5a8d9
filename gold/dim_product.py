"""gold.dim_product — one row per product (grain: product_key = product_id; names are not unique)."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table
from silver import products

TABLE = Table(
    name="gold.dim_product",
    grain="one row per product (product_key = product_id)",
    tests=("tests/gold/test_dim_product.py",),
    columns="product_key INT NOT NULL, product_id INT NOT NULL, product_name STRING, product_category STRING, "
            "list_price DECIMAL(12,2)",
    comment="products by id with the latest name, category and list price",
    column_lineage=columns_from("silver.products", "product_id", "product_name", "product_category", "list_price",
                                product_key="product_id"),
)


def build(spark: SparkSession) -> DataFrame:
    return catalog.read(spark, products.TABLE).select(
        F.col("product_id").alias("product_key"), "product_id", "product_name", "product_category", "list_price"
    )
