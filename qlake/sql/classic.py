"""The classic-Spark path of `qlake sql`: a statement the embedded engine would answer differently runs on
classic Spark 4.2 over the same Delta snapshots (the reader `qlake serve` uses), in a child process (a process
with a Spark Connect session cannot start a classic one), and the result says so in one line.

Used for decimal division (:func:`reason`): Sail 0.7 gives a quotient of two decimals 6 decimal places and
truncates it (``decimal(12,2) / decimal(12,2)`` → ``decimal(18,6)``, 2/3 = 0.666666), where Spark types it by
its precision rules and rounds half up (``decimal(27,15)``, 0.666666666666667). The statement is sent as is; the
child registers only the tables it names. Costs a JVM start (≈ 10–20 s on 2 cores): the bench reports it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from qlake.config import Settings

NOTE = "-- ran on classic Spark: {reason}"


def _decimal_columns(tables: dict[str, str], statement: str) -> set[str]:
    from deltalake import DeltaTable

    names = set()
    for table, location in tables.items():
        if re.search(rf"\b{re.escape(table)}\b", statement, re.IGNORECASE):
            for field in json.loads(DeltaTable(location).schema().to_json())["fields"]:
                if isinstance(field["type"], str) and field["type"].startswith("decimal"):
                    names.add(field["name"].lower())
    return names


def reason(statement: str, tables: dict[str, str]) -> str | None:
    """Why the statement must run on classic Spark, or None. A division is a decimal division when an operand
    uses a decimal column (of a table the statement names, or an alias computed from one), a decimal literal
    (``1.5``) or a CAST to DECIMAL, and is not cast to a floating type."""
    if "/" not in statement:
        return None
    from sqlglot import exp

    from qlake.sql import rewrite

    try:
        tree = rewrite.parse(statement)
    except Exception:  # noqa: BLE001 - the engine's parser will say what is wrong
        return None
    divisions = list(tree.find_all(exp.Div))
    if not divisions:
        return None
    decimal_names = _decimal_columns(tables, statement)
    for _ in range(3):  # aliases over decimal expressions, through nested subqueries
        decimal_names |= {a.alias.lower() for a in tree.find_all(exp.Alias) if _is_decimal(a.this, decimal_names)}
    if any(_is_decimal(d.this, decimal_names) or _is_decimal(d.expression, decimal_names) for d in divisions):
        return ("decimal division (the embedded engine keeps 6 decimal places and truncates; Spark types the "
                "quotient by its precision rules and rounds half up)")
    return None


def _is_decimal(node, decimal_names: set[str]) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Cast):
        return node.to.this == exp.DataType.Type.DECIMAL or (
            not node.to.is_type(*exp.DataType.REAL_TYPES, *exp.DataType.INTEGER_TYPES)
            and _is_decimal(node.this, decimal_names))
    if isinstance(node, exp.Column):
        return node.name.lower() in decimal_names
    if isinstance(node, exp.Literal):
        return not node.is_string and "." in node.this and "e" not in node.this.lower()
    return any(_is_decimal(child, decimal_names) for child in node.iter_expressions())


def run(statement: str, cfg: Settings, tables: dict[str, str], limit: int | None = None):
    """(columns, types, rows) of the statement on classic Spark; raises SqlError with the engine's message."""
    import pyarrow as pa

    from qlake.sql import render
    from qlake.sql.errors import SqlError

    named = [t for t in tables if re.search(rf"\b{re.escape(t)}\b", statement, re.IGNORECASE)]
    env = {k: v for k, v in os.environ.items() if k not in ("SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED")}
    done = subprocess.run([sys.executable, "-m", "qlake.sql.classic", json.dumps(
        {"statement": statement, "tables": named, "limit": limit})], capture_output=True, env=env)
    if done.returncode != 0:
        lines = done.stderr.decode(errors="replace").strip().splitlines()
        message = next((line[len("error: "):] for line in lines if line.startswith("error: ")), lines[-1] if lines
                       else "classic Spark failed")
        raise SqlError(message, hint="this statement ran on classic Spark (decimal division)")
    table = pa.ipc.open_stream(done.stdout).read_all()
    types = json.loads(table.schema.metadata[b"qlake.types"])
    return table.column_names, types, render.rows_of(table)


def _child(request: dict) -> None:
    from qlake import serve, serve_sql
    from qlake.config import settings

    cfg = settings()
    spark = serve.classic_session(cfg, app_name="qlake-sql-classic")
    spark.sparkContext.setLogLevel("ERROR")
    serve.Registry(spark, cfg).sync(only=set(request["tables"]))
    if spark.conf.get("spark.sql.extensions", "") == serve_sql.EXTENSIONS_CLASS:  # time travel, as over HS2
        serve_sql.install(spark, serve_sql.Rewriter(spark, cfg, lambda: serve.discover_tables(cfg)))
    try:
        frame = spark.sql(request["statement"])
        if request["limit"] is not None:
            frame = frame.limit(request["limit"])
        fields = frame.schema.fields
        table = frame.toArrow()
    except Exception as exc:  # noqa: BLE001 - the parent prints it as the statement's error
        print("error: " + (str(exc).strip().splitlines() or [type(exc).__name__])[0], file=sys.stderr)
        sys.exit(1)
    import pyarrow as pa

    table = table.replace_schema_metadata({"qlake.types": json.dumps([f.dataType.simpleString() for f in fields])})
    with pa.ipc.new_stream(sys.stdout.buffer, table.schema) as writer:
        writer.write_table(table)
    sys.stdout.flush()
    spark.stop()


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
