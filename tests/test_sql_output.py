"""`qlake sql` output: every Spark type rendered the same way in table, csv and json (and --out FILE); errors
as a message, a position and a hint with exit code 1 and no traceback."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from click.testing import CliRunner

from cli.main import main

ALL_TYPES = ("SELECT X'CAFE' AS b, map('a', 1) AS m, array(1, NULL) AS a, named_struct('x', 1, 'y', 'z') AS s, "
             "CAST('12.30' AS DECIMAL(10,2)) AS d, TIMESTAMP'2024-01-02 03:04:05.5' AS ts, "
             "TIMESTAMP_NTZ'2024-01-02 03:04:05' AS ntz, DATE'2024-01-02' AS dt, CAST(NULL AS STRING) AS n, "
             "CAST('NaN' AS DOUBLE) AS nan, true AS t")
CSV_ROW = ('yv4=,"{""a"":1}","[1,null]","{""x"":1,""y"":""z""}",12.30,2024-01-02T03:04:05.500000Z,'
           '2024-01-02T03:04:05,2024-01-02,,NaN,true')


def cli(*args):
    return CliRunner().invoke(main, ["sql", *args], catch_exceptions=False)


def test_every_type_in_json(spark):
    out = cli(ALL_TYPES, "--format", "json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == [{"b": "yv4=", "m": {"a": 1}, "a": [1, None], "s": {"x": 1, "y": "z"},
                                       "d": "12.30", "ts": "2024-01-02T03:04:05.500000Z",
                                       "ntz": "2024-01-02T03:04:05", "dt": "2024-01-02", "n": None, "nan": "NaN",
                                       "t": True}]


def test_every_type_in_csv_and_table(spark, tmp_path):
    out = cli(ALL_TYPES, "--format", "csv")
    assert out.stdout.splitlines() == ["b,m,a,s,d,ts,ntz,dt,n,nan,t", CSV_ROW]
    target = tmp_path / "rows.csv"
    assert cli(ALL_TYPES, "--format", "csv", "--out", str(target)).exit_code == 0
    assert target.read_text().splitlines()[1] == CSV_ROW
    table = cli(ALL_TYPES).stdout
    row = next(line for line in table.splitlines() if "yv4=" in line)
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells == ["yv4=", '{"a":1}', "[1,null]", '{"x":1,"y":"z"}', "12.30", "2024-01-02T03:04:05.500000Z",
                     "2024-01-02T03:04:05", "2024-01-02", "NULL", "NaN", "true"]


def test_rewritten_statement_says_so(spark):
    out = cli("SELECT k FROM VALUES (1, 10), (1, 5), (2, 1) AS t(k, v) GROUP BY k ORDER BY sum(v) DESC", "--format",
              "csv")
    assert out.exit_code == 0, out.output
    assert out.stdout.splitlines() == ["k", "1", "2"]
    assert "-- rewritten for the embedded engine: ORDER BY an aggregate as a hidden column" in out.stderr


def test_unaliased_columns_take_sparks_names_and_json_keeps_repeated_ones(spark):
    """The embedded engine names a window column after its function alone (two of them alike) and IS NULL
    `is_null`; `qlake sql` gives them Spark's names (the corpus compares them with HiveServer2's). A name that
    still repeats keeps every column's values in JSON."""
    statement = ("SELECT k, v IS NULL, sum(v) OVER (PARTITION BY k), sum(v) OVER (ORDER BY v DESC), v IN (1, 5) "
                 "FROM VALUES (1, 10), (1, 5), (2, 1) AS t(k, v) ORDER BY v")
    out = cli(statement, "--format", "csv")
    assert out.exit_code == 0, out.output
    assert next(csv.reader(out.stdout.splitlines())) == [
        "k", "(v IS NULL)", "sum(v) OVER (PARTITION BY k ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
        "sum(v) OVER (ORDER BY v DESC NULLS LAST RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)", "(v IN (1, 5))"]
    assert out.stderr == ""  # only names were given: the statement ran as written
    repeated = cli("SELECT k, k, v AS k FROM VALUES (1, 10) AS t(k, v)", "--format", "json")
    assert json.loads(repeated.stdout) == [{"k": 1, "k#2": 1, "k#3": 10}]
    assert "-- columns named alike: JSON keys 'k#2', 'k#3'" in repeated.stderr


def test_errors_exit_1_without_traceback(spark):
    out = cli("SELECT * FROM gold.no_such_table")
    assert out.exit_code == 1
    assert out.stderr.startswith("error: table or view not found: gold.no_such_table\n")
    assert "Traceback" not in out.output and "hint:" in out.stderr
    syntax = cli("SELEC 1")
    assert syntax.exit_code == 1
    assert syntax.stderr.splitlines()[1:4] == ["at line 1, column 1:", "  SELEC 1", "  ^^^^^"]


def test_qlake_sql_process_leaves_pandas_out_and_exits_at_once(spark):
    """The `qlake sql` process (README "SQL", latency): pyspark's Connect client without pandas, every type
    still rendered, the exit code kept by the quick exit."""
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "cli", "sql", ALL_TYPES, "--format", "csv"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines() == ["b,m,a,s,d,ts,ntz,dt,n,nan,t", CSV_ROW]
    imported = {line.rsplit("|", 1)[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time")}
    assert "pyspark.sql.connect.session" in imported
    assert not {"pandas.core.frame", "pyarrow.compute", "IPython"} & imported
    failed = subprocess.run([sys.executable, "-m", "cli", "sql", "SELECT * FROM gold.no_such_table"],
                            capture_output=True, text=True, timeout=120)
    assert failed.returncode == 1 and failed.stderr.startswith("error: table or view not found: gold.no_such_table")


def test_deferred_pandas_is_real_pandas_on_first_use():
    code = ("from qlake.sql import lean; lean.connect_client(); import sys; "
            "assert 'pandas.core.frame' not in sys.modules; "
            "from pyspark.sql.connect import session; import pandas; "
            "frame = pandas.DataFrame({'at': pandas.to_datetime(['2024-01-02'])}); "
            "print(session.is_datetime64_dtype(frame['at']), type(frame).__module__, "
            "isinstance(frame, session.pd.DataFrame))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["True", "pandas.core.frame", "True"]
