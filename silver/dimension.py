"""The flow every delivered SCD2 dimension shares (branches, sales agents): new bronze rows in, staged (rename +
cast), flagged, validated by the table's GX suite, bad rows quarantined, a new version per changed attribute,
rows accounted for."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import TableSpec
from silver.accounting import Accounting, record_run
from silver.context import SilverContext
from silver.dedup import latest_per_key
from silver.incremental import new_bronze_rows
from silver.quality_gate import FlaggedBatch, check_batch, flag_batch, quarantine
from silver.scd2 import apply_scd2


@dataclass(frozen=True)
class Scd2Dimension:
    """A delivered dimension kept as SCD type 2 by delivery time (a changed attribute opens a new version)."""

    spec: TableSpec
    bronze: TableSpec
    suite: str
    key: str
    attributes: tuple[str, ...]
    surrogate_key: str
    raw_columns: tuple[str, ...]  # the delivered columns, as quarantine shows them

    @property
    def table(self) -> str:
        return self.spec.table


def stage_dimension(ctx: SilverContext, dim: Scd2Dimension, staged_of) -> FlaggedBatch:
    """New deliveries of ``dim``, staged and flagged (engine work only; :func:`finish_dimension` validates)."""
    catalog.ensure_table(ctx.spark, dim.spec, ctx.cfg)
    new = new_bronze_rows(ctx, dim.spec.name, dim.bronze)
    if new.empty:
        return FlaggedBatch(new, None)
    return FlaggedBatch(new, flag_batch(ctx, staged_of(new.df), dim.table, dim.suite))


def known_keys(ctx: SilverContext, dim: Scd2Dimension, batch: FlaggedBatch) -> dict:
    """Every key ``dim`` will hold after this run, with the delivery group from which on it holds it: 0 for a
    stored key, else the first group with a row of it that is not quarantined (1 in a run of one group)."""
    keys = catalog.read(ctx.spark, dim.spec).select(dim.key, F.lit(0).alias("_group"))
    if batch.flagged is not None:
        keys = keys.unionByName(batch.good().select(dim.key, ctx.delivery_group().alias("_group")))
    return {r[0]: r[1] for r in keys.groupBy(dim.key).agg(F.min("_group")).collect() if r[0] is not None}


def finish_dimension(ctx: SilverContext, dim: Scd2Dimension, batch: FlaggedBatch) -> Accounting:
    """Validate a staged batch of ``dim``, quarantine, add versions for changed attributes only."""
    acct = Accounting(dim.spec.name)
    if batch.flagged is None:
        return acct
    new, flagged = batch.new, batch.flagged
    good_rows, quarantined = check_batch(ctx, flagged, dim.table, dim.suite)
    acct.rows_in = sum(new.markers.values())
    acct.quarantined = quarantine(ctx, flagged, dim.table, new.df, dim.raw_columns, quarantined)
    good = batch.good()
    delivered = latest_per_key(good, [dim.key, "_source_sha256"]).select(
        dim.key, *dim.attributes, F.col("_ingested_at").alias("_effective"), "_source_file", "_row_number"
    )
    new_versions, closed = apply_scd2(ctx, dim.spec, dim.key, list(dim.attributes), dim.surrogate_key,
                                      delivered, extra=["_source_file", "_row_number"])
    acct.inserted = new_versions
    acct.conflicting_redeliveries = closed  # versions closed by a changed re-delivery
    acct.duplicates = good_rows - acct.inserted
    record_run(ctx, dim.spec.name, dim.bronze.name, new.markers, acct)
    return acct
