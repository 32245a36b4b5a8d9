"""SCD type 2 history: observations of a key's attributes collapse into versions with ``valid_from``/``valid_to``,
and a batch of deliveries touches only the current versions of the keys it delivers."""

from __future__ import annotations

from datetime import date, datetime

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from qlake import catalog, scratch
from qlake.catalog import TableSpec
from silver.cleaning import row_hash
from silver.context import SilverContext

# A member's first version is valid from here, so facts dated before its first delivery still find it.
BEGINNING_OF_TIME = datetime(1900, 1, 1)


def scd2_versions(observations: DataFrame, keys: list[str], attributes: list[str], effective: str,
                  order_tiebreak: list, floor: datetime | date | None = None) -> DataFrame:
    """Type-2 history from observations of (keys, attributes) at ``effective`` times.

    Consecutive observations with the same attributes collapse into one version; a version lasts until the
    next one starts (``valid_to`` exclusive, NULL while current). With ``floor``, a *new* key's first version
    is valid from then, so facts older than its first delivery still find it; an observation flagged
    ``_is_stored`` (a version already in the table; the observations must have that column) keeps its own
    ``valid_from``. Built without asking the engine for a schema (each ask is a round trip).
    """
    by_time = Window.partitionBy(*keys).orderBy(
        F.col(effective), *[F.col(c) if isinstance(c, str) else c for c in order_tiebreak]
    )
    hashed = observations.withColumn("_attr_hash", row_hash(attributes)).withColumn(
        "_prev_hash", F.lag("_attr_hash").over(by_time))
    starts = hashed.where(F.col("_prev_hash").isNull() | (F.col("_prev_hash") != F.col("_attr_hash")))
    versions = (
        starts.withColumn("valid_to", F.lead(effective).over(by_time))
        .withColumn("_version", F.row_number().over(by_time))
        .withColumn("valid_from", F.col(effective))
    )
    if floor is not None:
        stored = F.coalesce(F.col("_is_stored"), F.lit(False))
        floor_type = "timestamp" if isinstance(floor, datetime) else "date"
        versions = versions.withColumn(
            "valid_from",
            F.when((F.col("_version") == 1) & ~stored, F.lit(floor).cast(floor_type))
            .otherwise(F.col("valid_from")),
        )
    return versions.withColumn("is_current", F.col("valid_to").isNull()).drop("_prev_hash")


def apply_scd2(ctx: SilverContext, spec: TableSpec, key: str, attributes: list[str], surrogate_key: str,
               delivered: DataFrame, extra: list[str] | None = None) -> tuple[int, int]:
    """Add delivered observations to an SCD2 table; returns (new versions, versions closed).

    Only current rows take part: each touched key's current version plus its new observations (one per
    delivery, ``_effective`` = delivery time) are collapsed into versions. One atomic upsert on the surrogate key
    (:func:`qlake.catalog.merge`) then closes the old current row and inserts the new ones in one commit.
    """
    extra = extra or []
    current = catalog.read(ctx.spark, spec).where(F.col("is_current")).join(
        delivered.select(key).distinct(), on=key, how="left_semi"
    )
    observations = current.select(
        key, *attributes, F.col("valid_from").alias("_effective"), *extra, F.lit(True).alias("_is_stored")
    ).unionByName(delivered.select(key, *attributes, "_effective", *extra, F.lit(False).alias("_is_stored")))
    # On a tie (the same delivery processed again after a crash) the stored version comes first and absorbs it.
    versions = scd2_versions(observations, [key], attributes, "_effective", [F.col("_is_stored").desc(), *extra],
                             floor=BEGINNING_OF_TIME)
    rows = versions.select(
        F.xxhash64(F.col(key), F.col("valid_from")).alias(surrogate_key),
        key, *attributes, "valid_from", "valid_to", "is_current", *extra,
        F.lit(ctx.now).cast("timestamp").alias("_updated_at"),
    )
    # Written once: the counts and the write read it, and it must not change when the write commits.
    name = f"{ctx.run_id}/{spec.table}_versions"
    ctx.scratch.append(name)
    rows = scratch.materialize(ctx.spark, rows, ctx.cfg, name)
    new_rows = rows.join(catalog.read(ctx.spark, spec).select(surrogate_key), on=surrogate_key, how="left_anti")
    # Keys with a new version change together (their stored current version closed, the new ones opened) in one
    # commit; only those keys take part. The upsert's look counts both: a stored version it updates is one this
    # run closes (its valid_to is set now), a row it inserts is a new version.
    changed = rows.join(new_rows.select(key).distinct(), on=key, how="left_semi")
    upserted = catalog.merge(ctx.spark, changed, spec, keys=[surrogate_key], cfg=ctx.cfg,
                             update_when_changed=["valid_to", "is_current"], atomic=True)
    # Into a table this run created empty every version is new (``changed`` would be read after the write).
    closed, new_versions = upserted if upserted is not None else (0, rows.count())
    return new_versions, closed
