"""Scratch results: an intermediate DataFrame written once to a Delta folder under ``scratch/`` and read back.

For a batch that many queries read (the gate's counts, GX's dozens of metrics, a MERGE's source), so the engine
does not recompute the whole staging plan from bronze for each; Sail has no ``persist()``. Folders are per name:
the caller passes a run-unique name and removes it with :func:`drop`.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from qlake import storage
from qlake.config import Settings


def path(cfg: Settings, name: str) -> str:
    """Where the scratch result ``name`` is written."""
    return cfg.path("scratch", name)


def materialize(spark: SparkSession, df: DataFrame, cfg: Settings, name: str,
                partition_by: list[str] | None = None) -> DataFrame:
    """Write ``df`` to the scratch folder ``name`` (replacing what was there) and return it read back."""
    location = path(cfg, name)
    writer = df.write.format("delta").mode("overwrite")
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    writer.save(location)
    return spark.read.format("delta").load(location)


def drop(cfg: Settings, name: str) -> None:
    """Remove the scratch folder ``name`` and everything under it."""
    storage.remove_dir(path(cfg, name))
