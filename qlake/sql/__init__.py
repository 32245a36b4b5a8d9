"""One SQL surface for `qlake sql`, the notebooks' helper and tests: Spark SQL over the lake's tables.

:func:`run` answers a statement in four ways, in this order (README "SQL"):

1. catalog statements (DESCRIBE [TABLE|EXTENDED|DETAIL|HISTORY], SHOW CREATE TABLE / COLUMNS / PARTITIONS /
   TBLPROPERTIES) from the Delta log, in Spark's shapes (:mod:`qlake.sql.meta`);
2. a decimal division on classic Spark in a child process (:mod:`qlake.sql.classic`), said in ``Result.note``;
3. a statement using a construct the embedded engine cannot plan or answers differently (QUALIFY, PIVOT,
   UNPIVOT, ORDER BY an aggregate, percentiles) rewritten to equivalent SQL (:mod:`qlake.sql.rewrite`), said in
   ``Result.note``;
4. anything else as written, on the session's engine.

The result's columns carry the names Spark gives unaliased projections (:mod:`qlake.sql.names`). An error comes
back as :class:`qlake.sql.errors.SqlError` (message, position, hint), never a traceback.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from qlake.config import Settings, settings as load_settings
from qlake.sql import meta, render, timetravel
from qlake.sql.errors import SqlError, explain


# Only a statement that mentions one of these is parsed and maybe rewritten (qlake.sql.rewrite): an ORDER BY
# only when a call follows it (an aggregate key needs one), so a plain `ORDER BY col` never imports sqlglot.
_NEEDS_PARSE = re.compile(r"\b(QUALIFY|PIVOT|UNPIVOT|PERCENTILE_APPROX|APPROX_PERCENTILE|PERCENTILE_DISC|"
                          r"PERCENTILE_CONT)\b|\bORDER\s+BY\b[^;]*\(", re.IGNORECASE)
# What the engine may name otherwise than Spark when unaliased (qlake.sql.names): a window, IS [NOT] NULL, IN (...),
# BETWEEN, or a call written in capitals (it keeps the case; Spark prints the function's own name).
_NEEDS_NAMES = re.compile(r"(?i:\b(OVER|BETWEEN)\b|\bIS\s+(NOT\s+)?NULL\b|\bIN\s*\()|\b[A-Z][A-Z0-9_]*\(")


@dataclass
class Result:
    columns: list[str]
    types: list[str]  # Spark simple type strings, e.g. "decimal(12,2)", "array<string>"
    rows: list[list]
    note: str = ""  # one line when the statement did not run as written


def tables(cfg: Settings) -> dict[str, str]:
    from qlake.serve import discover_tables

    return discover_tables(cfg)


def _table_columns(location: str) -> list[str]:
    from deltalake import DeltaTable

    return [f.name for f in DeltaTable(location).schema().fields]


def _arrow_result(frame):
    """The result as Arrow and its Spark fields, in one round trip. ``_to_table`` is what ``collect()`` and
    ``toArrow()`` use inside (pyspark pinned at 4.2.0); ``toArrow()`` would also ask for the schema apart and
    cast the table with pyarrow.compute (≈ 0.1 s to import), ``collect()`` asks for a setting and converts
    zoned timestamps through pandas."""
    if hasattr(frame, "_to_table"):
        table, schema = frame._to_table()  # noqa: SLF001
        return table, (schema or frame.schema).fields
    return frame.toArrow(), frame.schema.fields


def run(session, statement: str, cfg: Settings | None = None, limit: int | None = None) -> Result:
    """Answer one statement. ``session`` is a Spark session, or a callable returning one: catalog statements need
    no engine, so `qlake sql "DESCRIBE ..."` never starts it."""
    cfg = cfg or load_settings()
    statement = statement.strip().rstrip(";").strip()
    catalog = meta.match(statement)
    if catalog:
        try:
            found = meta.answer(*catalog, cfg, tables(cfg))
        except meta.CatalogError as exc:
            raise SqlError(str(exc), hint=exc.hint) from None
        rows = found.rows[:limit] if limit is not None else found.rows
        return Result(found.columns, found.types, rows)
    sql, hidden, note = timetravel.as_of(statement), [], ""
    from qlake.sql import classic

    known = tables(cfg)
    slow_path = classic.reason(statement, known)
    if slow_path:
        columns, types, rows = classic.run(statement, cfg, known, limit)
        return Result(columns, types, rows, classic.NOTE.format(reason=slow_path))
    if callable(session) and not hasattr(session, "sql"):
        session = session()
    # Parsed for Spark's column names, as the analyst wrote it (time travel and rewrites change no projection).
    tree = _parsed(statement) if _NEEDS_NAMES.search(statement) else None
    try:
        if _NEEDS_PARSE.search(sql):
            from qlake.sql import rewrite

            try:
                rewritten = rewrite.rewrite(sql, lambda q: session.sql(q).columns)
            except Exception:  # noqa: BLE001 - sqlglot cannot read it: the engine's own parser will say why
                rewritten = None
            if rewritten is not None and rewritten.notes:
                sql, hidden = rewritten.sql, rewritten.hidden
                note = "-- rewritten for the embedded engine: " + "; ".join(rewritten.notes)
        frame = session.sql(sql)
        if hidden:
            frame = frame.drop(*hidden)
        if limit is not None:
            frame = frame.limit(limit)
        table, fields = _arrow_result(frame)
        rows = render.rows_of(table)
    except SqlError:
        raise
    except Exception as exc:  # noqa: BLE001 - every engine failure becomes a message a person can act on
        known = tables(cfg)
        raise explain(exc, statement, known, lambda t: _table_columns(known[t])) from exc
    columns = [f.name for f in fields]
    if tree is not None:
        from qlake.sql import names

        columns = names.spark_columns(tree, columns) or columns
    return Result(columns, [f.dataType.simpleString() for f in fields], rows, note)


def _parsed(statement: str):
    """The statement as sqlglot reads it, or None when it cannot (then the engine's names stay)."""
    from qlake.sql import rewrite

    try:
        return rewrite.parse(statement)
    except Exception:  # noqa: BLE001 - sqlglot's errors vary by construct; the engine answers the statement anyway
        return None


def write(result: Result, fmt: str = "table", out=None) -> None:
    """Print (or write to ``out``, a text file) a result in ``table``, ``csv`` or ``json``."""
    import csv
    import json
    import sys

    stream = out or sys.stdout
    if fmt == "json":
        keys = render.json_keys(result.columns)
        if keys != result.columns:
            renamed = ", ".join(f"{k!r}" for k, c in zip(keys, result.columns) if k != c)
            print(f"-- columns named alike: JSON keys {renamed} (alias them to choose)", file=sys.stderr)
        stream.write(json.dumps(render.records(result.columns, result.types, result.rows), ensure_ascii=False) + "\n")
    elif fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([[render.text(v, t, null="") for v, t in zip(row, result.types)] for row in result.rows])
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(show_lines=False)
        for column in result.columns:
            table.add_column(column, overflow="fold")
        for row in result.rows:
            table.add_row(*[render.text(v, t) for v, t in zip(row, result.types)])
        wide = out is not None or not sys.stdout.isatty()  # a file or a pipe: one line per row, not wrapped at 80
        Console(file=out, width=250 if wide else None).print(table)
