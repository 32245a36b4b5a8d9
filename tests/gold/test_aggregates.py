"""gold._aggregates: an aggregate with the totals of new facts added equals the aggregate of all the facts,
for each marketing aggregate (what an hour that only appends facts writes)."""

from __future__ import annotations

import pytest

from gold import (
    _aggregates,
    dim_offer,
    dim_product,
    fact_sales,
    mkt_offer_redemptions,
    mkt_online_sales_by_city,
    mkt_top_products,
)
from helpers import frame, inline_tables, multiset
from qlake import catalog
from star import FACTS, MORE_FACTS, OFFERS, PRODUCTS


@pytest.mark.parametrize("module", [mkt_top_products, mkt_offer_redemptions, mkt_online_sales_by_city],
                         ids=lambda module: module.__name__)
def test_new_facts_added_to_the_stored_totals_equal_one_pass_over_all_facts(spark, cfg, module):
    new_facts = MORE_FACTS[len(FACTS):]  # T4: an online sale with an offer, a product and a month already counted
    dims = {dim_product.TABLE: PRODUCTS, dim_offer.TABLE: OFFERS}
    with inline_tables(spark, cfg, {fact_sales.TABLE: MORE_FACTS, **dims}):
        one_pass = multiset(module.build(spark), module.TABLE)
    with inline_tables(spark, cfg, {fact_sales.TABLE: FACTS, **dims, module.TABLE: []}):
        catalog.overwrite(spark, module.build(spark), module.TABLE, cfg)  # the stored totals of T1-T3
        added = _aggregates.add_new_facts(spark, module, frame(spark, fact_sales.TABLE, new_facts))
        assert multiset(added, module.TABLE) == one_pass
    assert len(one_pass) == {mkt_top_products: 4, mkt_offer_redemptions: 5, mkt_online_sales_by_city: 2}[module]
