"""Compaction of the stream tables: the small files of frequent micro-batches, merged and vacuumed on a schedule.

At 1,000 ev/s with a sub-second trigger every micro-batch appends one small file to bronze, rejected and silver
(~500-1,000 rows each: ~86,000-170,000 files per table per day), and every batch rewrites the report windows it
touched (a new file plus a tombstone per batch). Readers pay per file (open, footer, statistics), so this merges
files with ``deltalake`` (``optimize.compact``, the engine has no OPTIMIZE SQL) and removes unreferenced files
(``vacuum``).

Safe next to a running stream:
- bronze/rejected/silver only ever get blind appends from the stream: a compaction commit does not conflict with
  them (and if one loses a race it raises, is reported, and the next scheduled run does it);
- the report tables are rewritten by predicate overwrites; compacting them while the stream runs could make the
  stream's overwrite conflict and fail the batch, so they are only compacted when the stream is not running
  (``vacuum`` alone never conflicts, and it is what keeps their tombstones in check while it runs).
Exactly-once is untouched: compaction keeps the app transactions (``txn`` actions) in the log.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass

from deltalake import DeltaTable

from qlake.catalog import TableSpec
from qlake.config import Settings
from streaming import app_events
from streaming.outputs import reports
from streaming.state import running_pid

log = logging.getLogger("qlake.stream.compaction")

# Files of ~128 MB: few enough for a day of bronze, small enough to rewrite in seconds on 2 cores.
TARGET_FILE_BYTES = 128 * 1024 * 1024
# Vacuum keeps files younger than this: a reader that listed files just before a compaction can still open them.
RETENTION_HOURS = 1


@dataclass
class Compacted:
    table: str
    files_before: int
    files_after: int
    files_removed_by_vacuum: int
    compacted: bool
    seconds: float
    error: str | None = None


def append_only_tables() -> tuple[TableSpec, ...]:
    return app_events.TABLES


def report_tables() -> tuple[TableSpec, ...]:
    return tuple(report.spec for report in reports())


def compact_location(name: str, location: str, merge: bool, retention_hours: int = RETENTION_HOURS,
                     target_size: int = TARGET_FILE_BYTES) -> Compacted:
    """Merge small files (when ``merge``) and vacuum one Delta table; errors are reported, never raised."""
    started = time.monotonic()
    table = DeltaTable(location)
    before = len(table.file_uris())
    try:
        if merge and before > 1:
            table.optimize.compact(target_size=target_size)
        removed = table.vacuum(retention_hours=retention_hours, enforce_retention_duration=False, dry_run=False)
        error = None
    except Exception as exc:  # noqa: BLE001 - a lost race with a writer: the next run compacts
        removed, error = [], f"{type(exc).__name__}: {exc}"
        log.warning("%s: compaction skipped: %s", name, error)
    after = len(DeltaTable(location).file_uris())
    return Compacted(name, before, after, len(removed), merge and error is None, round(time.monotonic() - started, 3),
                     error)


def compact(settings: Settings, stream_running: bool | None = None,
            retention_hours: int = RETENTION_HOURS) -> list[dict]:
    """Compact + vacuum every stream table (report tables merged only while the stream is stopped)."""
    if stream_running is None:
        stream_running = running_pid(settings) is not None
    results = []
    for spec, merge in [(s, True) for s in append_only_tables()] + [(s, not stream_running) for s in report_tables()]:
        location = settings.table_location(spec.database, spec.table)
        results.append(asdict(compact_location(spec.name, location, merge, retention_hours)))
    return results
