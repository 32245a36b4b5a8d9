"""Independent recomputation of what the stream must have written, from the producer's own messages.

Plain Python over :func:`streaming.synthetic_events.generate` (no Spark, no code shared with the job's
aggregations), so a bug in the job's windowing or merging cannot hide by being repeated here.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from qlake.storage import read_delta
from streaming.synthetic_events import Message, generate


def messages(runs: list[dict]) -> list[Message]:
    """All messages of several ``produce`` calls, each given as its keyword arguments (count, seed, start...)."""
    out: list[Message] = []
    for run in runs:
        out.extend(generate(**run))
    return out


def _ts(text: str) -> datetime:
    # Event times are wall-clock digits stored as UTC (the job parses in the UTC session time zone).
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc)


def _floor(ts: datetime, minutes: int) -> datetime:
    return ts.replace(second=0, minute=ts.minute - ts.minute % minutes)


def funnel(events: list[dict]) -> dict:
    rows: dict = defaultdict(lambda: defaultdict(int))
    names = {"productView": "views", "addToCart": "add_to_carts", "purchase": "purchases",
             "recommendationClick": "recommendation_clicks"}
    for e in events:
        row = rows[_floor(_ts(e["timestamp"]), 1)]
        row["events"] += 1
        row[names[e["eventType"]]] += 1
    out = {}
    for start, r in rows.items():
        views, carts, purchases = r["views"], r["add_to_carts"], r["purchases"]
        out[start] = {
            "window_end": start + timedelta(minutes=1),
            "events": r["events"], "views": views, "add_to_carts": carts, "purchases": purchases,
            "recommendation_clicks": r["recommendation_clicks"],
            "view_to_cart_rate": carts / views if views else None,
            "cart_to_purchase_rate": purchases / carts if carts else None,
            "view_to_purchase_rate": purchases / views if views else None,
        }
    return out


def revenue(events: list[dict]) -> dict:
    rows: dict = defaultdict(lambda: {"purchases": 0, "units": 0, "revenue": Decimal("0.00")})
    for e in events:
        if e["eventType"] != "purchase":
            continue
        row = rows[(_floor(_ts(e["timestamp"]), 1), e["paymentMethod"])]
        row["purchases"] += 1
        row["units"] += e["quantity"]
        row["revenue"] += Decimal(str(e["totalAmount"])).quantize(Decimal("0.01"))
    for row in rows.values():
        row["avg_order_value"] = (row["revenue"] / row["purchases"]).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return dict(rows)


def top_products(events: list[dict]) -> dict:
    zero = {"views": 0, "add_to_carts": 0, "purchases": 0, "units_purchased": 0, "revenue": Decimal("0.00")}
    rows: dict = defaultdict(lambda: dict(zero))
    for e in events:
        start = _floor(_ts(e["timestamp"]), 5)
        row = rows[(start, "product", e["productId"])]
        kind = e["eventType"]
        if kind == "productView":
            row["views"] += 1
            rows[(start, "category", e["metadata"]["category"])]["views"] += 1
        elif kind == "addToCart":
            row["add_to_carts"] += 1
        elif kind == "purchase":
            row["purchases"] += 1
            row["units_purchased"] += e["quantity"]
            row["revenue"] += Decimal(str(e["totalAmount"])).quantize(Decimal("0.01"))
    return dict(rows)


def table_rows(location: str, columns: list[str] | None = None) -> list[dict]:
    return read_delta(location, columns=columns).to_pylist()


def actual_funnel(location: str) -> dict:
    return {r.pop("window_start"): {k: v for k, v in r.items() if k not in ("updated_at", "last_batch_id")}
            for r in table_rows(location)}


def actual_revenue(location: str) -> dict:
    out = {}
    for r in table_rows(location):
        out[(r["window_start"], r["payment_method"])] = {
            k: r[k] for k in ("purchases", "units", "revenue", "avg_order_value")}
    return out


def actual_top_products(location: str) -> dict:
    out = {}
    for r in table_rows(location):
        out[(r["window_start"], r["dimension"], r["item"])] = {
            k: r[k] for k in ("views", "add_to_carts", "purchases", "units_purchased", "revenue")}
    return out
