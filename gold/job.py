"""`qlake run gold`: silver → star schema (incremental) → marketing aggregates.

The fact is incremental: it reads silver sales whose `_updated_at` is past the watermark this job recorded last
time, and upserts them by transaction_id. Dimensions are small and re-derived from silver, written only where
they changed. Marketing aggregates are re-aggregated from the fact (seconds even at millions of rows): replaced
after new facts, and on a run without new facts compared and replaced only if their content changed (after a
logic change), so such a run writes nothing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from gold import (
    dim_branch,
    dim_customer,
    dim_date,
    dim_offer,
    dim_product,
    dim_sales_agent,
    fact_sales,
    mkt_offer_redemptions,
    mkt_online_sales_by_city,
    mkt_top_products,
)
from qlake import catalog, ops
from qlake.config import Settings
from silver import sales_transactions

SILVER_SALES = sales_transactions.TABLE.name
# Dimension -> key. SCD2 rows are never deleted in silver, so an atomic MERGE (new versions in, closed ones
# updated) keeps each mirror exact while touching only what changed.
DIMENSIONS = ((dim_product, "product_key"), (dim_branch, "branch_key"), (dim_sales_agent, "sales_agent_key"))
MARKETING = (mkt_top_products, mkt_offer_redemptions, mkt_online_sales_by_city)


@dataclass
class GoldReport:
    run_id: str
    fact_rows_in: int = 0
    fact_rows_total: int = 0
    tables_written: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        if not self.fact_rows_in:
            return ["gold: no new silver sales"]
        return [
            f"gold.fact_sales: {self.fact_rows_in} sales upserted, {self.fact_rows_total} in total",
            f"gold tables written: {', '.join(self.tables_written) or 'none'}",
        ]


def _replace(spark: SparkSession, cfg: Settings, module, report: GoldReport) -> None:
    """Rebuild an aggregate after new facts arrived (its content changes with them): one statement."""
    catalog.overwrite(spark, module.build(spark), module.TABLE, cfg)
    report.tables_written.append(module.TABLE.name)


def _replace_if_changed(spark: SparkSession, cfg: Settings, module, report: GoldReport) -> None:
    """Rebuild a table and overwrite it only if its rows differ (as a multiset).

    The tables are small (hundreds to thousands of rows), so both sides are compared in Python: one
    aggregate query and one table read, instead of two set differences that each re-aggregate the fact.
    """
    catalog.ensure_table(spark, module.TABLE, cfg)
    fresh = catalog.conform(module.build(spark), module.TABLE)
    rows = fresh.collect()
    if Counter(map(tuple, rows)) != Counter(map(tuple, spark.table(module.TABLE.name).collect())):
        catalog.overwrite(spark, spark.createDataFrame(rows, fresh.schema), module.TABLE, cfg)
        report.tables_written.append(module.TABLE.name)


def run(spark: SparkSession, cfg: Settings, run_id: str | None = None) -> GoldReport:
    run_id = run_id or ops.new_run_id("gold")
    report = GoldReport(run_id)
    for spec in (fact_sales.TABLE, dim_date.TABLE, dim_offer.TABLE):
        catalog.ensure_table(spark, spec, cfg)
    markers = ops.consumed_markers(spark, cfg, fact_sales.TABLE.name, SILVER_SALES)
    watermark = max(markers) if markers else None
    sales = spark.table(SILVER_SALES)
    if watermark:
        sales = sales.where(F.col("_updated_at") > F.lit(watermark).cast("timestamp"))
    new_watermark = sales.agg(F.max("_updated_at").alias("w"), F.count(F.lit(1)).alias("n")).first()
    _replace_if_changed(spark, cfg, dim_offer, report)
    if not new_watermark["n"]:
        # Aggregates are compared, not trusted: after a logic change they catch up without new data.
        for module in MARKETING:
            _replace_if_changed(spark, cfg, module, report)
        return report

    for module, key in DIMENSIONS:
        catalog.merge(spark, module.build(spark), module.TABLE, keys=[key], cfg=cfg, atomic=True)
    # Customers are many: only the versions silver opened or closed since the last run.
    catalog.merge(spark, dim_customer.build(spark, since=watermark), dim_customer.TABLE, keys=["customer_key"],
                  cfg=cfg, atomic=True)
    report.tables_written += [m.TABLE.name for m, _ in DIMENSIONS] + [dim_customer.TABLE.name]
    catalog.merge(spark, dim_date.build(spark, sales), dim_date.TABLE, keys=["date_key"], cfg=cfg)
    catalog.merge(spark, fact_sales.build(spark, sales), fact_sales.TABLE, keys=["transaction_id"], cfg=cfg)
    report.tables_written += [dim_date.TABLE.name, fact_sales.TABLE.name]
    for module in MARKETING:
        _replace(spark, cfg, module, report)
    report.fact_rows_in = new_watermark["n"]
    report.fact_rows_total = spark.table(fact_sales.TABLE.name).count()
    ops.record_markers(spark, cfg, fact_sales.TABLE.name, SILVER_SALES,
                       {new_watermark["w"].isoformat(sep=" ", timespec="microseconds"): new_watermark["n"]}, run_id)
    return report
