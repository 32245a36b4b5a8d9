"""Column lineage queries: where a gold column comes from, and which delivered file and row a gold row came from.

The chain follows the ``column_lineage`` each table declares beside its contract (one level down each), until a
column no table declares a source for: a bronze column, as delivered. For a key, the chain of the table's key
column leads to the first table that keeps row lineage (``_source_sha256`` + ``_row_number``, silver's rule): that
row names the delivered file, and ``bronze.ingested_files`` its name and sha256. Everything is read from the Delta
logs with ``deltalake``: no engine, a few seconds even on a big lake.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from qlake import catalog, storage
from qlake.catalog import TableSpec
from qlake.config import Settings

ROW_LINEAGE = ("_source_file", "_source_sha256", "_row_number")


class LineageError(ValueError):
    """A lineage question qlake cannot answer (unknown table/column, unknown key): the message says which."""


@dataclass(frozen=True)
class Step:
    depth: int
    column: str  # "db.table.column"
    declared: bool  # False: no table declares where this column comes from (a delivered column, or undeclared)


def split_column(ref: str) -> tuple[str, str]:
    table, _, column = ref.rpartition(".")
    return table, column


def spec_of(name: str) -> TableSpec:
    spec = catalog.declared_tables().get(name)
    if spec is None:
        raise LineageError(f"unknown table {name!r}: expected database.table, e.g. gold.fact_sales")
    return spec


def chain(ref: str) -> list[Step]:
    """``db.table.column`` and every column it is computed from, depth first (a column seen twice is listed once
    per path, so a reader sees each branch whole)."""
    table, column = split_column(ref)
    spec = spec_of(table)
    if column not in spec.column_names:
        raise LineageError(f"{table} has no column {column!r}; columns: {', '.join(spec.column_names)}")
    steps: list[Step] = []

    def walk(current: str, depth: int, seen: frozenset) -> None:
        owner, name = split_column(current)
        declared = catalog.declared_tables().get(owner)
        sources = declared.column_lineage.get(name, ()) if declared else ()
        steps.append(Step(depth, current, bool(sources) or owner.startswith("bronze.")))
        for source in sources:
            if source not in seen:
                walk(source, depth + 1, seen | {source})

    walk(ref, 0, frozenset({ref}))
    return steps


def table_chains(table: str) -> dict[str, list[Step]]:
    spec = spec_of(table)
    return {c: chain(f"{table}.{c}") for c in spec.column_names if c in spec.column_lineage}


def bronze_sources(ref: str) -> list[str]:
    """The delivered (bronze) columns at the end of a column's chain."""
    return sorted({s.column for s in chain(ref) if s.column.startswith("bronze.")})


@dataclass(frozen=True)
class RowOrigin:
    table: str
    key_column: str
    key: str
    traced_through: str  # the table holding the row lineage
    source_file: str
    sha256: str
    row_number: int
    file_name: str | None  # as delivered (bronze.ingested_files)
    delivered_row: dict | None  # the bronze row as delivered


def _read(cfg: Settings, name: str, column: str, value, columns: list[str] | None = None) -> list[dict]:
    database, table = name.split(".")
    try:
        delta = DeltaTable(cfg.table_location(database, table))
    except TableNotFoundError:
        raise LineageError(f"{name} has no data yet: run the pipeline first") from None
    return storage.read_delta(delta, filter=ds.field(column) == value, columns=columns).to_pylist()


def origin(cfg: Settings, table: str, key: str, key_column: str | None = None) -> RowOrigin:
    """The delivered file and row a row of ``table`` (found by its key, default: the table's first column)."""
    spec = spec_of(table)
    key_column = key_column or spec.column_names[0]
    if key_column not in spec.column_names:
        raise LineageError(f"{table} has no column {key_column!r}")
    if not _read(cfg, table, key_column, key, [key_column]):
        raise LineageError(f"{table} has no row with {key_column} = {key!r}")
    current = f"{table}.{key_column}"
    while True:
        owner, column = split_column(current)
        owner_spec = catalog.declared_tables().get(owner)
        if owner_spec is not None and all(c in owner_spec.column_names for c in ROW_LINEAGE):
            break
        sources = owner_spec.column_lineage.get(column, ()) if owner_spec else ()
        if len(sources) == 0:
            raise LineageError(f"{table}.{key_column}: no table on its lineage keeps the delivered file and row")
        current = sources[0]
    rows = _read(cfg, owner, column, key, list(ROW_LINEAGE))
    if not rows:
        raise LineageError(f"{owner} has no row with {column} = {key!r} (rebuilt since? try `qlake replay`)")
    row = rows[0]
    files = _read(cfg, "bronze.ingested_files", "sha256", row["_source_sha256"], ["file_name", "status"])
    file_name = next((f["file_name"] for f in files if f["status"] == "ingested"),
                     files[0]["file_name"] if files else None)
    delivered = _delivered_row(cfg, owner_spec, row)
    return RowOrigin(table, key_column, key, owner, row["_source_file"], row["_source_sha256"],
                     int(row["_row_number"]), file_name, delivered)


def _delivered_row(cfg: Settings, spec: TableSpec, row: dict) -> dict | None:
    """The bronze row (as delivered) the lineage row points at, when the table declares its bronze source."""
    sources = {split_column(s)[0] for refs in spec.column_lineage.values() for s in refs}
    bronze = sorted(s for s in sources if s.startswith("bronze."))
    if not bronze:
        return None
    matches = [r for r in _read(cfg, bronze[0], "_source_sha256", row["_source_sha256"])
               if r["_row_number"] == row["_row_number"]]
    if not matches:
        return None
    return {k: v for k, v in matches[0].items() if not k.startswith("_")}
