"""`qlake run gold`: silver → star schema (incremental) → marketing aggregates.

The fact is incremental: it reads silver sales whose `_updated_at` is past the watermark this job recorded last
time, and upserts them by transaction_id. Dimensions are small and re-derived from silver, written only where
they changed. Marketing aggregates are re-aggregated from the fact (seconds even at millions of rows): replaced
after new facts, and on a run without new facts compared and replaced only if their content changed (after a
logic change), so such a run writes nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from pyspark.sql import DataFrame, SparkSession
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
from qlake import catalog, ops, table_stats
from qlake.config import Settings
from qlake.profile import phase
from qlake.spark import side_by_side
from qlake.tables import levels
from silver import sales_transactions

SILVER_SALES = sales_transactions.TABLE.name
# Dimension -> key; each mirrors its silver table.
DIMENSIONS = ((dim_product, "product_key"), (dim_branch, "branch_key"), (dim_sales_agent, "sales_agent_key"))
MARKETING = (mkt_top_products, mkt_offer_redemptions, mkt_online_sales_by_city)
MODULES = (dim_offer, *(module for module, _ in DIMENSIONS), dim_customer, dim_date, fact_sales, *MARKETING)
# The build order comes from the tables' declared inputs: dimensions, then the fact, then the aggregates.
LEVELS = levels(module.TABLE for module in MODULES)
_TABLE = {module.TABLE.name: module.TABLE for module in MODULES}


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


def _replace(spark: SparkSession, cfg: Settings, module) -> str:
    """Rebuild an aggregate after new facts arrived (its content changes with them): one statement."""
    catalog.overwrite(spark, module.build(spark), module.TABLE, cfg)
    return module.TABLE.name


def _replace_if_changed(spark: SparkSession, cfg: Settings, module) -> str | None:
    """Rebuild a table and overwrite it only if its rows differ (as a multiset); returns its name if written.

    The tables are small (hundreds to thousands of rows), so both sides are compared in Python: one
    aggregate query and one table read, instead of two set differences that each re-aggregate the fact.
    """
    catalog.ensure_table(spark, module.TABLE, cfg)
    if catalog.created_empty(spark, module.TABLE):
        return _replace(spark, cfg, module)
    fresh = catalog.conform(module.build(spark), module.TABLE)
    rows = fresh.collect()
    if Counter(map(tuple, rows)) == Counter(map(tuple, catalog.read(spark, module.TABLE).collect())):
        return None
    catalog.overwrite(spark, spark.createDataFrame(rows, fresh.schema), module.TABLE, cfg)
    return module.TABLE.name


def _merge_dimension(spark: SparkSession, cfg: Settings, module, key: str, rows: DataFrame) -> str:
    """Upsert ``rows`` into the dimension.

    Silver never deletes dimension rows (SCD2 closes a version instead), so an atomic MERGE (new rows in,
    changed ones updated, one commit) keeps each mirror exact while touching only what changed.
    """
    catalog.merge(spark, rows, module.TABLE, keys=[key], cfg=cfg, atomic=True)
    return module.TABLE.name


def run(spark: SparkSession, cfg: Settings, run_id: str | None = None) -> GoldReport:
    """The tables level by level, in the order of their declared inputs (:data:`LEVELS`): the dimensions side by
    side, then the fact (its keys come from them), then the aggregates side by side.

    A table is created (first run) while the level before it is written, so its metastore round trips overlap
    with other work (the aggregate tables are created while the fact is written).
    """
    run_id = run_id or ops.new_run_id("gold")
    report = GoldReport(run_id)
    catalog.ensure_table(spark, sales_transactions.TABLE, cfg)  # gold before silver's first run reads no sales
    markers = ops.consumed_markers(spark, cfg, fact_sales.TABLE.name, SILVER_SALES)
    watermark = max(markers) if markers else None
    sales = catalog.read(spark, sales_transactions.TABLE, cfg)
    if watermark:
        sales = sales.where(F.col("_updated_at") > F.lit(watermark).cast("timestamp"))
    new_watermark = sales.agg(F.max("_updated_at").alias("w"), F.count(F.lit(1)).alias("n")).first()
    if not new_watermark["n"]:
        # Aggregates are compared, not trusted: after a logic change they catch up without new data. What they
        # read exists even before the first sale arrives.
        _ensure(spark, cfg, fact_sales, dim_product, dim_offer)
        written = side_by_side(*[partial(_replace_if_changed, spark, cfg, m) for m in (dim_offer, *MARKETING)])
        report.tables_written += [name for name in written if name]
        return report

    writers = _writers(spark, cfg, sales, watermark)
    written = []
    for level, following in zip(LEVELS, [*LEVELS[1:], []]):
        # A level's tables are written side by side while the next level's tables are created (first run).
        with phase(_label(level)):
            done = side_by_side(*[writers[name] for name in level],
                                *[partial(catalog.ensure_table, spark, _TABLE[name], cfg) for name in following])
        written += done[:len(level)]
    report.tables_written += [name for name in written if name]
    report.fact_rows_in = new_watermark["n"]
    report.fact_rows_total = table_stats.row_count(spark, fact_sales.TABLE, cfg)
    ops.record_markers(spark, cfg, fact_sales.TABLE.name, SILVER_SALES,
                       {new_watermark["w"].isoformat(sep=" ", timespec="microseconds"): new_watermark["n"]}, run_id)
    return report


def _writers(spark: SparkSession, cfg: Settings, sales: DataFrame, watermark) -> dict[str, Callable[[], str | None]]:
    """How each table is written (table name -> a call returning the name if it wrote). Lazy: a build runs when
    its level does, after the tables it reads are written."""
    merge = partial(_build_and_merge, spark, cfg)
    return {
        dim_offer.TABLE.name: partial(_replace_if_changed, spark, cfg, dim_offer),
        **{module.TABLE.name: partial(merge, module, key) for module, key in DIMENSIONS},
        # Customers are many: only the versions silver opened or closed since the last run.
        dim_customer.TABLE.name: partial(merge, dim_customer, "customer_key", since=watermark),
        dim_date.TABLE.name: partial(merge, dim_date, "date_key", sales),
        fact_sales.TABLE.name: partial(merge, fact_sales, "transaction_id", sales),
        **{module.TABLE.name: partial(_replace, spark, cfg, module) for module in MARKETING},
    }


def _build_and_merge(spark: SparkSession, cfg: Settings, module, key: str, *args, **kwargs) -> str:
    rows = module.build(spark, *args, **kwargs)
    if module is fact_sales:  # facts are upserted; a dimension MERGE is atomic (see _merge_dimension)
        catalog.merge(spark, rows, module.TABLE, keys=[key], cfg=cfg)
        return module.TABLE.name
    return _merge_dimension(spark, cfg, module, key, rows)


def _label(level: list[str]) -> str:
    """The profile's name for a level: the table, or what its tables are by the naming convention."""
    tables = [name.split(".", 1)[1] for name in level]
    if len(tables) == 1:
        return tables[0]
    kinds = {"dim": "dimensions", "mkt": "marketing aggregates"}
    prefixes = {table.split("_", 1)[0] for table in tables}
    return kinds[prefixes.pop()] if len(prefixes) == 1 and prefixes <= kinds.keys() else ", ".join(tables)


def _ensure(spark: SparkSession, cfg: Settings, *modules) -> None:
    side_by_side(*[partial(catalog.ensure_table, spark, module.TABLE, cfg) for module in modules])
