"""A Spark Python data source that reads a Delta table's *current* snapshot through ``deltalake``.

Classic Spark here has no Delta reader, and reading a Delta folder as plain Parquet returns stale rows (files
that MERGE/overwrite removed are still on disk). This reader asks the Delta log for the live files at every
query, one input partition per file, adds partition values (Delta keeps them in the log, not in the files) and
yields Arrow batches in the exact schema Spark expects.

Spark passes no options to a Python source used as a catalog table provider, so :func:`source_for` builds one
small source class per table, named after it, with the table's location baked in. A query's table options do
reach it: ``FROM gold.fact_sales WITH ('version' = '3')`` or ``WITH ('timestamp' = '2026-01-01 00:00:00')`` read
that snapshot (time travel over HiveServer2, where Spark refuses ``VERSION AS OF`` on a data-source table).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable
from pyspark.sql.datasource import DataSource, DataSourceReader, InputPartition


def spark_type(t: pa.DataType) -> str:
    """Spark SQL type (DDL) of an Arrow type from a Delta schema."""
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return "STRING"
    if pa.types.is_boolean(t):
        return "BOOLEAN"
    if pa.types.is_int8(t):
        return "TINYINT"
    if pa.types.is_int16(t):
        return "SMALLINT"
    if pa.types.is_int32(t):
        return "INT"
    if pa.types.is_int64(t):
        return "BIGINT"
    if pa.types.is_float32(t):
        return "FLOAT"
    if pa.types.is_float64(t):
        return "DOUBLE"
    if pa.types.is_decimal(t):
        return f"DECIMAL({t.precision},{t.scale})"
    if pa.types.is_date(t):
        return "DATE"
    if pa.types.is_timestamp(t):
        return "TIMESTAMP" if t.tz else "TIMESTAMP_NTZ"
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return "BINARY"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return f"ARRAY<{spark_type(t.value_type)}>"
    if pa.types.is_map(t):
        return f"MAP<{spark_type(t.key_type)},{spark_type(t.item_type)}>"
    if pa.types.is_struct(t):
        return "STRUCT<" + ",".join(f"`{f.name}`:{spark_type(f.type)}" for f in t) + ">"
    raise TypeError(f"no Spark type for Arrow type {t}")


def _spark_arrow_type(t: pa.DataType) -> pa.DataType:
    """The Arrow type Spark expects back for a column (UTC timestamps, nullable children)."""
    if pa.types.is_timestamp(t):
        return pa.timestamp("us", tz="UTC") if t.tz else pa.timestamp("us")
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_binary(t):
        return pa.binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return pa.list_(pa.field("element", _spark_arrow_type(t.value_type), True))
    if pa.types.is_map(t):
        return pa.map_(_spark_arrow_type(t.key_type), _spark_arrow_type(t.item_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _spark_arrow_type(f.type), True) for f in t])
    return t


def delta_arrow_schema(location: str, version: int | None = None) -> pa.Schema:
    return pa.schema(DeltaTable(location, version=version).schema().to_arrow())


def ddl_of(schema: pa.Schema) -> str:
    return ", ".join(f"`{f.name}` {spark_type(f.type)}" for f in schema)


def output_schema(schema: pa.Schema) -> pa.Schema:
    # Spark compares nullability too: every column is nullable on its side.
    return pa.schema([pa.field(f.name, _spark_arrow_type(f.type), True) for f in schema])


class DeltaFile(InputPartition):
    """One input partition: a run of live files (uri, partition values) read by one Python task."""

    def __init__(self, files: list[tuple[str, dict]]):
        self.files = files


# Files are packed into input partitions of about this many bytes: each partition is a Python task with a fixed
# scheduling cost, so the fact's 24 month files of ~10 KB read as one task, not 24.
PARTITION_BYTES = 64 * 1024 * 1024


SNAPSHOT_OPTIONS = ("version", "timestamp")


def open_snapshot(location: str, version: str | None = None, timestamp: str | None = None):
    """The Delta table at ``location``: its current snapshot, or the one a version / timestamp names (a timestamp
    without zone is UTC, the sessions' zone)."""
    if version is not None:
        return DeltaTable(location, version=int(version))
    table = DeltaTable(location)
    if timestamp is not None:
        at = datetime.fromisoformat(timestamp.strip())
        table.load_as_version(at if at.tzinfo else at.replace(tzinfo=timezone.utc))
    return table


class DeltaSnapshotReader(DataSourceReader):
    def __init__(self, location: str, schema: pa.Schema, snapshot: dict | None = None):
        self.location = location
        self.arrow_schema = schema
        self.snapshot = snapshot or {}

    def partitions(self):
        table = open_snapshot(self.location, **self.snapshot)
        actions = pa.table(table.get_add_actions(flatten=True))
        uris = table.file_uris()
        by_name = {u.rsplit("/", 1)[-1]: u for u in uris}
        parts, run, run_bytes = [], [], 0
        for row in actions.to_pylist():
            values = {k[len("partition."):]: v for k, v in row.items() if k.startswith("partition.")}
            run.append((by_name.get(row["path"].rsplit("/", 1)[-1], row["path"]), values))
            run_bytes += row.get("size_bytes") or 0
            if run_bytes >= PARTITION_BYTES:
                parts.append(DeltaFile(run))
                run, run_bytes = [], 0
        if run or not parts:
            parts.append(DeltaFile(run))
        return parts

    def read(self, partition: DeltaFile):
        target = output_schema(self.arrow_schema)
        for uri, partition_values in partition.files:
            data = pq.read_table(uri)
            columns = []
            for field in target:
                if field.name in data.column_names:
                    column = data.column(field.name)
                else:  # a partition column (or one added later by schema evolution)
                    column = pa.array([partition_values.get(field.name)] * data.num_rows)
                columns.append(column.cast(field.type))
            yield from pa.Table.from_arrays(columns, schema=target).to_batches(max_chunksize=65536)


def source_name(table: str) -> str:
    return "qlake_" + re.sub(r"[^a-z0-9_]", "_", table.lower())


def source_for(table: str, location: str, version: int | None = None) -> type[DataSource]:
    """A DataSource class for one Delta table, named ``qlake_<db>_<table>``; with ``version``, for that snapshot
    only (``..._v<N>``, its own class: Spark reuses one source per table within a statement, so two snapshots
    of a table in one statement need two sources)."""
    name = source_name(table) + ("" if version is None else f"_v{version}")
    arrow_schema = delta_arrow_schema(location, version)
    ddl = ddl_of(arrow_schema)
    pinned = {} if version is None else {"version": str(version)}

    class TableSource(DataSource):
        @classmethod
        def name(cls) -> str:
            return name

        def schema(self) -> str:
            return ddl

        def reader(self, schema):  # noqa: ARG002 - Spark passes it by keyword
            options = {k.lower(): v for k, v in self.options.items()}
            unknown = sorted(set(options) - set(SNAPSHOT_OPTIONS) - {"path"})
            if unknown:
                raise ValueError(f"{table}: unknown table option(s) {unknown}; this table takes "
                                 f"'version' or 'timestamp' (time travel)")
            return DeltaSnapshotReader(location, arrow_schema,
                                       pinned or {k: options[k] for k in SNAPSHOT_OPTIONS if k in options})

    TableSource.__name__ = TableSource.__qualname__ = f"DeltaSource_{name}"
    return TableSource
