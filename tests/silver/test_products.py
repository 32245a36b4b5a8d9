"""silver.products's build: one row per product_id, the latest delivery's name, category and price (ingest time,
then file, then row decide)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from chispa import assert_df_equality

from helpers import frame
from silver import products, sales_transactions

TEN, ELEVEN = datetime(2023, 1, 2, 10), datetime(2023, 1, 2, 11)
COLUMNS = ["product_id", "product_name", "product_category", "unit_price", "_ingested_at", "_source_file",
           "_row_number"]


def test_build_keeps_the_latest_delivery_per_product(spark):
    sales = frame(spark, sales_transactions.TABLE, [
        {"product_id": 1, "product_name": "Boots", "product_category": "Footwear", "unit_price": Decimal("19.99"),
         "_ingested_at": ELEVEN, "_source_file": "b.csv", "_row_number": 1},
        {"product_id": 1, "product_name": "Boot", "product_category": "Shoes", "unit_price": Decimal("18.00"),
         "_ingested_at": TEN, "_source_file": "c.csv", "_row_number": 9},
        {"product_id": 2, "product_name": "Boots", "product_category": "Outdoor", "unit_price": Decimal("0.01"),
         "_ingested_at": TEN, "_source_file": "a.csv", "_row_number": 2},
        {"product_id": 2, "product_name": "Hat", "product_category": None, "unit_price": Decimal("5.50"),
         "_ingested_at": TEN, "_source_file": "a.csv", "_row_number": 1},
    ], columns=COLUMNS)
    expected = frame(spark, products.TABLE, [
        {"product_id": 1, "product_name": "Boots", "product_category": "Footwear", "list_price": Decimal("19.99")},
        {"product_id": 2, "product_name": "Boots", "product_category": "Outdoor", "list_price": Decimal("0.01")},
    ], columns=["product_id", "product_name", "product_category", "list_price"])
    assert_df_equality(products.build(sales), expected, ignore_nullable=True, ignore_row_order=True)
