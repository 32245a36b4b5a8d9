"""The quality gate of a silver batch: each row flagged with the rules it breaks, the rules counted (a broken
``fail`` rule stops the run), the table's GX suite run on the flagged batch in the background, and the rows that
broke a quarantine rule written to ``silver.quarantine_<table>``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from qlake import catalog, scratch
from qlake.tables import Table
from qlake.quality import flag_rows, raise_for_failures, rule_counts
from silver.context import ROW_ID, SilverContext
from silver.incremental import NewRows

QUARANTINE_COLUMNS = (
    "failed_rules ARRAY<STRING> NOT NULL, raw_row STRING NOT NULL, _source_file STRING NOT NULL, "
    "_source_sha256 STRING NOT NULL, _row_number BIGINT NOT NULL, _batch_id STRING, run_id STRING NOT NULL, "
    "quarantined_at TIMESTAMP NOT NULL"
)


@cache
def quarantine_spec(table: str) -> Table:
    """The declaration of ``silver.quarantine_<table>`` (one per gated table, each in its own module
    ``silver/quarantine_<table>.py``); its rows are written by the gate of ``silver.<table>``."""
    return Table(
        name=f"silver.quarantine_{table}",
        grain=f"one row per delivered row of bronze.{table} that broke a quarantine rule (delivered file x row number)",
        reads=(f"bronze.{table}",),
        build="silver.quality_gate.quarantine_rows",
        tests=("tests/silver/test_quarantine.py",),
        columns=QUARANTINE_COLUMNS,
        comment=f"rows of bronze.{table} that broke a quarantine rule, with the rules and the raw row",
    )


def flag_batch(ctx: SilverContext, staged: DataFrame, table: str, suite: str) -> DataFrame:
    """Flag each row with the rules it breaks and materialize the flagged batch (no Great Expectations yet).

    Materialized once: GX runs dozens of metric queries over it, and quarantine, dedup and the counts read it
    again. Partitioned by the routing decision: the good rows are then a partition, not a filter. Sail checks a
    table's NOT NULL columns on an INSERT's rows *before* a filter in its source (the quarantined rows with a
    NULL key would fail the write of the good ones); a pruned partition is never read.
    """
    name = _batch_scratch(ctx, table)
    ctx.scratch.append(name)
    flagged = flag_rows(staged, ctx.validator.rules(suite), ctx.params)
    return scratch.materialize(
        ctx.spark, flagged.withColumn("_is_quarantined", F.size("_failed_rules") > 0), ctx.cfg, name,
        partition_by=["_is_quarantined"],
    )


def _batch_scratch(ctx: SilverContext, table: str) -> str:
    return f"{ctx.run_id}/{table}"


def check_batch(ctx: SilverContext, flagged: DataFrame, table: str, suite: str) -> tuple[int, int]:
    """The gate of a flagged batch: every rule counted by its compiled predicate in one aggregate (with the good
    and quarantined rows, returned), the run stopped on a broken ``fail`` rule before anything is written; GX
    validates the same batch in its worker process (its results and Data Docs are stored when the run finishes,
    and compared with these counts)."""
    split = {"good": F.count(F.when(~is_quarantined(), F.lit(1))),
             "quarantined": F.count(F.when(is_quarantined(), F.lit(1)))}
    counts, rows = rule_counts(flagged, ctx.validator.rules(suite), ctx.params, also=split)
    ctx.rule_counts.extend((f"silver.{table}", r) for r in counts)
    ctx.validation.submit(scratch.path(ctx.cfg, _batch_scratch(ctx, table)), suite, ctx.run_id,
                          ctx.params, table=f"silver.{table}")
    raise_for_failures(table, [r for r in counts if r.action == "fail"])
    return rows["good"], rows["quarantined"]


@dataclass
class FlaggedBatch:
    """New bronze rows of one table, staged, flagged and materialized; ``flagged`` is None when there are none."""

    new: NewRows
    flagged: DataFrame | None

    def good(self) -> DataFrame:
        return self.flagged.where(~is_quarantined())


def is_quarantined() -> Column:
    return F.col("_is_quarantined")


def quarantine(ctx: SilverContext, flagged: DataFrame, table: str, bronze: DataFrame,
               raw_columns: tuple[str, ...], count: int) -> int:
    """Write the ``count`` rows that broke a quarantine rule (idempotent per source file + row); returns ``count``.

    The raw row is looked up in bronze for the quarantined rows only, so the staged batch does not carry a
    copy of every delivered row.
    """
    if count:
        rows = quarantine_rows(flagged, bronze, raw_columns, ctx.run_id, ctx.now)
        catalog.merge(ctx.spark, rows, quarantine_spec(table), keys=ROW_ID,
                      cfg=ctx.cfg, update_when_changed=["failed_rules"])
    return count


def quarantine_rows(flagged: DataFrame, bronze: DataFrame, raw_columns: tuple[str, ...], run_id: str,
                    quarantined_at: datetime) -> DataFrame:
    """The build of ``silver.quarantine_<table>``: each flagged row that broke a quarantine rule, with its rule
    names and its delivered row as JSON (``raw_columns`` of bronze, matched by source file + row number)."""
    raw = bronze.select(*ROW_ID, F.to_json(F.struct(*[F.col(f"`{c}`") for c in raw_columns])).alias("raw_row"))
    bad = flagged.where(is_quarantined()).select("_failed_rules", "_source_file", *ROW_ID, "_batch_id")
    return bad.join(raw, on=ROW_ID, how="inner").select(
        F.col("_failed_rules").alias("failed_rules"),
        "raw_row",
        "_source_file",
        *ROW_ID,
        "_batch_id",
        F.lit(run_id).alias("run_id"),
        F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
    )
