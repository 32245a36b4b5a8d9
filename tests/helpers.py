"""Small helpers shared by tests: `qlake` processes, single-value queries, table resets and the end-of-run
figures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections import Counter
from contextlib import contextmanager
import socket
import time

# When this test session started (helpers is imported while the tests are collected, before any job runs).
SESSION_STARTED_AT = time.time()

def qlake(*args, env: dict | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``qlake ARGS`` as a process of its own (``python -m cli``), this environment updated with ``env``."""
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (tests never use fixed ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Figures a suite publishes for the end-of-run summary (see conftest.pytest_terminal_summary).
SUMMARY: dict[str, str] = {}


def sql_value(spark, query: str):
    return spark.sql(query).collect()[0][0]


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


def frame(spark, spec, rows: list[dict], columns: list[str] | None = None, extra_types: dict | None = None):
    """Inline rows typed by a table's contract: ``columns`` (default: all) with the contract's SQL types (and
    ``extra_types`` for columns a build adds beyond the contract); a column a row leaves out is NULL. The unit
    tests build their inputs and their expected rows with it."""
    types = dict(spec.column_types) | (extra_types or {})
    names = columns or spec.column_names
    schema = ", ".join(f"`{name}` {types[name]}" for name in names)
    return spark.createDataFrame([tuple(row.get(name) for name in names) for row in rows], schema)


def multiset(df, spec) -> Counter:
    """``df``'s rows as the table ``spec`` holds them (its columns in order, cast to its types), as a multiset:
    two DataFrames of the same rows compare equal, whatever their order."""
    from qlake import catalog

    return Counter(map(tuple, catalog.conform(df, spec, cast=True).collect()))


def put_table(spark, cfg, spec, rows: list[dict]) -> None:
    """Replace a lake table's rows with ``rows`` (a build that reads the table by name reads these)."""
    from qlake import catalog

    drop_tables(spark, cfg, spec.name)
    catalog.overwrite(spark, frame(spark, spec, rows), spec, cfg)


@contextmanager
def inline_tables(spark, cfg, contents: dict):
    """Lake tables holding the given rows (contract -> rows) for the block, dropped after it: the inputs of a
    build that reads tables by name, without leaving them to the next test module."""
    try:
        for spec, rows in contents.items():
            put_table(spark, cfg, spec, rows)
        yield
    finally:
        drop_tables(spark, cfg, *(spec.name for spec in contents))


# snapshot(): the columns that differ between two deliveries of the same files at other times (delivery time,
# run, landing path), and the surrogate keys of SCD2 versions opened at those times; everything else must be equal.
VOLATILE = {"_updated_at", "_run_id", "run_id", "_batch_id", "_ingested_at", "_source_file", "quarantined_at",
            "valid_from", "valid_to", "customer_key", "branch_key", "sales_agent_key", "raw", "recorded_at",
            "customer_sk", "branch_sk", "sales_agent_sk"}
COMPARED = ("silver.sales_transactions", "silver.branches", "silver.sales_agents", "silver.customers",
            "silver.products", "gold.fact_sales", "gold.dim_product", "gold.dim_branch", "gold.dim_sales_agent",
            "gold.dim_customer", "gold.dim_date", "gold.dim_offer", "gold.mkt_top_products",
            "gold.mkt_offer_redemptions", "gold.mkt_online_sales_by_city", "silver.quarantine_sales_transactions",
            "silver.quarantine_branches", "silver.quarantine_sales_agents")


def snapshot(spark) -> dict[str, list[tuple]]:
    """Every compared silver and gold table's rows without the columns that depend on when and in which run
    they were written, sorted: two builds of the same deliveries compare equal."""
    from qlake import catalog

    existing = set(catalog.all_tables(spark))
    tables = {}
    for name in COMPARED:
        if name not in existing:  # a quarantine table is created by its first quarantined row
            tables[name] = None
            continue
        df = spark.table(name)
        stable = df.select(*[c for c in df.columns if c not in VOLATILE])
        tables[name] = sorted((tuple(r) for r in stable.collect()), key=repr)
    return tables
