"""``gold.stream_revenue_by_payment_1m``: purchases, units and revenue per payment method per event-time minute."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from qlake.tables import Table
from streaming.windows import Report, money_ratio, sum_by, window_end, window_start

WINDOW_MINUTES = 1

TABLE = Table(
    "gold.stream_revenue_by_payment_1m",
    "window_start TIMESTAMP NOT NULL, window_end TIMESTAMP NOT NULL, payment_method STRING NOT NULL, "
    "purchases BIGINT NOT NULL, units BIGINT NOT NULL, revenue DECIMAL(18,2) NOT NULL, "
    "avg_order_value DECIMAL(18,2), updated_at TIMESTAMP NOT NULL, last_batch_id BIGINT NOT NULL",
    grain="one row per event-time minute and payment method",
    build="partials",
    reads=("silver.app_events",),
    tests=("tests/streaming/test_stream_pipeline.py",),
    comment="Live revenue per payment method per event-time minute; avg_order_value rounded half-up to cents",
)

MEASURES = ("purchases", "units", "revenue")
UNKNOWN_METHOD = "(unknown)"  # a purchase without a payment method still counts; it is not silently dropped


def partials(events: pa.Table) -> pa.Table:
    is_purchase = pc.equal(events.column("event_type"), "purchase")
    purchases = events.filter(is_purchase)
    start = window_start(purchases.column("event_time"), WINDOW_MINUTES)
    return sum_by(
        pa.table({
            "window_start": start,
            "window_end": window_end(start, WINDOW_MINUTES),
            "payment_method": pc.coalesce(purchases.column("payment_method"), pa.scalar(UNKNOWN_METHOD)),
            "purchases": pa.array([1] * purchases.num_rows, pa.int64()),
            "units": pc.cast(purchases.column("quantity"), pa.int64()),
            "revenue": pc.cast(purchases.column("total_amount"), pa.decimal128(18, 2)),
        }),
        ["window_start", "window_end", "payment_method"],
        list(MEASURES),
    )


def derive(totals: pd.DataFrame) -> pd.DataFrame:
    totals["avg_order_value"] = money_ratio(totals["revenue"], totals["purchases"])
    return totals


REPORT = Report(
    spec=TABLE,
    keys=("window_start", "window_end", "payment_method"),
    measures=MEASURES,
    money=("revenue",),
    partials=partials,
    derive=derive,
)
