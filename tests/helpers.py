"""Small helpers shared by tests: order-insensitive DataFrame comparison (chispa style) and table resets."""

from __future__ import annotations

import shutil
from collections import Counter

# Figures a suite publishes for the end-of-run summary (see conftest.pytest_terminal_summary).
SUMMARY: dict[str, str] = {}


def sql_value(spark, query: str):
    return spark.sql(query).collect()[0][0]


def assert_same_rows(actual, expected, columns: list[str] | None = None) -> None:
    """Compare two DataFrames (or lists of tuples) as multisets of rows, whatever the order."""
    def rows(x):
        if hasattr(x, "collect"):
            df = x.select(*columns) if columns else x
            return Counter(tuple(r) for r in df.collect())
        return Counter(tuple(r) for r in x)

    a, e = rows(actual), rows(expected)
    assert a == e, f"only in actual: {list((a - e).elements())[:5]}; only in expected: {list((e - a).elements())[:5]}"


def drop_tables(spark, cfg, *names: str) -> None:
    """Drop tables from the metastore and delete their Delta folders (a fresh start for one test module)."""
    from qlake import catalog

    for name in names:
        catalog.drop_table(spark, cfg, name)


def reset_lake(spark, cfg) -> None:
    """Drop every qlake table and its files: the next job starts from an empty lake (same metastore/session)."""
    from qlake import catalog

    for name in catalog.all_tables(spark):
        drop_tables(spark, cfg, name)
    for folder in ("landing", "quarantine", "scratch", "exports", "reports"):
        shutil.rmtree(cfg.path(folder), ignore_errors=True)
