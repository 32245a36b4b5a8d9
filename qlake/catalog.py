"""Delta tables registered in the Hive metastore: create once, then append / MERGE / INSERT OVERWRITE.

Every table lives at ``Settings.table_location(db, table)`` and is registered with ``CREATE TABLE ... USING delta
LOCATION``, so Spark SQL finds it by name and ``deltalake`` (history, compaction, vacuum, the HiveServer2 reader)
finds it by path. Sail with a Hive catalog supports no REPLACE / ``mode("overwrite")`` on catalog tables, hence the
create-once rule.

The jobs read (:func:`read`) and write their tables at that location, not by name: on Sail each table named in a
query is a metastore look-up (2026-12-07: 13-31 ms by name, 5-13 ms at its location; an hour's requests 4.5 s
against 6.6-7.0 s). The metastore stays the registry analysts query by name: :func:`ensure_table` registers a
table before its first write; which tables it holds is asked once per database and process (:func:`_learn`).
"""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from qlake import metastore_api, storage
from qlake.catalog_state import CatalogState
from qlake.config import LAYERS, Settings, settings as load_settings
from qlake.metastore_api import retry_metastore
from qlake.spark import side_by_side

_NAME = re.compile(r"^[a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*$")
_NOT_NULL = re.compile(r"\s+NOT\s+NULL\b", re.IGNORECASE)


@dataclass(frozen=True)
class TableSpec:
    """A table's contract: its name, column DDL (the schema) and partition columns.

    ``update_interval``: how often the table is expected to get a new Delta commit (`qlake status` calls it stale
    when its last commit is older). ``column_lineage``: column -> the ``db.table.column`` names it is computed
    from (one level down; `qlake lineage` follows the chain and the OpenLineage events carry it).
    """

    name: str  # "database.table"
    columns: str  # "a STRING NOT NULL, b INT" - DDL of the columns, in order
    partitioned_by: tuple[str, ...] = ()
    comment: str = ""
    update_interval: timedelta | None = None
    column_lineage: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(f"table name must be database.table in lower case, got {self.name!r}")
        unknown = set(self.column_lineage) - set(self.column_names)
        if unknown:
            raise ValueError(f"{self.name}: column_lineage names columns it does not have: {sorted(unknown)}")
        _DECLARED[self.name] = self

    @property
    def database(self) -> str:
        return self.name.split(".")[0]

    @property
    def table(self) -> str:
        return self.name.split(".")[1]

    def location(self, cfg: Settings | None = None) -> str:
        return (cfg or load_settings()).table_location(self.database, self.table)

    @property
    def column_names(self) -> list[str]:
        return [_column_name(part) for part in _split_columns(self.columns)]

    @property
    def column_types(self) -> list[tuple[str, str]]:
        """(name, SQL type) per column, in order; the type without NOT NULL (e.g. for a typed NULL literal)."""
        return [(_column_name(part), _NOT_NULL.sub("", part.split(None, 1)[1]).strip())
                for part in _split_columns(self.columns)]

    def row_schema(self) -> str:
        """The schema of rows a job builds in Python (``createDataFrame``): the columns in order, all nullable
        (NOT NULL is the table's constraint, checked when the rows are written)."""
        return ", ".join(f"{name} {sql_type}" for name, sql_type in self.column_types)

    def row_struct(self) -> T.StructType | str:
        """:meth:`row_schema` built here when every column has a plain type (ops tables, manifests): a DDL string
        passed to ``createDataFrame`` is one more engine round trip to parse it, per call. Otherwise the string."""
        fields = []
        for name, sql_type in self.column_types:
            plain = _PLAIN_TYPES.get(sql_type.upper())
            if plain is None:
                return self.row_schema()
            fields.append(T.StructField(name, plain(), True))
        return T.StructType(fields)


_PLAIN_TYPES = {"STRING": T.StringType, "BIGINT": T.LongType, "INT": T.IntegerType, "BOOLEAN": T.BooleanType,
                "TIMESTAMP": T.TimestampType, "DATE": T.DateType, "DOUBLE": T.DoubleType}


