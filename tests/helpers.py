"""Small helpers shared by tests: single-value queries, table resets and the end-of-run figures."""

from __future__ import annotations

import shutil
import socket
import time

# When this test session started (helpers is imported while the tests are collected, before any job runs).
SESSION_STARTED_AT = time.time()

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
