"""Delta maintenance through ``deltalake`` (Sail has no OPTIMIZE/VACUUM SQL): the hourly job's cheap tidy and
the daily job's full compaction and vacuum."""

from __future__ import annotations

import json

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from qlake.config import Settings


def tidy(cfg: Settings, tables: list[str], max_files: int = 8, max_commits: int = 50) -> list[str]:
    """Keep hourly writes from piling up: compact a table once one of its partitions holds more than
    ``max_files`` data files, and checkpoint its log past ``max_commits`` commits since the last checkpoint.
    Decided from the Delta log alone, so cheap when nothing is due; `run daily` still does the full compaction
    and vacuum.

    Every hour adds a file or more to each table it writes, and each file costs every later read of the table,
    whatever its size: with a limit of 64 files a table, hours 18-24 of a day of 20,000-row hours took 4.6-6.0 s
    against 3.8-4.3 s for hours 2-4 (a fresh process on that lake as slow); with 8 a partition, 3.5-3.9 s, and
    an hour that compacts ~0.7 s more (2026-12-07, README "Performance").
    """
    done = []
    for table in tables:
        try:
            dt = DeltaTable(cfg.table_location(*table.split(".")))
        except TableNotFoundError:
            continue
        try:
            if most_files_in_a_partition(dt) > max_files:
                dt.optimize.compact()
                done.append(f"{table}: compacted")
                dt = DeltaTable(cfg.table_location(*table.split(".")))
            if dt.version() - _last_checkpoint_version(cfg, table) > max_commits:
                dt.create_checkpoint()
                done.append(f"{table}: checkpointed")
        except Exception as exc:  # noqa: BLE001 - best effort (e.g. a concurrent writer won): next hour retries
            done.append(f"{table}: maintenance skipped ({type(exc).__name__}: {str(exc)[:120]})")
    return done


def most_files_in_a_partition(dt: DeltaTable) -> int:
    """The data files of the table's fullest partition (of the table, if it is not partitioned), from its log.
    Compaction only merges files within a partition: a table with one file per month has nothing to merge."""
    files = pa.table(dt.get_add_actions(flatten=True))  # deltalake hands out an arro3 table
    keys = [name for name in files.column_names if name.startswith("partition.")]
    if not keys:
        return files.num_rows
    return max(files.group_by(keys).aggregate([("path", "count")])["path_count"].to_pylist(), default=0)


def _last_checkpoint_version(cfg: Settings, table: str) -> int:

    path = f"{cfg.table_location(*table.split('.'))}/_delta_log/_last_checkpoint"
    if cfg.is_local:
        try:
            with open(path) as f:
                return int(json.load(f)["version"])
        except (OSError, ValueError, KeyError):
            return -1
    return -1  # pragma: no cover - remote logs are checkpointed by `run daily`


def maintain(cfg: Settings, table: str, retention_hours: int = 168) -> dict:
    """Compact small files and vacuum files older than the retention (Sail has no OPTIMIZE/VACUUM SQL)."""
    db, name = table.split(".")
    try:
        dt = DeltaTable(cfg.table_location(db, name))
    except TableNotFoundError:
        return {"table": table, "skipped": "no Delta table at its location"}
    compacted = dt.optimize.compact()
    removed = dt.vacuum(retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False)
    return {
        "table": table,
        "files_added": compacted.get("numFilesAdded", 0),
        "files_removed": compacted.get("numFilesRemoved", 0),
        "vacuumed_files": len(removed),
    }
