"""Delta maintenance through ``deltalake`` (Sail has no OPTIMIZE/VACUUM SQL): the hourly job's cheap tidy and
the daily job's full compaction and vacuum."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from qlake import storage
from qlake.config import Settings


def tidy(cfg: Settings, tables: list[str], max_files: int = 8, max_commits: int = 50) -> list[str]:
    """Keep hourly writes from piling up: compact a table once one of its partitions holds more than
    ``max_files`` data files, and checkpoint its log past ``max_commits`` commits since the last checkpoint.
    Decided from the Delta log alone, so cheap when nothing is due; `run daily` still does the full compaction
    and vacuum.

    Every hour adds a file or more to each table it writes, and each file costs every later read of the table,
    whatever its size: with a limit of 64 files a table, hours 18-24 of a day of 20,000-row hours took 4.6-6.0 s
    against 3.8-4.3 s for hours 2-4 (a fresh process on that lake as slow); with 8 a partition, 3.5-3.9 s, and
    an hour that compacts ~0.7 s more (2026-12-07, README "Performance"). Where it can, a compaction merges only
    the hours' small files (:func:`_small_files_target`): hour 24's took 0.60 s instead of 0.99 s.
    """
    # Each table's log is read apart, on threads (deltalake reads it outside the interpreter lock): ~15 tables
    # an hour took 80 ms one after another, 39 ms side by side (2026-12-07).
    with ThreadPoolExecutor(max_workers=4) as pool:
        return [line for lines in pool.map(partial(_tidy_table, cfg, max_files, max_commits), tables)
                for line in lines]


def _tidy_table(cfg: Settings, max_files: int, max_commits: int, table: str) -> list[str]:
    done = []
    try:
        dt = DeltaTable(cfg.table_location(*table.split(".")))
    except TableNotFoundError:
        return done
    try:
        files = storage.file_actions(dt)
        if _most_files_in_a_partition(files) > max_files:
            dt.optimize.compact(target_size=_small_files_target(files))
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
    return _most_files_in_a_partition(storage.file_actions(dt))


def _partitions(files: pa.Table) -> list[list[int]]:
    """Each partition's file sizes (the whole table's, if it is not partitioned)."""
    keys = [name for name in files.column_names if name.startswith("partition.")]
    if not keys:
        return [files["size_bytes"].to_pylist()] if files.num_rows else []
    grouped = files.group_by(keys).aggregate([("size_bytes", "list")])
    return grouped["size_bytes_list"].to_pylist()


def _most_files_in_a_partition(files: pa.Table) -> int:
    return max((len(sizes) for sizes in _partitions(files)), default=0)


def _small_files_target(files: pa.Table) -> int | None:
    """The compaction's target file size: the hourly files merged, the partitions' compacted files left alone.

    deltalake merges files up to ``target_size`` and skips larger ones. When every partition's small files
    (all but its largest) add up to less than each partition's largest file, a target between the two merges
    only the small ones: an hour that compacts then rewrites the rows added since the last compaction, not the
    partition (a month of sales, a dimension) again; `run daily` still compacts everything. Otherwise None:
    deltalake's default, everything merged.
    """
    partitions = [sorted(sizes) for sizes in _partitions(files) if len(sizes) > 1]
    if not partitions:
        return None
    small = max(sum(sizes[:-1]) for sizes in partitions)
    largest = min(sizes[-1] for sizes in partitions)
    return small if small < largest else None


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
