"""Incremental reads by content: a silver table reads only the bronze rows of files it has not consumed yet.

Bronze is append-only and every delivered file is one hash (``_source_sha256``), so a silver table records in
``ops.pipeline_state`` which file hashes it has consumed (:func:`silver.accounting.record_run`) and reads only the
others (a literal IN-list, which lets the engine skip every other file by its statistics). Writes are MERGEs that
only touch changed rows, so re-processing the same file (after a crash between write and state) changes nothing.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bronze import ingested_files
from qlake import catalog, ops
from qlake.catalog import TableSpec
from silver.context import SilverContext


@dataclass
class NewRows:
    df: DataFrame
    markers: dict[str, int]  # file hash -> rows

    @property
    def empty(self) -> bool:
        return not self.markers


# A level's tables are staged side by side (silver.job): the first to ask reads, the others wait and reuse it.
_read_once = threading.Lock()


def new_bronze_rows(ctx: SilverContext, consumer: str, bronze: TableSpec) -> NewRows:
    """Bronze rows of files this consumer has not processed yet (and the run does not hold back for a later one).

    Which files exist (and their row counts) comes from the bronze manifest, a small table, so finding the new
    work costs the same at hour 1 and at hour 1000; it and the consumed hashes are read once per run.
    """
    catalog.ensure_table(ctx.spark, bronze, ctx.cfg)
    done = _consumed(ctx).get((consumer, bronze.name), set())
    todo = {sha: rows for sha, rows in _ingested_files(ctx).get(bronze.table, {}).items()
            if sha not in done and sha not in ctx.held_back}
    df = catalog.read(ctx.spark, bronze).where(F.col("_source_sha256").isin(list(todo) or ["-"]))
    return NewRows(df, todo)


def _ingested_files(ctx: SilverContext) -> dict[str, dict[str, int]]:
    """The manifest's ingested files as file kind -> {file hash: rows}, read once per run for every table."""
    with _read_once:
        if ctx.ingested_files is None:
            catalog.ensure_table(ctx.spark, ingested_files.TABLE, ctx.cfg)
            files: dict[str, dict[str, int]] = {}
            for r in (catalog.read(ctx.spark, ingested_files.TABLE).where(F.col("status") == "ingested")
                      .select("file_kind", "sha256", "rows_added").collect()):
                files.setdefault(r["file_kind"], {})[r["sha256"]] = r["rows_added"]
            ctx.ingested_files = files
    return ctx.ingested_files


def _consumed(ctx: SilverContext) -> dict[tuple[str, str], set[str]]:
    """The file hashes each silver table has consumed, as (consumer, source) -> hashes, read once per run."""
    with _read_once:
        if ctx.consumed is None:
            ctx.consumed = ops.consumed_markers_by_consumer(ctx.spark, ctx.cfg, prefix="silver.")
    return ctx.consumed
