"""Operational tables every layer writes: processing state, data-quality results, row accounting, job runs."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import TableSpec
from qlake.config import Settings

PIPELINE_STATE = TableSpec(
    name="ops.pipeline_state",
    columns=(
        "consumer STRING NOT NULL, source STRING NOT NULL, marker STRING NOT NULL, rows BIGINT, "
        "run_id STRING NOT NULL, recorded_at TIMESTAMP NOT NULL"
    ),
    comment="what each incremental job has consumed: a bronze file hash or a silver watermark per row",
)

DQ_RESULTS = TableSpec(
    name="ops.dq_results",
    columns=(
        "run_id STRING NOT NULL, table_name STRING NOT NULL, rule STRING NOT NULL, action STRING NOT NULL, "
        "expectation_type STRING, column_name STRING, evaluated BIGINT, failed BIGINT, success BOOLEAN, "
        "examples STRING, checked_at TIMESTAMP NOT NULL"
    ),
    comment="per-rule data-quality counts of every run",
)

ROW_ACCOUNTING = TableSpec(
    name="ops.row_accounting",
    columns=(
        "run_id STRING NOT NULL, table_name STRING NOT NULL, rows_in BIGINT, inserted BIGINT, updated BIGINT, "
        "duplicates BIGINT, conflicting_redeliveries BIGINT, quarantined BIGINT, balanced BOOLEAN, "
        "recorded_at TIMESTAMP NOT NULL"
    ),
    comment="rows in = inserted + updated + duplicates + quarantined, per table and run",
)


def new_run_id(job: str) -> str:
    return f"{job}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def consumed_markers(spark: SparkSession, cfg: Settings, consumer: str, source: str) -> set[str]:
    catalog.ensure_table(spark, PIPELINE_STATE, cfg)
    rows = (
        catalog.read(spark, PIPELINE_STATE)
        .where((F.col("consumer") == consumer) & (F.col("source") == source))
        .select("marker")
        .distinct()
        .collect()
    )
    return {r.marker for r in rows}


def consumed_markers_by_consumer(spark: SparkSession, cfg: Settings, prefix: str) -> dict[tuple[str, str], set[str]]:
    """Every consumer's markers whose name starts with ``prefix``, as (consumer, source) -> markers: one query
    for a job whose tables each ask :func:`consumed_markers`."""
    catalog.ensure_table(spark, PIPELINE_STATE, cfg)
    rows = (
        catalog.read(spark, PIPELINE_STATE)
        .where(F.col("consumer").startswith(prefix))
        .select("consumer", "source", "marker")
        .distinct()
        .collect()
    )
    markers: dict[tuple[str, str], set[str]] = {}
    for r in rows:
        markers.setdefault((r.consumer, r.source), set()).add(r.marker)
    return markers


def record_markers(spark: SparkSession, cfg: Settings, consumer: str, source: str, markers: dict[str, int],
                   run_id: str) -> None:
    record_markers_of(spark, cfg, [(consumer, source, markers)], run_id)


def record_markers_of(spark: SparkSession, cfg: Settings, consumed: list[tuple[str, str, dict[str, int]]],
                      run_id: str) -> None:
    """Several consumers' markers (consumer, source, {marker: rows}) in one commit."""
    now = utcnow()
    rows = [(consumer, source, m, n, run_id, now) for consumer, source, markers in consumed for m, n in markers.items()]
    if rows:
        catalog.append(spark, spark.createDataFrame(rows, PIPELINE_STATE.row_struct()), PIPELINE_STATE, cfg)


def append_rows(spark: SparkSession, cfg: Settings, spec: TableSpec, rows: list[dict]) -> None:
    if rows:
        catalog.append(spark, spark.createDataFrame(rows, spec.row_struct()), spec, cfg)
