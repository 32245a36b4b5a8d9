"""The analyst corpus (tests/sql/corpus.sql) through `qlake sql`'s code path and through pyhive / beeline
against `qlake serve`: the same rows on every entry point, catalog statements and time travel included; those
are also checked against figures of the lake itself (README "SQL")."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from helpers import SUMMARY
from test_serve import pyhive_value, served  # noqa: F401 - the module's lake + `qlake serve` fixture

CORPUS = Path(__file__).parent / "sql" / "corpus.sql"


def load_corpus() -> list[tuple[str, set[str], str]]:
    entries, current, flags, lines = [], None, set(), []
    for line in CORPUS.read_text().splitlines():
        header = re.match(r"^-- @ (\S+)(.*)$", line)
        if header:
            if current:
                entries.append((current, flags, "\n".join(lines).strip().rstrip(";")))
            current, flags, lines = header[1], set(header[2].split()), []
        elif current and not line.startswith("--"):
            lines.append(line)
    entries.append((current, flags, "\n".join(lines).strip().rstrip(";")))
    return entries


ENTRIES = load_corpus()
BOTH = [e for e in ENTRIES if "only=sql" not in e[1]]
SQL_ONLY = [e for e in ENTRIES if "only=sql" in e[1]]


def served_query(cfg, statement: str) -> tuple[list[str], list[tuple]]:
    """Column names and rows of a statement over pyhive (`qlake serve`)."""
    from pyhive import hive

    with hive.connect(host="127.0.0.1", port=cfg.thrift_port, username="qlake", auth="NONE") as conn:
        cursor = conn.cursor()
        cursor.execute(statement)
        rows = cursor.fetchall()
        return [d[0].rsplit(".", 1)[-1] for d in cursor.description], rows


def canonical(value):
    """One comparable form per value: HiveServer2 sends timestamps/dates, arrays and maps as text, Connect as
    Python objects."""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?", value):
        return datetime.fromisoformat(value).isoformat(sep=" ")
    if isinstance(value, float):
        return float(f"{value:.12g}")  # two engines may differ in a double's last bit
    if isinstance(value, (list, dict)):
        return _hive_string(value)
    return value


def _hive_string(value) -> str:
    """An array / map as HiveServer2 sends it: Spark's text of it (strings quoted as they are, not escaped)."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_hive_string(k)}:{_hive_string(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_hive_string(v) for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def canonical_rows(rows, ordered: bool):
    rows = [tuple(canonical(v) for v in row) for row in rows]
    return rows if ordered else sorted(rows, key=repr)


@pytest.fixture(scope="module")
def sql_run(served, spark, cfg):
    from qlake import sql as qsql

    return lambda statement: qsql.run(spark, statement, cfg)