def columns_from(table: str, *same: str, **renamed: str | tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    """Column lineage for a TableSpec: ``same`` columns keep their name in ``table``; ``renamed`` maps a column to
    the source column(s) it is computed from. Several calls combine with :func:`lineage`."""
    out = {c: (f"{table}.{c}",) for c in same}
    for column, sources in renamed.items():
        out[column] = tuple(f"{table}.{s}" for s in ((sources,) if isinstance(sources, str) else sources))
    return out


def lineage(*parts: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    """Combine :func:`columns_from` results; a column fed from several tables lists all its sources."""
    out: dict[str, tuple[str, ...]] = {}
    for part in parts:
        for column, sources in part.items():
            out[column] = out.get(column, ()) + sources
    return out


# Every TableSpec built in this process, by name: lineage and freshness look a table's declaration up here.
_DECLARED: dict[str, TableSpec] = {}


def declared_tables() -> dict[str, TableSpec]:
    """The tables whose modules this process imported (``jobs.registry.declared_specs`` imports them all, for
    `status` and `lineage`)."""
    return dict(_DECLARED)


def _split_columns(ddl: str) -> list[str]:
    """Split a column DDL on top-level commas (types like DECIMAL(12,2) and MAP<...> contain commas)."""
    parts, depth, current = [], 0, []
    for ch in ddl:
        if ch in "(<":
            depth += 1
        elif ch in ")>":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    if "".join(current).strip():
        parts.append("".join(current).strip())
    return parts


def _column_name(column_ddl: str) -> str:
    return column_ddl.split()[0].strip("`")


def _registered(spark: SparkSession, state: CatalogState, database: str, table: str) -> bool:
    """Is ``database.table`` in the metastore? The first question per database lists it (creating the database
    if missing, which then needs no listing); the answer is kept, and :func:`ensure_table` adds what it creates."""
    with state.lock:
        if database not in state.listed:
            _learn(spark, state, (database,))
            if database not in state.listed:  # the metastore has no such database yet
                ensure_database(spark, database)
                state.databases.add(database)
                state.listed[database] = set()
        return table in state.listed[database]


def _learn(spark: SparkSession, state: CatalogState, databases: tuple[str, ...]) -> None:
    """List the tables of those ``databases`` the metastore has and the state has not listed, side by side
    (asked directly, the metastore lists every database in one call). The caller holds ``state.lock``."""
    if state.databases is None and state.metastore:
        # A database holding no table is not in this listing: it is created (IF NOT EXISTS) when first needed.
        listing = metastore_api.tables_by_database(state.metastore)
        state.databases = set(listing)
        for database, tables in listing.items():
            state.listed.setdefault(database, set()).update(tables)
    if state.databases is None:
        state.databases = _databases(spark)
    todo = [database for database in databases if database in state.databases and database not in state.listed]
    state.listed.update(zip(todo, side_by_side(*[partial(_tables_in, spark, database) for database in todo])))


def _databases(spark: SparkSession) -> set[str]:
    if hostport := CatalogState.of(spark).metastore:  # the engine's catalog, asked directly (metastore_api)
        return metastore_api.databases(hostport)
    return {r[0] for r in spark.sql("SHOW DATABASES").collect()}


def _tables_in(spark: SparkSession, database: str) -> set[str]:
    if hostport := CatalogState.of(spark).metastore:
        return metastore_api.tables(hostport, database)
    rows = retry_metastore(lambda: spark.sql(f"SHOW TABLES IN {database}").collect())
    return {r["tableName"] for r in rows if not r["isTemporary"]}


def list_ahead(spark: SparkSession, databases: tuple[str, ...] = LAYERS) -> threading.Thread:
    """Learn the tables of ``databases`` on a thread of its own while the caller goes on (a run touches every
    layer; through the engine, a listing is 0.05-0.4 s). A look-up meanwhile waits for the listings rather
    than repeating them; a failure here is left for that look-up to meet and report."""
    state = CatalogState.of(spark)

    def learn() -> None:
        with contextlib.suppress(Exception), state.lock:
            _learn(spark, state, databases)

    thread = threading.Thread(target=learn, name="qlake-catalog-listing", daemon=True)
    thread.start()
    return thread


def ensure_database(spark: SparkSession, database: str) -> None:
    retry_metastore(lambda: spark.sql(f"CREATE DATABASE IF NOT EXISTS {database}"))


def ensure_table(spark: SparkSession, spec: TableSpec, cfg: Settings | None = None) -> str:
    """Create the Delta table and register it in the metastore if it is not there; return its location."""
    location = spec.location(cfg)
    state = CatalogState.of(spark)
    if state.locations.get(spec.name) == location:
        return location
    with state.table_lock(spec.name, location):
        if state.locations.get(spec.name) != location:
            _create_if_missing(spark, state, spec, location)
            with state.lock:
                state.locations[spec.name] = location
    return location


def read(spark: SparkSession, spec: TableSpec, cfg: Settings | None = None) -> DataFrame:
    """The table's current rows, read at the location this session ensured it at (else where ``cfg`` puts it).
    With no Delta table there, by name: a table never written fails as any missing table does."""
    location = CatalogState.of(spark).locations.get(spec.name)
    if location is None:
        location = spec.location(cfg)
        if not _is_delta_table(location):
            return spark.table(spec.name)
    return spark.read.format("delta").load(location)


def _save(df: DataFrame, spec: TableSpec, location: str, mode: str = "append") -> None:
    """Write ``df`` as the table's columns, cast to its types, at its location: one Delta commit. A write by name
    casts on its own (store assignment); a write by path does not on every engine, so the cast is explicit. The
    table's NOT NULL constraints and partitioning are Delta's, checked and kept on either path."""
    conform(df, spec, cast=True).write.format("delta").mode(mode).save(location)


def _create_if_missing(spark: SparkSession, state: CatalogState, spec: TableSpec, location: str) -> None:
    if not _registered(spark, state, spec.database, spec.table):
        partition = f" PARTITIONED BY ({', '.join(spec.partitioned_by)})" if spec.partitioned_by else ""
        comment = f" COMMENT '{_sql_str(spec.comment)}'" if spec.comment else ""
        # A registration lost with the metastore finds its data again at the location: only a table created
        # over nothing is known to be empty.
        empty = not _is_delta_table(location)
        statement = (f"CREATE TABLE IF NOT EXISTS {spec.name} ({spec.columns}) USING delta{partition}{comment} "
                     f"LOCATION '{_sql_str(location)}'")
        retry_metastore(lambda: spark.sql(statement))
        state.note_created(spec.database, spec.table, empty)


def _is_delta_table(location: str) -> bool:
    try:
        return DeltaTable.is_deltatable(location)
    except Exception:  # noqa: BLE001 - storage we cannot inspect: assume data may be there (the safe answer)
        return True


def created_empty(spark: SparkSession, spec: TableSpec) -> bool:
    """Was the table created by this session with no rows, and not written since?"""
    return spec.name in CatalogState.of(spark).created_empty


def _claim_empty(spark: SparkSession, spec: TableSpec) -> bool:
    return CatalogState.of(spark).claim_empty(spec.name)


def _sql_str(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def conform(df: DataFrame, spec: TableSpec, cast: bool = False) -> DataFrame:
    """Select the table's columns in table order (``cast``: as the table's types): the schema contract at the
    write edge.

    Lazy on purpose: asking a Connect DataFrame for its columns is an engine round trip that analyses the whole
    plan (20-80 ms per write); a missing column fails the write itself, naming the column.
    """
    if cast:
        return df.select(*[F.col(f"`{c}`").cast(sql_type).alias(c) for c, sql_type in spec.column_types])
    return df.select(*[F.col(f"`{c}`") for c in spec.column_names])


def append(spark: SparkSession, df: DataFrame, spec: TableSpec, cfg: Settings | None = None,
           counted: bool = False) -> int | None:
    """Append in one Delta commit (atomic: all rows or none); ``counted``: return the rows, counted meanwhile."""
    location = ensure_table(spark, spec, cfg)
    _claim_empty(spark, spec)
    save = partial(_save, df, spec, location)
    return side_by_side(save, df.count)[1] if counted else save()


def overwrite(spark: SparkSession, df: DataFrame, spec: TableSpec, cfg: Settings | None = None) -> None:
    """Replace the table's rows in one commit (the catalog entry stays)."""
    location = ensure_table(spark, spec, cfg)
    _claim_empty(spark, spec)
    _save(df, spec, location, mode="overwrite")


# An atomic upsert into a table of up to this many rows rewrites the table in one commit instead of a MERGE: Sail's
# MERGE joins the whole table however few rows it touches, and reading and writing it all costs less at every size
# measured (2026-12-07, 785 versions closed and 785 opened: 40k rows 56-61 against 11-17 ms; 400k 163-180 against
# 30-40 ms; 4M 1.07-1.10 against 0.20 s). The bound is storage: each rewrite leaves the old files to the vacuum.
REWRITE_MAX_ROWS = 1_000_000


def merge(spark: SparkSession, df: DataFrame, spec: TableSpec, keys: list[str], cfg: Settings | None = None,
          update_when_changed: list[str] | None = None, atomic: bool = False,
          mostly_new: bool = False) -> tuple[int, int] | None:
    """Upsert ``df`` into the table on ``keys``: update existing keys whose tracked columns differ, insert new keys.
    Returns (changed, new) rows of ``df`` as found before writing; None into a table this run created empty.

    ``update_when_changed`` (default: every non-key column) limits updates to rows that really changed, so a
    re-run of the same input writes nothing. By default a MERGE of the changed rows only (rare), then an anti-join
    INSERT of new keys; both steps are idempotent row by row, so a crash between them heals on the next run.
    ``atomic=True`` keeps it to one commit, for tables whose rows depend on each other (SCD2: closing a version
    and opening the next): when existing rows change, the table written anew (up to :data:`REWRITE_MAX_ROWS`
    rows) or one MERGE, else the INSERT alone. Into a table this run created empty, the INSERT alone, without
    looking; a table that gets neither changed nor new rows gets no commit. ``mostly_new``: the look reads the
    table's keys alone first (1M rows: 0.11-0.15 s, a full look 0.18-0.25 s), then every tracked column if needed.
    """
    location = ensure_table(spark, spec, cfg)
    if _claim_empty(spark, spec):
        _save(df, spec, location)
        return None
    # The table at its location (see the module's note); braces doubled: the statement is formatted with its source.
    target = "delta.`" + location.replace("`", "``").replace("{", "{{").replace("}", "}}") + "`"
    columns = spec.column_names
    tracked = update_when_changed if update_when_changed is not None else [c for c in columns if c not in keys]
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
    changed = " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in tracked) or "false"
    sets = ", ".join(f"`{c}` = s.`{c}`" for c in columns if c not in keys)
    select_cols = ", ".join(f"s.`{c}`" for c in columns)
    source = conform(df, spec)
    # A MERGE (SQL) takes its source as a relation of the statement: a temp view costs two more round trips.
    is_new = F.col(f"t.`{keys[0]}`").isNull()  # a matched row's key equals the source's, so it is not null
    if mostly_new:
        by_key = source.alias("s").join(read(spark, spec).select(*keys).alias("t"), on=F.expr(on), how="left")
        found = by_key.agg(F.count(F.when(is_new, F.lit(1))).alias("new"), F.count(F.lit(1)).alias("all")).first()
        if found["new"] == found["all"]:
            if found["new"]:
                _save(source, spec, location)
            return 0, found["new"]
    matched = source.alias("s").join(read(spark, spec).alias("t"), on=F.expr(on), how="left")
    # Most runs change few or no existing rows, and often add none: one look counts both, and only what has rows
    # to write is written (no MERGE without changes, no empty INSERT commit on a table the run does not change).
    pending = matched.agg(F.count(F.when(~is_new & F.expr(changed), F.lit(1))).alias("changed"),
                          F.count(F.when(is_new, F.lit(1))).alias("new"),
                          F.count(F.when(~is_new, F.lit(1))).alias("matched")).first()
    if sets and pending["changed"]:
        if atomic:
            rows = storage.logged_rows(location)
            if rows is not None and rows <= REWRITE_MAX_ROWS:
                upserts = matched.where(is_new | F.expr(changed)).select(*[F.col(f"s.`{c}`") for c in columns])
                kept = read(spark, spec).join(upserts.select(*keys), on=keys, how="left_anti")
                _save(kept.unionByName(upserts), spec, location, mode="overwrite")
                return pending["changed"], pending["new"]
            insert_cols = ", ".join(f"`{c}`" for c in columns)
            spark.sql(f"MERGE INTO {target} t USING {{source}} s ON {on} "
                      f"WHEN MATCHED AND ({changed}) THEN UPDATE SET {sets} "
                      f"WHEN NOT MATCHED THEN INSERT ({insert_cols}) VALUES ({select_cols})", source=source)
            return pending["changed"], pending["new"]
        changed_rows = matched.where(~is_new & F.expr(changed)).select(*[F.col(f"s.`{c}`") for c in columns])
        spark.sql(f"MERGE INTO {target} t USING {{source}} s ON {on} WHEN MATCHED THEN UPDATE SET {sets}",
                  source=changed_rows)
    if pending["new"]:
        # No key of the source in the table (an hour of new sales): no second join (the pipeline lock holds).
        new_rows = source if not pending["matched"] else source.join(read(spark, spec), on=keys, how="left_anti")
        _save(new_rows, spec, location)
    return pending["changed"], pending["new"]


def drop_table(spark: SparkSession, cfg: Settings, name: str) -> None:
    """Unregister the table and delete its Delta folder (rebuilds and tests; there is no undo)."""
    spark.sql(f"DROP TABLE IF EXISTS {name}")
    storage.remove_dir(cfg.table_location(*name.split(".")))
    CatalogState.dropped(name)


def lake_tables(spark: SparkSession, cfg: Settings) -> list[str]:
    """The lake's Delta tables as ``db.table``: on a local lake read from its folders (a directory listing, where
    the metastore's SHOW TABLES costs round trips per database); elsewhere from the metastore."""
    if not cfg.is_local:
        return all_tables(spark)
    root = Path(cfg.path("tables"))
    return sorted(f"{db.name}.{table.name}" for db in root.glob("*") if db.name in LAYERS
                  for table in db.iterdir() if (table / "_delta_log").is_dir())


def all_tables(spark: SparkSession, databases: tuple[str, ...] = LAYERS) -> list[str]:
    existing = _databases(spark)
    return sorted(f"{db}.{table}" for db in databases if db in existing for table in _tables_in(spark, db))
