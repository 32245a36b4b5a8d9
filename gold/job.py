"""`qlake run gold`: silver → star schema (incremental) → marketing aggregates.

The fact is incremental: it reads silver sales whose `_updated_at` is past the watermark this job recorded last
time, and upserts them by transaction_id. Dimensions are small and re-derived from silver, written only where
they changed. Marketing aggregates are additive totals of the fact: when the run only appended facts to the
fact version the aggregate was last computed from, by the same code, the new facts' totals are added to the
stored ones (a read of the aggregate, not of the fact); otherwise (first run, corrected facts, a changed
definition, a fact rebuilt) it is re-aggregated from the whole fact. ``ops.pipeline_state`` records, per
aggregate, the fact version and code it reflects, in the commit that advances the fact's watermark. A run
without new facts compares the re-aggregated rows with the stored ones and writes only a difference.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial, reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gold import (
    _aggregates,
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
from qlake import catalog, ops, storage, table_stats
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
    added_to: list[str] = field(default_factory=list)  # aggregates updated from the new facts alone

    def lines(self) -> list[str]:
        if not self.fact_rows_in:
            return ["gold: no new silver sales"]
        lines = [
            f"gold.fact_sales: {self.fact_rows_in} sales upserted, {self.fact_rows_total} in total",
            f"gold tables written: {', '.join(self.tables_written) or 'none'}",
        ]
        if self.added_to:
            lines.append(f"gold: the new facts' totals added to {', '.join(sorted(self.added_to))}")
        return lines


# The fact's Delta table id and version (:func:`storage.table_state`).
FactState = tuple[str, int]


@dataclass
class _FactUpsert:
    """The fact's state before this run, and what its upsert did: the aggregates add the totals of ``new_rows``
    when it only appended them (one commit, no existing key touched, a row per sale)."""
    before: FactState | None
    taken: int | None = None  # how many of the run's sales the fact already holds (:func:`_look_for_sales`)
    new_rows: DataFrame | None = None
    after: FactState | None = None
    added_to: list[str] = field(default_factory=list)


def _upsert_facts(spark: SparkSession, cfg: Settings, sales: DataFrame, sales_count: int,
                  upsert: _FactUpsert) -> str:
    rows = fact_sales.build(spark, sales)
    location = catalog.ensure_table(spark, fact_sales.TABLE, cfg)
    if upsert.taken == 0:  # an hour of new sales: appended, no look at the fact
        upserted = (0, catalog.append(spark, rows, fact_sales.TABLE, cfg, counted=True))
    else:
        upserted = catalog.merge(spark, rows, fact_sales.TABLE, keys=[fact_sales.KEY], cfg=cfg)
    if upsert.before is None:  # created by this run
        upsert.after = storage.table_state(location)
        return fact_sales.TABLE.name
    table_id, version = upsert.before
    upsert.after = (table_id, storage.latest_version(location))  # the same table: its log's listing will do
    if upserted == (0, sales_count) and upsert.after[1] == version + 1:
        upsert.new_rows = fact_sales.sale_columns(sales)  # what the aggregates read of them, without the joins
    return fact_sales.TABLE.name


def _look_for_sales(spark: SparkSession, sales: DataFrame, upsert: _FactUpsert) -> None:
    """Count the run's sales the fact already holds: a read of the fact's keys alone (~0.1 s at 1M rows), run
    while the dimensions are written, since the facts' own rows need the dimensions first."""
    if upsert.before is not None:
        upsert.taken = sales.select(fact_sales.KEY).join(
            catalog.read(spark, fact_sales.TABLE).select(fact_sales.KEY), on=fact_sales.KEY, how="left_semi").count()


def _reflects(module, fact_state: FactState) -> str:
    """The marker of an aggregate computed from the fact at ``fact_state`` by the code it is computed by now."""
    table_id, version = fact_state
    return f"{table_id}@{version}:{_aggregates.logic_version(module)}"


def _reflecting(spark: SparkSession, cfg: Settings, fact_state: FactState | None) -> set[str]:
    """The aggregates whose stored rows reflect the fact's rows at ``fact_state``, by their present code: the
    fact version of their latest marker is that one, or only compactions and vacuums (which keep the rows)
    followed it."""
    if fact_state is None:
        return set()
    table_id, version = fact_state
    mine = [(F.col("consumer") == module.TABLE.name)
            & F.col("marker").startswith(f"{table_id}@")
            & F.col("marker").endswith(f":{_aggregates.logic_version(module)}")
            for module in MARKETING]
    catalog.ensure_table(spark, ops.PIPELINE_STATE, cfg)
    latest = catalog.read(spark, ops.PIPELINE_STATE).where(
        (F.col("source") == fact_sales.TABLE.name) & reduce(operator.or_, mine)
    ).groupBy("consumer").agg(F.max(F.regexp_extract("marker", r"@(\d+):", 1).cast("bigint")).alias("version"))
    location = fact_sales.TABLE.location(cfg)
    return {r.consumer for r in latest.collect() if storage.rows_unchanged_between(location, r.version, version)}


def _update_aggregate(spark: SparkSession, cfg: Settings, module, upsert: _FactUpsert, reflecting: set[str]) -> str:
    """Add the new facts' totals to the aggregate when it reflects the fact they were appended to; else rebuild
    it from the whole fact (:func:`_replace`)."""
    if upsert.new_rows is not None and module.TABLE.name in reflecting:
        catalog.overwrite(spark, _aggregates.add_new_facts(spark, module, upsert.new_rows), module.TABLE, cfg)
        upsert.added_to.append(module.TABLE.name)
        return module.TABLE.name
    return _replace(spark, cfg, module)


