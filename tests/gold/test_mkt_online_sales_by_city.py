"""gold.mkt_online_sales_by_city's build: online revenue, orders and units per city, rank 1 = lowest revenue;
offline sales are not counted."""

from __future__ import annotations

from decimal import Decimal

from chispa import assert_df_equality

from gold import fact_sales, mkt_online_sales_by_city
from helpers import frame, inline_tables
from star import MORE_FACTS


def test_build_ranks_online_cities_lowest_revenue_first(spark, cfg):
    expected = frame(spark, mkt_online_sales_by_city.TABLE, [
        {"shipping_city": "Cairo", "shipping_state": "CA", "online_revenue": Decimal("9.01"), "orders": 1, "units": 1,
         "rank_lowest_revenue": 1},
        {"shipping_city": "Alexandria", "shipping_state": "AL", "online_revenue": Decimal("15.02"), "orders": 1,
         "units": 2, "rank_lowest_revenue": 2},
    ])
    with inline_tables(spark, cfg, {fact_sales.TABLE: MORE_FACTS}):
        assert_df_equality(mkt_online_sales_by_city.build(spark), expected, ignore_nullable=True,
                           ignore_row_order=True)
