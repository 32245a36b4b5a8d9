"""``qlake report stream``: the latest live windows as rich tables (through the engine, by table name)."""

from __future__ import annotations

import signal
import threading
from datetime import datetime

from pyspark.sql import Window
from pyspark.sql import functions as F
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from qlake.config import Settings
from qlake.spark import session
from streaming import funnel, revenue, top_products
from streaming.state import status


def latest(settings: Settings, minutes: int = 5, top: int = 5) -> dict:
    """The newest ``minutes`` funnel / revenue windows and the newest 5-minute window's leaders, as row dicts."""
    spark = session(settings)
    funnel_rows = (
        spark.table(funnel.TABLE.name).orderBy(F.col("window_start").desc()).limit(minutes).collect()
    )
    newest_minutes = [r["window_start"] for r in funnel_rows]
    revenue_rows = (
        spark.table(revenue.TABLE.name)
        .where(F.col("window_start").isin(newest_minutes))
        .orderBy(F.col("window_start").desc(), F.col("revenue").desc())
        .collect()
        if newest_minutes
        else []
    )
    products = spark.table(top_products.TABLE.name)
    newest = products.agg(F.max("window_start").alias("w")).collect()[0]["w"]
    leaders: dict[str, list] = {}
    if newest is not None:
        in_window = products.where(F.col("window_start") == F.lit(newest))
        for title, dimension, measure in (
            ("most viewed products", "product", "views"),
            ("most purchased products", "product", "purchases"),
            ("most viewed categories", "category", "views"),
        ):
            # Ties broken by item so the list is stable between refreshes.
            rank = F.row_number().over(
                Window.partitionBy("dimension").orderBy(F.col(measure).desc(), F.col("item"))
            )
            leaders[title] = (
                in_window.where(F.col("dimension") == dimension)
                .where(F.col(measure) > 0)
                .withColumn("rank", rank)
                .where(F.col("rank") <= top)
                .orderBy("rank")
                .select("rank", "item", measure, "revenue")
                .collect()
            )
    return {"funnel": funnel_rows, "revenue": revenue_rows, "top_window": newest, "leaders": leaders}


def _fmt_rate(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def _fmt_time(value: datetime | None) -> str:
    return "-" if value is None else value.strftime("%Y-%m-%d %H:%M")


def render(data: dict, job: dict | None = None) -> Group:
    parts = []
    if job:
        last = job.get("last_batch") or {}
        lag = job.get("total_lag")
        parts.append(
            f"[bold]stream[/bold]: {'running' if job.get('running') else 'stopped'}"
            f" | last committed batch {job.get('last_committed_batch', '-')}"
            f" | lag {lag if lag is not None else '-'}"
            f" | watermark {last.get('watermark', '-')}"
        )
    funnel_table = Table(title="Funnel per minute (event time)")
    for column in ("window", "views", "carts", "purchases", "view->cart", "cart->purchase", "view->purchase"):
        funnel_table.add_column(column, justify="right")
    for r in data["funnel"]:
        funnel_table.add_row(
            _fmt_time(r["window_start"]), f"{r['views']:,}", f"{r['add_to_carts']:,}", f"{r['purchases']:,}",
            _fmt_rate(r["view_to_cart_rate"]), _fmt_rate(r["cart_to_purchase_rate"]),
            _fmt_rate(r["view_to_purchase_rate"]),
        )
    parts.append(funnel_table)
    revenue_table = Table(title="Revenue by payment method per minute")
    for column in ("window", "payment method", "purchases", "units", "revenue", "avg order"):
        revenue_table.add_column(column, justify="right")
    for r in data["revenue"]:
        revenue_table.add_row(
            _fmt_time(r["window_start"]), r["payment_method"], f"{r['purchases']:,}", f"{r['units']:,}",
            f"{r['revenue']:,.2f}", "-" if r["avg_order_value"] is None else f"{r['avg_order_value']:,.2f}",
        )
    parts.append(revenue_table)
    for title, rows in data["leaders"].items():
        table = Table(title=title.capitalize(), caption=f"5 min from {_fmt_time(data['top_window'])}")
        measure = [c for c in rows[0].asDict() if c not in ("rank", "item", "revenue")][0] if rows else "count"
        for column in ("#", "item", measure):
            table.add_column(column, justify="right")
        for r in rows:
            table.add_row(str(r["rank"]), r["item"], f"{r[measure]:,}")
        parts.append(table)
    return Group(*parts)


def show(settings: Settings, follow: bool = False, interval: float = 5.0, minutes: int = 5, top: int = 5,
         console: Console | None = None) -> None:
    console = console or Console()
    if not follow:
        console.print(render(latest(settings, minutes, top), status(settings)))
        return
    # Our own handlers, installed after the engine started (embedded Sail takes over SIGINT when it starts, and
    # Ctrl-C would never reach Python): Ctrl-C / SIGTERM end the loop after the refresh in progress.
    session(settings)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Live(console=console, refresh_per_second=1, screen=False) as live:
            while not stop.is_set():
                live.update(render(latest(settings, minutes, top), status(settings)))
                stop.wait(interval)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
