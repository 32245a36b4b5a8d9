"""Read-only helpers for the notebooks in ``notebooks/``: queries that return pandas DataFrames, and bar/line charts.

Nothing here writes or creates a table. Tables are read by name through the session (Sail or Spark Connect), so
the same notebook runs against a laptop lake or the cluster. Tables that another job has not created yet (the
streaming ones) are reported as absent instead of failing: see :func:`existing_tables`.
"""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Iterable

import pandas as pd
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from qlake import sql as qsql

DQ_RESULTS = "ops.dq_results"
ROW_ACCOUNTING = "ops.row_accounting"
TOP_PRODUCTS = "gold.mkt_top_products"

BRONZE_EVENTS = "bronze.app_events"
REJECTED_EVENTS = "bronze.app_events_rejected"
STREAM_EVENTS = "silver.app_events"
STREAM_FUNNEL = "gold.stream_funnel_1m"
STREAM_REVENUE = "gold.stream_revenue_by_payment_1m"
STREAM_TOP_PRODUCTS = "gold.stream_top_products_5m"
STREAM_TABLES = (STREAM_EVENTS, STREAM_FUNNEL, STREAM_REVENUE, STREAM_TOP_PRODUCTS)
NO_STREAM_TABLES = "no streaming tables yet: run qlake stream"

# Time column each streaming table is summarised by (newest / oldest row).
_STREAM_TIME = {STREAM_EVENTS: "event_time", STREAM_FUNNEL: "window_start", STREAM_REVENUE: "window_start",
                STREAM_TOP_PRODUCTS: "window_start"}


# ---- parameters ----------------------------------------------------------------------------------------------
def param(name: str, default, kind=float):
    """Notebook parameter ``name`` from the environment variable ``QLAKE_NB_<NAME>`` (empty or ``none``: None),
    else ``default``: headless runs (tests, schedulers) set them without editing the notebook."""
    value = os.environ.get(f"QLAKE_NB_{name.upper()}")
    if value is None:
        return default
    return None if value.strip().lower() in ("", "none") else kind(value)


# ---- generic -------------------------------------------------------------------------------------------------
def table_exists(spark: SparkSession, name: str) -> bool:
    """Is ``database.table`` registered in the metastore (False when the database itself is missing)."""
    try:
        return bool(spark.catalog.tableExists(name))
    except Exception:  # noqa: BLE001 - an engine that raises for a missing database: the table is absent
        return False


def existing_tables(spark: SparkSession, names: Iterable[str]) -> list[str]:
    return [n for n in names if table_exists(spark, n)]


def sql(spark: SparkSession, statement: str, limit: int | None = None) -> pd.DataFrame:
    """A statement through the same SQL surface as `qlake sql` (catalog statements, rewrites, time travel; README
    "SQL"), as a DataFrame; a rewrite is said in the frame's ``attrs["note"]``."""
    result = qsql.run(spark, statement, limit=limit)
    frame = pd.DataFrame(result.rows, columns=result.columns)
    frame.attrs["note"] = result.note
    return frame


def numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """DECIMAL columns (Python ``Decimal`` objects in pandas) as floats, for plotting only."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object and out[col].map(lambda v: isinstance(v, Decimal)).any():
            out[col] = out[col].astype(float)
    return out


def report_frame(report) -> pd.DataFrame:
    """A :class:`gold.reports.Report` (name, title, columns, rows, ...) as a DataFrame with its column names."""
    return pd.DataFrame(report.rows, columns=report.columns)


def barh(ax, report, label_column: str | None = None, value_column: str | None = None):
    """Horizontal bars of a report, largest/first row on top, on the matplotlib axis ``ax``."""
    label_column = label_column or report.label_column
    value_column = value_column or report.value_column
    frame = numeric(report_frame(report))
    labels = frame[label_column].astype(str)
    if label_column == "city" and "state" in frame:
        labels = labels + " (" + frame["state"].astype(str) + ")"
    ax.barh(list(labels)[::-1], list(frame[value_column])[::-1], color="#2b6cb0")
    ax.set_title(report.title)
    ax.set_xlabel(value_column)
    return ax


# ---- marketing ------------------------------------------------------------------------------------------------
def top_products_by_month(spark: SparkSession, top: int = 5) -> pd.DataFrame:
    """Units per month (rows) of the ``top`` products of all time (columns), from ``gold.mkt_top_products``."""
    table = spark.table(TOP_PRODUCTS)
    leaders = (
        table.where(F.col("period") == "ALL").orderBy("rank_by_units", F.col("revenue").desc()).limit(top)
        .select("product_id")
    )
    monthly = (
        table.where(F.col("period") != "ALL").join(leaders, "product_id")
        .select("period", "product_name", "units").toPandas()
    )
    if monthly.empty:
        return pd.DataFrame()
    return monthly.pivot_table(index="period", columns="product_name", values="units", aggfunc="sum",
                               fill_value=0).sort_index()


# ---- data quality ---------------------------------------------------------------------------------------------
def dq_trend(spark: SparkSession) -> pd.DataFrame:
    """One row per run and rule: run_id, checked_at, table_name, rule, action, evaluated, failed, success.

    Ordered by run time, then table and rule. Empty (with those columns) before the first silver run.
    """
    columns = ["run_id", "checked_at", "table_name", "rule", "action", "evaluated", "failed", "success"]
    if not table_exists(spark, DQ_RESULTS):
        return pd.DataFrame(columns=columns)
    return (
        spark.table(DQ_RESULTS).select(*columns)
        .orderBy("checked_at", "run_id", "table_name", "rule").toPandas()
    )


def dq_failed_by_run(trend: pd.DataFrame, only_failing: bool = True) -> pd.DataFrame:
    """Failed rows per run (index, in run order) and ``table.rule`` (columns) from :func:`dq_trend`.

    ``only_failing`` keeps the rules that failed at least one row in some run (the others are all zeros).
    """
    if trend.empty:
        return pd.DataFrame()
    frame = trend.assign(
        rule_id=trend["table_name"].str.replace("silver.", "", regex=False) + "." + trend["rule"],
        failed=trend["failed"].fillna(0).astype("int64"),
    )
    order = frame.groupby("run_id")["checked_at"].min().sort_values().index
    pivot = frame.pivot_table(index="run_id", columns="rule_id", values="failed", aggfunc="sum", fill_value=0)
    pivot = pivot.reindex(order)
    if only_failing:
        pivot = pivot.loc[:, (pivot > 0).any(axis=0)]
    return pivot


def dq_run_summary(trend: pd.DataFrame) -> pd.DataFrame:
    """Per run and action (warn / quarantine / fail): rules checked, rules that failed, rows failed."""
    if trend.empty:
        return pd.DataFrame(columns=["run_id", "checked_at", "action", "rules", "rules_failed", "rows_failed"])
    frame = trend.assign(failing=trend["failed"].fillna(0) > 0, failed=trend["failed"].fillna(0))
    return (
        frame.groupby(["run_id", "action"])
        .agg(checked_at=("checked_at", "min"), rules=("rule", "count"), rules_failed=("failing", "sum"),
             rows_failed=("failed", "sum"))
        .reset_index().sort_values(["checked_at", "action"])
        [["run_id", "checked_at", "action", "rules", "rules_failed", "rows_failed"]]
        .reset_index(drop=True)
    )


def row_accounting(spark: SparkSession) -> pd.DataFrame:
    """``ops.row_accounting`` in run order: rows in = inserted + updated + duplicates + quarantined per table."""
    columns = ["run_id", "recorded_at", "table_name", "rows_in", "inserted", "updated", "duplicates",
               "conflicting_redeliveries", "quarantined", "balanced"]
    if not table_exists(spark, ROW_ACCOUNTING):
        return pd.DataFrame(columns=columns)
    return spark.table(ROW_ACCOUNTING).select(*columns).orderBy("recorded_at", "run_id", "table_name").toPandas()


# ---- streaming ------------------------------------------------------------------------------------------------
def stream_summary(spark: SparkSession) -> pd.DataFrame:
    """Per streaming table: present?, rows, oldest and newest event time / window start, last update."""
    rows = []
    for name in STREAM_TABLES:
        if not table_exists(spark, name):
            rows.append({"table": name, "present": False, "rows": None, "first": None, "last": None,
                         "updated_at": None})
            continue
        table = spark.table(name)
        time_col = _STREAM_TIME[name]
        updated = "ingest_time" if name == STREAM_EVENTS else "updated_at"
        stats = table.agg(F.count(F.lit(1)).alias("rows"), F.min(time_col).alias("first"),
                          F.max(time_col).alias("last"), F.max(updated).alias("updated_at")).first()
        rows.append({"table": name, "present": True, **stats.asDict()})
    return pd.DataFrame(rows, columns=["table", "present", "rows", "first", "last", "updated_at"])


def _latest_windows(spark: SparkSession, name: str, windows: int):
    table = spark.table(name)
    starts = table.select("window_start").distinct().orderBy(F.col("window_start").desc()).limit(windows)
    return table.join(starts, "window_start")


def stream_events_per_minute(spark: SparkSession, minutes: int = 60) -> pd.DataFrame:
    """Events per event-time minute (rows) and event type (columns), newest ``minutes`` minutes of silver."""
    if not table_exists(spark, STREAM_EVENTS):
        return pd.DataFrame()
    frame = (
        spark.table(STREAM_EVENTS)
        .groupBy(F.date_trunc("minute", "event_time").alias("minute"), "event_type").count()
        .toPandas()
    )
    if frame.empty:
        return frame
    pivot = frame.pivot_table(index="minute", columns="event_type", values="count", aggfunc="sum", fill_value=0)
    return pivot.sort_index().tail(minutes)


def stream_funnel(spark: SparkSession, minutes: int = 60) -> pd.DataFrame:
    """The newest ``minutes`` rows of ``gold.stream_funnel_1m``, oldest first."""
    if not table_exists(spark, STREAM_FUNNEL):
        return pd.DataFrame()
    return (
        spark.table(STREAM_FUNNEL)
        .select("window_start", "events", "views", "add_to_carts", "purchases", "recommendation_clicks",
                "view_to_cart_rate", "cart_to_purchase_rate", "view_to_purchase_rate")
        .orderBy(F.col("window_start").desc()).limit(minutes).toPandas()
        .sort_values("window_start").reset_index(drop=True)
    )


def stream_revenue(spark: SparkSession, minutes: int = 60) -> pd.DataFrame:
    """Revenue per minute (rows) and payment method (columns), newest ``minutes`` windows, as floats."""
    if not table_exists(spark, STREAM_REVENUE):
        return pd.DataFrame()
    frame = (
        _latest_windows(spark, STREAM_REVENUE, minutes)
        .select("window_start", "payment_method", F.col("revenue").cast("double").alias("revenue"))
        .toPandas()
    )
    if frame.empty:
        return frame
    return frame.pivot_table(index="window_start", columns="payment_method", values="revenue", aggfunc="sum",
                             fill_value=0.0).sort_index()


def stream_top_products(spark: SparkSession, top: int = 10, dimension: str = "product",
                        measure: str = "views") -> pd.DataFrame:
    """Leaders of the newest 5-minute window of ``gold.stream_top_products_5m`` by ``measure``."""
    if not table_exists(spark, STREAM_TOP_PRODUCTS):
        return pd.DataFrame()
    latest = _latest_windows(spark, STREAM_TOP_PRODUCTS, 1)
    return (
        latest.where((F.col("dimension") == dimension) & (F.col(measure) > 0))
        .orderBy(F.col(measure).desc(), F.col("item")).limit(top)
        .select("window_start", "item", "views", "add_to_carts", "purchases", "units_purchased",
                F.col("revenue").cast("double").alias("revenue"))
        .toPandas()
    )


# ---- producer (notebooks/app_event_producer.ipynb) ----------------------------------------------------------
def progress_bar(share: float, width: int = 40) -> str:
    filled = round(max(0.0, min(1.0, share)) * width)
    return f"[{'#' * filled}{'.' * (width - filled)}] {share:6.1%}"


def producer_view(run) -> str:
    """The live text view of a :class:`streaming.producer.ProducerRun`: totals, rates, a progress bar for a
    bounded run, messages per event type and per malformed kind."""
    stats = run.stats()
    share = run.progress(stats)
    state = "running" if stats["running"] else ("failed" if stats["error"] else "stopped")
    bound = " / ".join(b for b in (f"{stats['count']:,} messages" if stats["count"] else "",
                                   f"{stats['duration']:g}s" if stats["duration"] else "") if b) or "until stopped"
    current = f", now {stats['current_rate']:,.0f}/s" if stats["current_rate"] is not None else ""
    lines = [
        f"producer {state} -> topic {stats['topic']} ({bound})",
        f"sent {stats['sent']:,} in {stats['seconds']:.1f}s ({stats['rate'] or 0:,.0f} ev/s{current}),"
        f" delivered {stats['delivered']:,}, failed {stats['failed']:,}",
    ]
    if share is not None:
        lines.append(progress_bar(share))
    lines.append(f"events {stats['events']:,} (with an unannounced field: {stats['extra_fields']:,}),"
                 f" malformed {stats['malformed']:,}")
    lines += [f"  {name:<26} {n:>8,}" for name, n in stats["by_type"].items()]
    lines += [f"  {'malformed ' + name:<26} {n:>8,}" for name, n in stats["by_malformed"].items() if n]
    if stats["error"]:
        lines.append(f"error: {stats['error']}")
    return "\n".join(lines)


def offsets_summary(stats: dict) -> str:
    """What the broker acknowledged, per partition: the offsets range this run wrote and its message count."""
    lines = [f"delivered {stats['delivered']:,} of {stats['sent']:,} messages to {stats['topic']}"]
    lines += [f"partition {p}: offsets {o['first']}-{o['last']} ({o['messages']:,} messages)"
              for p, o in stats["offsets"].items()]
    return "\n".join(lines)


def stream_counts(spark: SparkSession, topic: str, offsets: dict) -> pd.DataFrame:
    """Rows of the app events tables within a producer run's offsets (``{partition: {first, last}}``): table,
    present, rows. Bronze holds every record, the rejected table the malformed ones, silver the valid events."""
    in_range = None
    for partition, o in offsets.items():
        one = (F.col("kafka_partition") == int(partition)) & F.col("kafka_offset").between(o["first"], o["last"])
        in_range = one if in_range is None else in_range | one
    rows = []
    for name in (BRONZE_EVENTS, REJECTED_EVENTS, STREAM_EVENTS):
        if in_range is None or not table_exists(spark, name):
            rows.append({"table": name, "present": False, "rows": None})
            continue
        table = spark.table(name)
        if "topic" in table.columns:  # silver keeps only the configured topic's events and has no topic column
            table = table.where(F.col("topic") == topic)
        rows.append({"table": name, "present": True, "rows": table.where(in_range).count()})
    return pd.DataFrame(rows, columns=["table", "present", "rows"])
