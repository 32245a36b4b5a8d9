"""``gold.stream_funnel_1m``: per event-time minute, views -> add to cart -> purchase, with conversion rates."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from qlake.tables import Table
from streaming.windows import Report, flag, ratio, sum_by, window_end, window_start

WINDOW_MINUTES = 1

TABLE = Table(
    "gold.stream_funnel_1m",
    "window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, events BIGINT NOT NULL, "
    "views BIGINT NOT NULL, add_to_carts BIGINT NOT NULL, purchases BIGINT NOT NULL, "
    "recommendation_clicks BIGINT NOT NULL, view_to_cart_rate DOUBLE, cart_to_purchase_rate DOUBLE, "
    "view_to_purchase_rate DOUBLE, updated_at TIMESTAMP NOT NULL, last_batch_id BIGINT NOT NULL",
    grain="one row per event-time minute",
    build="partials",
    reads=("silver.app_events",),
    tests=("tests/streaming/test_stream_pipeline.py",),
    comment="Live funnel per event-time minute (streaming); rates are NULL when their denominator is 0",
)

MEASURES = ("events", "views", "add_to_carts", "purchases", "recommendation_clicks")


def partials(events: pa.Table) -> pa.Table:
    kind = events.column("event_type")
    is_view = pc.equal(kind, "productView")
    is_cart = pc.equal(kind, "addToCart")
    is_purchase = pc.equal(kind, "purchase")
    is_click = pc.equal(kind, "recommendationClick")
    start = window_start(events.column("event_time"), WINDOW_MINUTES)
    flags = pa.table({
        "window_start": start,
        "window_end": window_end(start, WINDOW_MINUTES),
        "events": pa.array([1] * events.num_rows, pa.int64()),
        "views": flag(is_view),
        "add_to_carts": flag(is_cart),
        "purchases": flag(is_purchase),
        "recommendation_clicks": flag(is_click),
    })
    return sum_by(flags, ["window_start", "window_end"], list(MEASURES))


def derive(totals: pd.DataFrame) -> pd.DataFrame:
    totals["view_to_cart_rate"] = ratio(totals["add_to_carts"], totals["views"])
    totals["cart_to_purchase_rate"] = ratio(totals["purchases"], totals["add_to_carts"])
    totals["view_to_purchase_rate"] = ratio(totals["purchases"], totals["views"])
    return totals


REPORT = Report(
    spec=TABLE,
    keys=("window_start", "window_end"),
    measures=MEASURES,
    money=(),
    partials=partials,
    derive=derive,
)