def _aggregate_markers(fact_state: FactState | None, names: list[str], rows: int) -> list[tuple[str, str, dict]]:
    """ops.pipeline_state rows saying which fact version (and code) the ``names``d aggregates now reflect."""
    if fact_state is None:
        return []
    return [(module.TABLE.name, fact_sales.TABLE.name, {_reflects(module, fact_state): rows})
            for module in MARKETING if module.TABLE.name in names]


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


def _merge_dimension(spark: SparkSession, cfg: Settings, module, key: str, *build_args, **build_kwargs) -> str:
    """Build the dimension's rows and upsert them.

    Silver never deletes dimension rows (SCD2 closes a version instead), so an atomic upsert (new rows in,
    changed ones updated, one commit; :func:`qlake.catalog.merge`) keeps each mirror exact.
    """
    rows = module.build(spark, *build_args, **build_kwargs)
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
    fact_state = storage.table_state(fact_sales.TABLE.location(cfg))
    # What the aggregates reflect does not change in this run before they are written (a fact created by this run
    # has no marker): asked side by side with the new sales.
    (watermark, sales, new_watermark), reflecting = side_by_side(
        partial(_new_sales, spark, cfg), partial(_reflecting, spark, cfg, fact_state))
    if not new_watermark["n"]:
        # Aggregates are compared, not trusted: after a logic change they catch up without new data. What they
        # read exists even before the first sale arrives.
        _ensure(spark, cfg, fact_sales, dim_product, dim_offer)
        written = side_by_side(*[partial(_replace_if_changed, spark, cfg, m) for m in (dim_offer, *MARKETING)])
        report.tables_written += [name for name in written if name]
        fact_state = fact_state or storage.table_state(fact_sales.TABLE.location(cfg))  # created just now
        stale = {m.TABLE.name for m in MARKETING} - reflecting
        ops.record_markers_of(spark, cfg, _aggregate_markers(fact_state, list(stale), 0), run_id)
        return report

    upsert = _FactUpsert(before=fact_state)
    writers = _writers(spark, cfg, sales, watermark, new_watermark["n"], upsert, reflecting)
    written = []
    for level, following in zip(LEVELS, [*LEVELS[1:], []]):
        # A level's tables are written side by side while the next level's tables are created (first run), and
        # the fact's look for the run's sales runs with the first level.
        look = [partial(_look_for_sales, spark, sales, upsert)] if level is LEVELS[0] else []
        with phase(_label(level)):
            done = side_by_side(*[writers[name] for name in level], *look,
                                *[partial(catalog.ensure_table, spark, _TABLE[name], cfg) for name in following])
        written += done[:len(level)]
    report.tables_written += [name for name in written if name]
    report.added_to = upsert.added_to
    report.fact_rows_in = new_watermark["n"]
    report.fact_rows_total = table_stats.row_count(spark, fact_sales.TABLE, cfg)
    watermark_marker = new_watermark["w"].isoformat(sep=" ", timespec="microseconds")
    # The fact's watermark and what the aggregates now reflect advance in one commit.
    ops.record_markers_of(spark, cfg, [
        (fact_sales.TABLE.name, SILVER_SALES, {watermark_marker: new_watermark["n"]}),
        *_aggregate_markers(upsert.after, report.tables_written, new_watermark["n"]),
    ], run_id)
    return report


def _new_sales(spark: SparkSession, cfg: Settings) -> tuple:
    """The fact's watermark, the silver sales past it, and their latest ``_updated_at`` (w) and count (n)."""
    markers = ops.consumed_markers(spark, cfg, fact_sales.TABLE.name, SILVER_SALES)
    watermark = max(markers) if markers else None
    sales = catalog.read(spark, sales_transactions.TABLE, cfg)
    if watermark:
        sales = sales.where(F.col("_updated_at") > F.lit(watermark).cast("timestamp"))
    return watermark, sales, sales.agg(F.max("_updated_at").alias("w"), F.count(F.lit(1)).alias("n")).first()


def _writers(spark: SparkSession, cfg: Settings, sales: DataFrame, watermark, sales_count: int,
             upsert: _FactUpsert, reflecting: set[str]) -> dict[str, Callable[[], str | None]]:
    """How each table is written (table name -> a call returning the name if it wrote). Lazy: a build runs when
    its level does, after the tables it reads are written."""
    merge = partial(_merge_dimension, spark, cfg)
    return {
        dim_offer.TABLE.name: partial(_replace_if_changed, spark, cfg, dim_offer),
        **{module.TABLE.name: partial(merge, module, key) for module, key in DIMENSIONS},
        # Customers are many: only the versions silver opened or closed since the last run.
        dim_customer.TABLE.name: partial(merge, dim_customer, "customer_key", since=watermark),
        dim_date.TABLE.name: partial(merge, dim_date, "date_key", sales),
        fact_sales.TABLE.name: partial(_upsert_facts, spark, cfg, sales, sales_count, upsert),
        **{module.TABLE.name: partial(_update_aggregate, spark, cfg, module, upsert, reflecting)
           for module in MARKETING},
    }


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
