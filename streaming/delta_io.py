"""Exactly-once Delta writes for micro-batches, through ``deltalake`` (the classic engine has no Delta jars).

Every commit carries an app transaction ``(app_id = streaming query id, version = batch id)``. Before writing, the
table's recorded version for that app id is checked: if it is already >= the batch id, this batch reached this
table before a crash/restart and the write is skipped. Each table is guarded on its own, so a batch that died after
bronze but before silver is completed on replay without writing bronze twice. Spark replays a batch with exactly
the offsets in its checkpointed offset log, so the replayed content is the same.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import CommitProperties, DeltaTable, Transaction, write_deltalake
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from qlake import storage
from qlake.catalog import TableSpec
from qlake.config import Settings


@functools.lru_cache(maxsize=None)
def arrow_schema(columns_ddl: str) -> pa.Schema:
    """The Arrow schema of a table from its column DDL (the one contract for both Spark and deltalake)."""
    struct = T._parse_datatype_string(columns_ddl)
    return to_arrow_schema(struct, timezone="UTC")


def spec_schema(spec: TableSpec) -> pa.Schema:
    return arrow_schema(spec.columns)


def conform_arrow(table: pa.Table, spec: TableSpec) -> pa.Table:
    """Columns in table order, cast to the table's exact Arrow types (fails loudly on a contract break)."""
    schema = spec_schema(spec)
    return table.select(schema.names).cast(schema)


# A live stream commits to each of its tables about twice a second: 172,800 commit files a day per table. A
# deltalake commit costs ~10 µs more per file in _delta_log (bench/stream_compaction.py: 73 vs 60 ms an append
# after 1,500 commits, with 1,500 vs 204 commit files), so with Delta's default 30-day log retention the stream
# would slow down hour by hour (~+1.7 s a commit after a day). Kept for 5 minutes (~600 commits), the log stays
# bounded: deltalake removes the expired commit files whenever it writes a checkpoint (every 100 commits).
# Readers start from the newest checkpoint, and time travel reaches back 5 minutes (bronze keeps every event; the
# stream's vacuum keeps replaced files for an hour).
STREAM_TABLE_PROPERTIES = {"delta.logRetentionDuration": "interval 5 minutes"}


def keep_log_bounded(location: str) -> bool:
    """Give a stream table :data:`STREAM_TABLE_PROPERTIES` unless it has them (one metadata commit, once); True
    when the table was changed."""
    table = DeltaTable(location)
    configuration = table.metadata().configuration
    if all(configuration.get(key) == value for key, value in STREAM_TABLE_PROPERTIES.items()):
        return False
    table.alter.set_table_properties(STREAM_TABLE_PROPERTIES)
    return True


def open_table(settings: Settings, spec: TableSpec) -> DeltaTable:
    return DeltaTable(settings.table_location(spec.database, spec.table))


class OpenTables:
    """The stream's tables, each opened once and brought up to date before each use: opening one replays its
    Delta log (10-20 ms, growing with the commits since the last checkpoint), bringing it up to date reads only
    the new commits (~1 ms). One per writer; a table is used by one thread at a time."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._open: dict[str, DeltaTable] = {}

    def get(self, spec: TableSpec) -> DeltaTable:
        table = self._open.get(spec.name)
        if table is None:
            table = self._open[spec.name] = open_table(self.settings, spec)
        else:
            table.update_incremental()
        return table


def applied_version(table: DeltaTable, app_id: str) -> int | None:
    return table.transaction_version(app_id)


def already_applied(table: DeltaTable, app_id: str, batch_id: int) -> bool:
    done = applied_version(table, app_id)
    return done is not None and done >= batch_id


def _commit(app_id: str, batch_id: int, operation: str) -> CommitProperties:
    return CommitProperties(
        app_transactions=[Transaction(app_id=app_id, version=batch_id, last_updated=_now_ms())],
        custom_metadata={"qlake.stream.batch": str(batch_id), "qlake.stream.operation": operation},
    )


def _now_ms() -> int:
    return int(datetime.now().timestamp() * 1000)


def append_once(table: DeltaTable, spec: TableSpec, data: pa.Table, app_id: str, batch_id: int) -> bool:
    """Append ``data`` to ``table`` (``spec``'s, up to date) unless this batch is already in it; True when a commit
    was made."""
    if already_applied(table, app_id, batch_id):
        return False
    write_deltalake(
        table,
        conform_arrow(data, spec),
        mode="append",
        commit_properties=_commit(app_id, batch_id, "append"),
    )
    return True


def replace_once(
    table: DeltaTable,
    spec: TableSpec,
    column: str,
    values: list,
    rows: pa.Table,
    app_id: str,
    batch_id: int,
) -> bool:
    """Replace every row whose ``column`` is in ``values`` by ``rows`` in one commit, once per batch.

    A predicate overwrite rather than deltalake's MERGE: MERGE writes strings as Arrow ``string_view``, which Sail
    0.7.2 cannot read back (``Cannot cast column ... from 'Utf8View' (physical) to 'Utf8' (logical)``).
    ``rows`` must be the complete new content of those windows (see ``windows.apply``).
    """
    if already_applied(table, app_id, batch_id):
        return False
    predicate = f"{column} IN ({', '.join(_sql_literal(v) for v in values)})"
    write_deltalake(
        table,
        conform_arrow(rows, spec),
        mode="overwrite",
        predicate=predicate,
        commit_properties=_commit(app_id, batch_id, "replace windows"),
    )
    return True


def _sql_literal(value) -> str:
    if isinstance(value, datetime):
        return f"'{value.astimezone(timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def read_rows(table: DeltaTable, spec: TableSpec, column: str, values: list) -> pa.Table:
    """Current rows whose ``column`` is in ``values`` (file statistics prune the rest)."""
    schema = spec_schema(spec)
    if not values:
        return schema.empty_table()
    wanted = pa.array(values, type=schema.field(column).type)
    found = storage.read_delta(table, filter=ds.field(column).isin(wanted))
    return conform_arrow(found, spec) if found.num_rows else schema.empty_table()


__all__ = [
    "already_applied",
    "append_once",
    "applied_version",
    "arrow_schema",
    "conform_arrow",
    "keep_log_bounded",
    "replace_once",
    "open_table",
    "OpenTables",
    "read_rows",
    "spec_schema",
]
