"""gold.dim_product's build: one row per silver product, keyed by product_id."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from chispa import assert_df_equality

from gold import dim_product
from helpers import frame, inline_tables
from silver import products

UPDATED = datetime(2023, 1, 2, 10, 0)


def test_build_keys_each_product_by_its_id(spark, cfg):
    rows = [{"product_id": 1, "product_name": "Boots", "product_category": "Shoes", "list_price": Decimal("19.99"),
             "_updated_at": UPDATED},
            {"product_id": 2, "product_name": "Boots", "product_category": None, "list_price": Decimal("0.01"),
             "_updated_at": UPDATED}]
    expected = frame(spark, dim_product.TABLE, [
        {"product_key": 1, "product_id": 1, "product_name": "Boots", "product_category": "Shoes",
         "list_price": Decimal("19.99")},
        {"product_key": 2, "product_id": 2, "product_name": "Boots", "product_category": None,
         "list_price": Decimal("0.01")}])
    with inline_tables(spark, cfg, {products.TABLE: rows}):
        assert_df_equality(dim_product.build(spark), expected, ignore_nullable=True, ignore_row_order=True)