def test_corpus_size():
    assert len(ENTRIES) >= 60
    assert len({e[0] for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", BOTH, ids=[e[0] for e in BOTH])
def test_same_rows_on_qlake_sql_and_hiveserver2(entry, sql_run, cfg):
    name, flags, statement = entry
    result = sql_run(statement)
    assert result.rows, f"{name}: no rows on the lake built from the sample groups"
    if "note=classic" in flags:  # a statement off the embedded engine says so in one line
        assert result.note.startswith("-- ran on classic Spark: decimal division"), name
    if "note=rewritten" in flags:
        assert result.note.startswith("-- rewritten for the embedded engine: "), name
    ordered = bool(re.search(r"\bORDER\s+BY\b(?![^()]*\))", statement, re.I)) or len(result.rows) == 1
    served_columns, served_rows = served_query(cfg, statement)
    assert result.columns == served_columns, name
    assert canonical_rows(result.rows, ordered) == canonical_rows(served_rows, ordered), name
    SUMMARY["sql corpus (qlake sql = HiveServer2)"] = f"{len(BOTH)} statements"


@pytest.mark.parametrize("entry", [e for e in BOTH if "beeline" in e[1]], ids=lambda e: e[0])
def test_same_rows_over_beeline(entry, sql_run, cfg):
    from qlake.services import spark_home
    from qlake.sql import render

    name, _, statement = entry
    result = sql_run(statement)
    out = subprocess.run(
        [str(Path(spark_home(), "bin", "beeline")), "-u", f"jdbc:hive2://127.0.0.1:{cfg.thrift_port}/default",
         "--silent=true", "--outputformat=csv2", "-e", statement],
        capture_output=True, text=True, timeout=180, env={**os.environ, "SPARK_HOME": spark_home()},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    # beeline echoes its prompt before the header line
    lines = [re.sub(r"^\d+: jdbc:hive2://\S+> ", "", line) for line in out.stdout.splitlines() if line.strip()]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    assert rows[0] == result.columns
    assert rows[1:] == [[render.text(v, t, null="NULL") for v, t in zip(row, result.types)] for row in result.rows]


def test_catalog_statements_in_sparks_shapes(sql_run, cfg):
    from deltalake import DeltaTable

    fact = DeltaTable(cfg.table_location("gold", "fact_sales"))
    described = sql_run("DESCRIBE gold.fact_sales")
    assert described.columns == ["col_name", "data_type", "comment"]
    assert described.rows[11] == ["total_paid_price_after_discount", "decimal(12,2)", None]
    assert described.rows[-3:] == [["# Partition Information", "", ""], ["# col_name", "data_type", "comment"],
                                   ["transaction_month", "string", None]]
    extended = {r[0]: r[1] for r in sql_run("DESCRIBE EXTENDED gold.dim_offer").rows}
    assert extended["Provider"] == "delta" and extended["Type"] == "EXTERNAL"
    assert extended["Comment"] == "offers 1..5 (5/10/15/20/25 % off) and 0 = no offer"
    detail = sql_run("DESCRIBE DETAIL gold.fact_sales")
    row = dict(zip(detail.columns, detail.rows[0]))
    files = fact.get_add_actions(flatten=True)
    assert row["format"] == "delta" and row["partitionColumns"] == ["transaction_month"]
    assert row["numFiles"] == files.num_rows and row["sizeInBytes"] == sum(files.column("size_bytes").to_pylist())
    history = sql_run("DESCRIBE HISTORY gold.fact_sales")
    assert [r[0] for r in history.rows] == list(range(fact.version(), -1, -1))
    assert history.rows[-1][4] == "CREATE TABLE"
    partitions = sql_run("SHOW PARTITIONS gold.fact_sales")
    assert partitions.columns == ["partition"]
    months = pyhive_value(cfg, "SELECT DISTINCT transaction_month FROM gold.fact_sales ORDER BY 1")
    assert partitions.rows == [[f"transaction_month={m}"] for (m,) in months]
    assert sql_run("SHOW TBLPROPERTIES gold.dim_offer").rows == [["delta.minReaderVersion", "1"],
                                                                 ["delta.minWriterVersion", "2"]]
    create = sql_run("SHOW CREATE TABLE gold.dim_offer").rows[0][0]
    assert create.startswith("CREATE TABLE spark_catalog.gold.dim_offer (\n  offer_key INT NOT NULL,\n")
    assert "USING delta\nCOMMENT 'offers 1..5" in create
    SUMMARY["sql corpus (qlake sql only)"] = ", ".join(e[0] for e in SQL_ONLY)


def test_time_travel_reads_the_snapshot(sql_run):
    assert sql_run("SELECT count(*) AS n FROM gold.fact_sales VERSION AS OF 0").rows == [[0]]
    assert sql_run("SELECT count(*) AS n FROM gold.fact_sales VERSION AS OF 1").rows == [[3000]]


def test_errors_say_what_and_where(sql_run):
    from qlake.sql import SqlError

    with pytest.raises(SqlError) as missing:
        sql_run("SELECT * FROM gold.fact_sale")
    assert missing.value.message == "table or view not found: gold.fact_sale"
    assert missing.value.hint.startswith("closest tables: gold.fact_sales")
    with pytest.raises(SqlError) as column:
        sql_run("SELECT unitz FROM gold.fact_sales")
    assert column.value.message == "unknown column: unitz"
    assert "column 8" in column.value.position and "units, unit_price" in column.value.hint
    with pytest.raises(SqlError) as syntax:
        sql_run("selec 1")
    assert "at line 1, column 1" in syntax.value.position
