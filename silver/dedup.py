"""Duplicates within a batch: one row per key, the latest delivery wins (ingest time, then file, then row)."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from qlake import scratch
from silver.context import ROW_ID, SilverContext


def _latest_first(keys: list[str]) -> Window:
    return Window.partitionBy(*keys).orderBy(
        F.col("_ingested_at").desc(), F.col("_source_file").desc(), F.col("_row_number").desc()
    )


def latest_per_key(df: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key: the latest delivery wins (ingest time, then file, then row within the file).

    A ranking window, not ``max_by(struct, ...)``: Sail's max_by over struct values is ~100x slower with many
    groups (13 s for 36,000 customers in 550,000 rows).
    """
    return df.withColumn("_rank", F.row_number().over(_latest_first(keys))).where(F.col("_rank") == 1).drop("_rank")


@dataclass
class Deduplicated:
    latest: DataFrame  # one row per key
    changed_keys: int  # keys delivered more than once in the batch with different content (``_row_hash``)


def deduplicate(ctx: SilverContext, df: DataFrame, keys: list[str], scratch_name: str) -> Deduplicated:
    """:func:`latest_per_key` for a large batch in which repeats are the exception.

    Sorting the whole wide batch by key costs more than everything else in the run; instead the repeated keys
    are found by aggregation, only their rows are ranked, and the superseded rows (few, written to scratch) are
    anti-joined away. Needs ``_row_hash`` to tell re-deliveries from changes.
    """
    repeats = df.groupBy(*keys).agg(
        F.count(F.lit(1)).alias("_deliveries"),
        (F.min("_row_hash") != F.max("_row_hash")).alias("_changed"),
    ).where(F.col("_deliveries") > 1)
    ranked = (
        df.join(repeats.select(*keys), on=keys, how="left_semi")
        .select(*keys, *ROW_ID, "_ingested_at", "_source_file")
        .withColumn("_rank", F.row_number().over(_latest_first(keys)))
    )
    superseded = ranked.where(F.col("_rank") > 1).select(*ROW_ID)
    ctx.scratch.append(scratch_name)
    superseded = scratch.materialize(ctx.spark, superseded, ctx.cfg, scratch_name)
    changed = repeats.agg(F.sum(F.col("_changed").cast("int"))).first()[0]
    latest = df.join(F.broadcast(superseded), on=ROW_ID, how="left_anti")
    return Deduplicated(latest, changed or 0)
