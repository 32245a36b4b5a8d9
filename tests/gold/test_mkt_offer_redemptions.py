"""gold.mkt_offer_redemptions's build: redemptions, units and discount given per offer, overall (scope ALL) and
per product, dense rank by redemptions within the scope; sales without an offer are not redemptions."""

from __future__ import annotations

from decimal import Decimal

from chispa import assert_df_equality

from gold import dim_offer, dim_product, fact_sales, mkt_offer_redemptions
from helpers import frame, inline_tables
from star import MORE_FACTS, OFFERS, PRODUCTS


def _row(scope, product_id, product_name, offer_key, redemptions, units, discount_given, rank):
    return {"scope": scope, "product_id": product_id, "product_name": product_name, "offer_key": offer_key,
            "offer_name": f"Offer {offer_key} ({ {2: 10, 5: 25}[offer_key]}% off)", "redemptions": redemptions,
            "units": units, "discount_given": Decimal(discount_given), "rank_in_scope": rank}


def test_build_counts_redemptions_overall_and_per_product(spark, cfg):
    expected = frame(spark, mkt_offer_redemptions.TABLE, [
        _row("ALL", None, None, 2, 2, 4, "7.00", 1),  # T1 59.97 - 53.97 + T4 10.01 - 9.01
        _row("ALL", None, None, 5, 1, 2, "5.00", 2),  # T3 20.02 - 15.02
        _row("1", 1, "Boots", 2, 1, 3, "6.00", 1),
        _row("2", 2, "Hat", 2, 1, 1, "1.00", 1),
        _row("2", 2, "Hat", 5, 1, 2, "5.00", 1),
    ])
    with inline_tables(spark, cfg, {fact_sales.TABLE: MORE_FACTS, dim_product.TABLE: PRODUCTS,
                                    dim_offer.TABLE: OFFERS}):
        assert_df_equality(mkt_offer_redemptions.build(spark), expected, ignore_nullable=True, ignore_row_order=True)
