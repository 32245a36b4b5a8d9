"""gold.dim_offer's build: the five offers and "no offer", exact discounts."""

from __future__ import annotations

from decimal import Decimal

from chispa import assert_df_equality

from gold import dim_offer
from helpers import frame


def test_build_lists_the_five_offers_and_no_offer(spark):
    expected = frame(spark, dim_offer.TABLE, [
        {"offer_key": 0, "offer_name": "No offer", "discount_pct": Decimal("0.00")},
        {"offer_key": 1, "offer_name": "Offer 1 (5% off)", "discount_pct": Decimal("5.00")},
        {"offer_key": 2, "offer_name": "Offer 2 (10% off)", "discount_pct": Decimal("10.00")},
        {"offer_key": 3, "offer_name": "Offer 3 (15% off)", "discount_pct": Decimal("15.00")},
        {"offer_key": 4, "offer_name": "Offer 4 (20% off)", "discount_pct": Decimal("20.00")},
        {"offer_key": 5, "offer_name": "Offer 5 (25% off)", "discount_pct": Decimal("25.00")},
    ])
    assert_df_equality(dim_offer.build(spark), expected, ignore_nullable=True, ignore_row_order=True)
