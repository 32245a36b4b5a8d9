"""``gold.stream_top_products_5m``: views / carts / purchases per product and views per category, per 5 minutes.

The table keeps every product's counts for a window (not only the leaders): a later on-time event can move any
product into the top, which a stored top-N could not account for. "Top" is a query (``qlake report stream``).
Only productView events carry a category, so category rows count views (their other measures are 0).
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from qlake.tables import Table
from streaming.windows import Report, flag, sum_by, window_end, window_start

WINDOW_MINUTES = 5

TABLE = Table(
    "gold.stream_top_products_5m",
    "window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, dimension STRING NOT NULL, "
    "item STRING NOT NULL, views BIGINT NOT NULL, add_to_carts BIGINT NOT NULL, purchases BIGINT NOT NULL, "
    "units_purchased BIGINT NOT NULL, revenue DECIMAL(18,2) NOT NULL, updated_at TIMESTAMP NOT NULL, "
    "last_batch_id BIGINT NOT NULL",
    grain="one row per 5-minute event-time window and product or category",
    build="partials",
    reads=("silver.app_events",),
    tests=("tests/streaming/test_stream_pipeline.py",),
    comment="Live product and category activity per 5-minute event-time window (dimension = product | category)",
)

MEASURES = ("views", "add_to_carts", "purchases", "units_purchased", "revenue")
MONEY = pa.decimal128(18, 2)


def partials(events: pa.Table) -> pa.Table:
    kind = events.column("event_type")
    is_view = pc.equal(kind, "productView")
    is_cart = pc.equal(kind, "addToCart")
    is_purchase = pc.equal(kind, "purchase")
    has_category = pc.is_valid(events.column("category"))
    start = window_start(events.column("event_time"), WINDOW_MINUTES)
    end = window_end(start, WINDOW_MINUTES)
    n = events.num_rows
    zero_money = pa.array([Decimal("0")] * n, MONEY)

    by_product = sum_by(
        pa.table({
            "window_start": start,
            "window_end": end,
            "dimension": pa.array(["product"] * n, pa.string()),
            "item": events.column("product_id"),
            "views": flag(is_view),
            "add_to_carts": flag(is_cart),
            "purchases": flag(is_purchase),
            "units_purchased": pc.cast(pc.if_else(is_purchase, events.column("quantity"), None), pa.int64()),
            "revenue": pc.cast(pc.if_else(is_purchase, events.column("total_amount"), None), MONEY),
        }),
        ["window_start", "window_end", "dimension", "item"],
        list(MEASURES),
    )
    viewed = pc.and_(is_view, has_category)
    by_category = sum_by(
        pa.table({
            "window_start": start,
            "window_end": end,
            "dimension": pa.array(["category"] * n, pa.string()),
            "item": events.column("category"),
            "views": flag(viewed),
            "add_to_carts": pa.array([0] * n, pa.int64()),
            "purchases": pa.array([0] * n, pa.int64()),
            "units_purchased": pa.array([0] * n, pa.int64()),
            "revenue": zero_money,
        }).filter(viewed),
        ["window_start", "window_end", "dimension", "item"],
        list(MEASURES),
    )
    return pa.concat_tables([by_product, by_category.cast(by_product.schema)])


def derive(totals: pd.DataFrame) -> pd.DataFrame:
    return totals  # nothing derived: ranking happens at query time


REPORT = Report(
    spec=TABLE,
    keys=("window_start", "window_end", "dimension", "item"),
    measures=MEASURES,
    money=("revenue",),
    partials=partials,
    derive=derive,
)
