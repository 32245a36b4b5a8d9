"""gold.mkt_top_products's build: units, revenue and orders per product overall and per month, dense rank."""

from __future__ import annotations

from decimal import Decimal

from chispa import assert_df_equality

from gold import dim_product, fact_sales, mkt_top_products
from helpers import frame, inline_tables
from star import MORE_FACTS, PRODUCTS


def _row(period, product_id, name, category, units, revenue, orders, rank):
    return {"period": period, "product_id": product_id, "product_name": name, "product_category": category,
            "units": units, "revenue": Decimal(revenue), "orders": orders, "rank_by_units": rank}


def test_build_ranks_products_overall_and_per_month(spark, cfg):
    expected = frame(spark, mkt_top_products.TABLE, [
        _row("ALL", 1, "Boots", "Shoes", 4, "59.52", 2, 1),
        _row("ALL", 2, "Hat", "Accessories", 3, "24.03", 2, 2),
        _row("2023-01", 1, "Boots", "Shoes", 4, "59.52", 2, 1),
        _row("2023-02", 2, "Hat", "Accessories", 3, "24.03", 2, 1),
    ])
    with inline_tables(spark, cfg, {fact_sales.TABLE: MORE_FACTS, dim_product.TABLE: PRODUCTS}):
        assert_df_equality(mkt_top_products.build(spark), expected, ignore_nullable=True, ignore_row_order=True)
