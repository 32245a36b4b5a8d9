"""The shape every silver table shares: new bronze rows in, staged (rename + cast), validated by its GX suite,
bad rows quarantined with the rule names, good rows written, rows accounted for.

Incremental by content: bronze is append-only and every delivered file is one hash (`_source_sha256`), so a
silver table records in ``ops.pipeline_state`` which file hashes it has consumed and reads only the others
(a literal IN-list, which lets the engine skip every other file by its statistics). Writes are MERGEs that only
touch changed rows, so re-processing the same file (after a crash between write and state) changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from qlake import catalog, ops
from qlake.catalog import TableSpec
from qlake.config import Settings
from qlake.quality import RuleResult, Validator, flag_rows, raise_for_failures

QUARANTINE_COLUMNS = (
    "failed_rules ARRAY<STRING> NOT NULL, raw_row STRING NOT NULL, _source_file STRING NOT NULL, "
    "_source_sha256 STRING NOT NULL, _row_number BIGINT NOT NULL, _batch_id STRING, run_id STRING NOT NULL, "
    "quarantined_at TIMESTAMP NOT NULL"
)


def quarantine_spec(table: str) -> TableSpec:
    return TableSpec(
        name=f"silver.quarantine_{table}",
        columns=QUARANTINE_COLUMNS,
        comment=f"rows of bronze.{table} that broke a quarantine rule, with the rules and the raw row",
    )


class AccountingError(RuntimeError):
    """Rows in did not equal rows out: something was lost or double counted. Nothing is recorded as consumed."""


@dataclass
class Accounting:
    table: str
    rows_in: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    conflicting_redeliveries: int = 0
    quarantined: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.inserted + self.updated + self.duplicates + self.quarantined

    def check(self) -> None:
        if not self.balanced:
            raise AccountingError(
                f"{self.table}: rows in ({self.rows_in}) != inserted ({self.inserted}) + updated ({self.updated}) "
                f"+ duplicates ({self.duplicates}) + quarantined ({self.quarantined})"
            )

    def line(self) -> str:
        conflicts = f", {self.conflicting_redeliveries} re-delivered with changed content" \
            if self.conflicting_redeliveries else ""
        return (f"{self.table}: {self.rows_in} in = {self.inserted} inserted + {self.updated} updated + "
                f"{self.duplicates} duplicates + {self.quarantined} quarantined{conflicts}")


@dataclass
class SilverContext:
    """What one silver run shares between its tables."""

    spark: SparkSession
    cfg: Settings
    run_id: str
    validator: Validator
    run_date: date
    now: datetime = field(default_factory=ops.utcnow)
    dq_results: list[tuple[str, RuleResult]] = field(default_factory=list)
    accounting: list[Accounting] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)

    @property
    def params(self) -> dict:
        return {"run_date": self.run_date}


@dataclass
class NewRows:
    df: DataFrame
    markers: dict[str, int]  # file hash -> rows

    @property
    def empty(self) -> bool:
        return not self.markers


def new_bronze_rows(ctx: SilverContext, consumer: str, bronze: TableSpec) -> NewRows:
    """Bronze rows of files this consumer has not processed yet."""
    catalog.ensure_table(ctx.spark, bronze, ctx.cfg)
    done = ops.consumed_markers(ctx.spark, ctx.cfg, consumer, bronze.name)
    per_file = ctx.spark.table(bronze.name).groupBy("_source_sha256").agg(F.count(F.lit(1)).alias("n")).collect()
    todo = {r["_source_sha256"]: r["n"] for r in per_file if r["_source_sha256"] not in done}
    df = ctx.spark.table(bronze.name).where(F.col("_source_sha256").isin(list(todo) or ["-"]))
    return NewRows(df, todo)


def validate(ctx: SilverContext, staged: DataFrame, table: str, suite: str) -> DataFrame:
    """Run the table's GX suite on the staged batch (stop on a broken ``fail`` rule) and flag rows per rule.

    The staged batch is materialized first: GX runs dozens of metric queries over it.
    """
    scratch = f"{ctx.run_id}/{table}"
    ctx.scratch.append(scratch)
    staged = catalog.materialize(ctx.spark, staged, ctx.cfg, scratch)
    results = ctx.validator.validate(staged, suite, ctx.run_id, ctx.params)
    ctx.dq_results.extend((table, r) for r in results)
    raise_for_failures(table, results)
    return flag_rows(staged, ctx.validator.rules(suite), ctx.params)


def is_quarantined() -> Column:
    return F.size("_failed_rules") > 0


def raw_struct(bronze: DataFrame, columns: tuple[str, ...]) -> Column:
    """The delivered row, kept beside the typed columns so a quarantined row carries what was delivered."""
    return F.struct(*[F.col(f"`{c}`") for c in columns]).alias("_raw")


LINEAGE = ("_source_file", "_source_sha256", "_row_number", "_batch_id", "_ingested_at")


def quarantine(ctx: SilverContext, flagged: DataFrame, table: str) -> int:
    """Write rows that broke a quarantine rule (idempotent per source file + row) and return their count."""
    bad = flagged.where(is_quarantined())
    count = bad.count()
    if count:
        rows = bad.select(
            F.col("_failed_rules").alias("failed_rules"),
            F.to_json(F.col("_raw")).alias("raw_row"),
            "_source_file",
            "_source_sha256",
            "_row_number",
            "_batch_id",
            F.lit(ctx.run_id).alias("run_id"),
            F.lit(ctx.now).cast("timestamp").alias("quarantined_at"),
        )
        catalog.merge(ctx.spark, rows, quarantine_spec(table), keys=["_source_sha256", "_row_number"],
                      cfg=ctx.cfg, update_when_changed=["failed_rules"])
    return count


def latest_per_key(df: DataFrame, keys: list[str]) -> DataFrame:
    """One row per key: the latest delivery wins (ingest time, then file, then row within the file)."""
    latest_first = Window.partitionBy(*keys).orderBy(
        F.col("_ingested_at").desc(), F.col("_source_file").desc(), F.col("_row_number").desc()
    )
    return df.withColumn("_rank", F.row_number().over(latest_first)).where(F.col("_rank") == 1).drop("_rank")


def scd2_versions(observations: DataFrame, keys: list[str], attributes: list[str], effective: str,
                  order_tiebreak: list[str], floor: datetime | date | None = None) -> DataFrame:
    """Type-2 history from observations of (keys, attributes) at ``effective`` times.

    Consecutive observations with the same attributes collapse into one version; a version lasts until the
    next one starts (``valid_to`` exclusive, NULL while current). With ``floor``, a key's first version is valid
    from then, so facts older than the first delivery still find a version.
    """
    by_time = Window.partitionBy(*keys).orderBy(F.col(effective), *[F.col(c) for c in order_tiebreak])
    hashed = observations.withColumn(
        "_attr_hash", F.sha2(F.to_json(F.struct(*[F.col(c) for c in attributes])), 256)
    ).withColumn("_prev_hash", F.lag("_attr_hash").over(by_time))
    starts = hashed.where(F.col("_prev_hash").isNull() | (F.col("_prev_hash") != F.col("_attr_hash")))
    by_start = Window.partitionBy(*keys).orderBy(F.col(effective), *[F.col(c) for c in order_tiebreak])
    versions = (
        starts.withColumn("valid_to", F.lead(effective).over(by_start))
        .withColumn("_version", F.row_number().over(by_start))
        .withColumn("valid_from", F.col(effective))
    )
    if floor is not None:
        versions = versions.withColumn(
            "valid_from", F.when(F.col("_version") == 1, F.lit(floor).cast(versions.schema[effective].dataType))
            .otherwise(F.col("valid_from"))
        )
    return versions.withColumn("is_current", F.col("valid_to").isNull()).drop("_prev_hash")


def record_run(ctx: SilverContext, consumer: str, source: str, markers: dict[str, int], acct: Accounting) -> None:
    """Check the accounting, then store it and the consumed file hashes (only after the data is written)."""
    acct.check()
    ctx.accounting.append(acct)
    ops.append_rows(
        ctx.spark, ctx.cfg, ops.ROW_ACCOUNTING,
        [{
            "run_id": ctx.run_id, "table_name": acct.table, "rows_in": acct.rows_in, "inserted": acct.inserted,
            "updated": acct.updated, "duplicates": acct.duplicates,
            "conflicting_redeliveries": acct.conflicting_redeliveries, "quarantined": acct.quarantined,
            "balanced": acct.balanced, "recorded_at": ctx.now,
        }],
        "run_id string, table_name string, rows_in bigint, inserted bigint, updated bigint, duplicates bigint, "
        "conflicting_redeliveries bigint, quarantined bigint, balanced boolean, recorded_at timestamp",
    )
    ops.record_markers(ctx.spark, ctx.cfg, consumer, source, markers, ctx.run_id)


@dataclass(frozen=True)
class Scd2Dimension:
    """A delivered dimension kept as SCD type 2 by delivery time (a changed attribute opens a new version)."""

    spec: TableSpec
    bronze: TableSpec
    suite: str
    key: str
    attributes: tuple[str, ...]
    surrogate_key: str

    @property
    def table(self) -> str:
        return self.spec.table


# A member's first version is valid from here, so facts dated before its first delivery still find it.
BEGINNING_OF_TIME = datetime(1900, 1, 1)


def run_scd2_dimension(ctx: SilverContext, dim: Scd2Dimension, staged_of) -> Accounting:
    """Process new deliveries of ``dim``: validate, quarantine, add versions for changed attributes only."""
    catalog.ensure_table(ctx.spark, dim.spec, ctx.cfg)
    new = new_bronze_rows(ctx, dim.spec.name, dim.bronze)
    acct = Accounting(dim.spec.name)
    if new.empty:
        return acct
    flagged = validate(ctx, staged_of(new.df), dim.table, dim.suite)
    acct.rows_in = sum(new.markers.values())
    acct.quarantined = quarantine(ctx, flagged, dim.table)
    lineage = ["_source_file", "_row_number"]
    good = flagged.where(~is_quarantined())
    good_rows = good.count()
    delivered = latest_per_key(good, [dim.key, "_source_sha256"]).select(
        dim.key, *dim.attributes, F.col("_ingested_at").alias("_effective"), *lineage
    )
    existing = ctx.spark.table(dim.spec.name)
    known = existing.select(dim.key, *dim.attributes, F.col("valid_from").alias("_effective"), *lineage)
    versions = scd2_versions(known.unionByName(delivered), [dim.key], list(dim.attributes), "_effective",
                             ["_source_file", "_row_number"], floor=BEGINNING_OF_TIME)
    now = F.lit(ctx.now).cast("timestamp")
    table = versions.select(
        F.xxhash64(F.col(dim.key), F.col("valid_from")).alias(dim.surrogate_key),
        dim.key, *dim.attributes, "valid_from", "valid_to", "is_current", *lineage,
        now.alias("_updated_at"),
    )
    compare = [dim.surrogate_key, "valid_to", "is_current"]
    new_versions = table.join(existing.select(dim.surrogate_key), on=dim.surrogate_key, how="left_anti").count()
    changed = table.select(*compare).exceptAll(existing.select(*compare)).count()
    if changed:
        catalog.overwrite(ctx.spark, table, dim.spec, ctx.cfg)
    acct.inserted = new_versions
    acct.conflicting_redeliveries = changed - new_versions  # versions closed by a changed re-delivery
    acct.duplicates = good_rows - acct.inserted
    record_run(ctx, dim.spec.name, dim.bronze.name, new.markers, acct)
    return acct
