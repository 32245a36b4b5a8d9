"""What `qlake serve` answers itself, so HiveServer2 clients get the rows `qlake sql` gives (README "SQL").

The thrift server's classic Spark has no Delta: it refuses ``VERSION AS OF`` on the served tables and answers
``DESCRIBE DETAIL`` / ``HISTORY``, ``SHOW PARTITIONS`` / ``TBLPROPERTIES`` / ``CREATE TABLE`` not at all or in
another shape. A small parser in front of Spark's (``qlake/jvm``: ``spark.sql.extensions``, compiled once with
the JDK's ``javac`` into a cached jar) hands every statement to :class:`Rewriter` over py4j first:

- a catalog statement (the patterns of :mod:`qlake.sql.meta`) becomes ``SELECT * FROM VALUES (...)`` of the rows
  :mod:`qlake.sql.meta` builds from the Delta log — the same rows as `qlake sql`, typed;
- each time-travel reference (:mod:`qlake.sql.timetravel`) becomes a global temporary view of that snapshot,
  created once per table version, with its own reader: two versions of a table in one statement read two
  snapshots;
- anything else goes to Spark unchanged.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from qlake.config import Settings

JVM_SOURCES = Path(__file__).parent / "jvm"
EXTENSIONS_CLASS = "qlake.serve.Extensions"


def extension_jar(spark_home: str) -> str | None:
    """The parser extension's jar, compiled on first use into ``~/.cache/qlake`` (keyed by the sources' hash);
    None (and a line on stderr) where no JDK compiler is installed."""
    sources = sorted(JVM_SOURCES.rglob("*.java"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in sources)).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"), "qlake")
    jar = cache / f"qlake-serve-{digest}.jar"
    if jar.exists():
        return str(jar)
    javac, jar_tool = shutil.which("javac"), shutil.which("jar")
    if not javac or not jar_tool:
        print("serve: no JDK (javac): time travel and Delta catalog statements are not answered over "
              "HiveServer2", file=sys.stderr)
        return None
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as work:
        classpath = str(Path(spark_home, "jars", "*"))
        subprocess.run([javac, "-nowarn", "-d", work, "-cp", classpath, *map(str, sources)], check=True,
                       capture_output=True)
        partial = Path(work, jar.name)
        subprocess.run([jar_tool, "cf", str(partial), "-C", work, "qlake"], check=True, capture_output=True)
        partial.replace(jar)  # atomic: a concurrent `qlake serve` sees a whole jar or none
    return str(jar)


def _quoted(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n").replace("\r", "\\r") + "'"


def literal(value, type_name: str) -> str:
    """A Spark SQL literal of ``value`` with the type ``type_name`` (the types :mod:`qlake.sql.meta` answers)."""
    if value is None:
        return f"CAST(NULL AS {type_name})"
    if type_name.startswith("map<"):
        key_type, value_type = type_name[4:-1].split(",", 1)
        pairs = [f"{literal(k, key_type)}, {literal(v, value_type)}" for k, v in value.items()]
        return f"CAST(map({', '.join(pairs)}) AS {type_name})"
    if type_name.startswith("array<"):
        return f"CAST(array({', '.join(literal(v, type_name[6:-1]) for v in value)}) AS {type_name})"
    if type_name == "boolean":
        return "true" if value else "false"
    if type_name in ("int", "bigint"):
        return f"CAST({int(value)} AS {type_name})"
    if type_name == "timestamp" and isinstance(value, datetime):
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if type_name == "string":
        return _quoted(str(value))
    raise TypeError(f"no literal for {type_name}")


def values_sql(columns: list[str], types: list[str], rows: list[list]) -> str:
    """``SELECT`` of these rows with these column names and types (no rows: an empty result of that shape)."""
    names = [f"`{c.replace('`', '``')}`" for c in columns]
    if not rows:
        return "SELECT " + ", ".join(f"{literal(None, t)} AS {n}" for t, n in zip(types, names)) + " LIMIT 0"
    tuples = ", ".join("(" + ", ".join(literal(v, t) for v, t in zip(row, types)) + ")" for row in rows)
    return f"SELECT * FROM VALUES {tuples} AS qlake_catalog({', '.join(names)})"


def raise_sql(message: str) -> str:
    """A statement that fails with ``message`` (what the client sees as the error)."""
    return f"SELECT raise_error({_quoted(message)})"


class Rewriter:
    """The py4j callback the JVM parser calls with each statement (see the module docstring)."""

    def __init__(self, spark, cfg: Settings, tables):
        self.spark, self.cfg, self.tables = spark, cfg, tables  # tables(): db.table -> location
        self.snapshots: set[str] = set()
        self.lock = threading.Lock()

    def rewrite(self, sql: str) -> str:
        try:
            return self.answer(sql)
        except Exception as exc:  # noqa: BLE001 - the client gets the reason as its statement's error
            return raise_sql(f"{type(exc).__name__}: {exc}")

    def answer(self, sql: str) -> str:
        from qlake.sql import meta, timetravel

        statement = sql.strip().rstrip(";").strip()
        catalog = meta.match(statement)
        if catalog:
            try:
                found = meta.answer(*catalog, self.cfg, self.tables())
            except meta.CatalogError as exc:
                return raise_sql(f"{exc} {exc.hint}".strip())
            return values_sql(found.columns, found.types, found.rows)
        if timetravel.mentions(statement):
            return timetravel.replace(statement, self.snapshot_view)
        return sql

    def snapshot_view(self, table: str, version: str | None, timestamp: str | None) -> str:
        """``global_temp.<view>`` over ``table`` at that version / timestamp, created on first use."""
        from qlake import delta_source

        known = self.tables()
        if table not in known:
            from qlake.sql.errors import closest

            raise LookupError(f"table or view not found: {table} ({closest(table, list(known), 'tables')})")
        at = delta_source.open_snapshot(known[table], version, timestamp).version()
        view = "qlake_snapshot_" + re.sub(r"[^a-z0-9_]", "_", table) + f"_v{at}"
        with self.lock:
            if view not in self.snapshots:
                source = delta_source.source_for(table, known[table], version=at)
                self.spark.dataSource.register(source)
                self.spark.sql(f"CREATE OR REPLACE GLOBAL TEMPORARY VIEW {view} USING {source.name()}")
                self.snapshots.add(view)
        return f"global_temp.{view}"

    class Java:
        implements = ["qlake.serve.SqlRewriter"]


def install(spark, rewriter: Rewriter) -> None:
    """Hand ``rewriter`` to the parser extension (a session built without it keeps Spark's parser)."""
    from pyspark.java_gateway import ensure_callback_server_started

    ensure_callback_server_started(spark.sparkContext._gateway)  # noqa: SLF001
    spark._jvm.qlake.serve.RewritingParser.setRewriter(rewriter)  # noqa: SLF001
