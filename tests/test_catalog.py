"""The catalog's write paths on tiny tables: a table created empty takes its first rows without a look-up, a
table whose registration was lost keeps (and merges into) its rows, independent writes run side by side, and
the pipeline jobs refuse to run under another one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import drop_tables

COLUMNS = "id INT NOT NULL, label STRING"


def _spec(name: str):
    from qlake.catalog import TableSpec

    return TableSpec(name=f"qtest.{name}", columns=COLUMNS)


def _second_session(spark):
    """Another Connect session on the engine ``spark`` talks to. Built directly, not through the builder: the
    process's default (active) session stays ``spark``."""
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    endpoint = spark.client._builder.url
    return ConnectSession(connection=f"sc://{endpoint.hostname}:{endpoint.port}")


def _rows(spark, spec) -> list[tuple]:
    """Every row, sorted (a list, so a duplicated row shows)."""
    return sorted(tuple(r) for r in spark.table(spec.name).collect())


def test_merge_into_a_table_created_here_then_upserts(spark, cfg):
    from qlake import catalog, table_stats

    spec = _spec("created_here")
    drop_tables(spark, cfg, spec.name)
    catalog.ensure_table(spark, spec, cfg)
    assert catalog.created_empty(spark, spec)
    catalog.merge(spark, spark.createDataFrame([(1, "a"), (2, "b")], COLUMNS), spec, keys=["id"], cfg=cfg)
    assert not catalog.created_empty(spark, spec)
    # The second merge looks: 2 changes, 3 is new, 1 stays.
    catalog.merge(spark, spark.createDataFrame([(2, "B"), (3, "c")], COLUMNS), spec, keys=["id"], cfg=cfg)
    assert _rows(spark, spec) == [(1, "a"), (2, "B"), (3, "c")]
    assert table_stats.row_count(spark, spec, cfg) == 3


def test_a_merge_of_mostly_new_rows_looks_at_keys_first(spark, cfg):
    """Facts: new keys only are inserted after a look at the keys; an existing key takes the full look."""
    from qlake import catalog, storage

    spec = _spec("mostly_new")
    drop_tables(spark, cfg, spec.name)
    catalog.ensure_table(spark, spec, cfg)
    catalog.append(spark, spark.createDataFrame([(1, "a")], COLUMNS), spec, cfg)
    new_only = spark.createDataFrame([(2, "b"), (3, "c")], COLUMNS)
    assert catalog.merge(spark, new_only, spec, keys=["id"], cfg=cfg, mostly_new=True) == (0, 2)
    both = spark.createDataFrame([(3, "C"), (4, "d"), (1, "a")], COLUMNS)  # 3 changed, 4 new, 1 as stored
    assert catalog.merge(spark, both, spec, keys=["id"], cfg=cfg, mostly_new=True) == (1, 1)
    assert _rows(spark, spec) == [(1, "a"), (2, "b"), (3, "C"), (4, "d")]
    nothing = spark.createDataFrame([], COLUMNS)
    before = storage.latest_version(spec.location(cfg))
    assert catalog.merge(spark, nothing, spec, keys=["id"], cfg=cfg, mostly_new=True) == (0, 0)
    assert storage.latest_version(spec.location(cfg)) == before  # no empty commit
    catalog.drop_table(spark, cfg, spec.name)


@pytest.mark.parametrize("rewrite_max_rows, operation", [(1_000_000, "WRITE"), (0, "MERGE")])
def test_an_atomic_merge_is_one_commit_whether_it_rewrites_or_merges(spark, cfg, monkeypatch, rewrite_max_rows,
                                                                     operation):
    """A small table is written anew, a big one MERGEd (the bound lowered to 0 here): the same rows either way.
    A row whose tracked columns did not change keeps its stored values, as a MERGE leaves it."""
    from deltalake import DeltaTable

    from qlake import catalog
    from qlake.catalog import TableSpec

    monkeypatch.setattr(catalog, "REWRITE_MAX_ROWS", rewrite_max_rows)
    columns = "id INT NOT NULL, label STRING, note STRING"
    spec = TableSpec(name=f"qtest.atomic_{operation.lower()}", columns=columns)
    drop_tables(spark, cfg, spec.name)
    catalog.append(spark, spark.createDataFrame([(1, "a", "n1"), (2, "b", "n2"), (3, "c", "n3")], columns), spec, cfg)
    before = DeltaTable(spec.location(cfg)).version()
    upsert = spark.createDataFrame([(2, "B", "new2"), (3, "c", "new3"), (4, "d", "n4")], columns)
    assert catalog.merge(spark, upsert, spec, keys=["id"], cfg=cfg, update_when_changed=["label"],
                         atomic=True) == (1, 1)
    assert _rows(spark, spec) == [(1, "a", "n1"), (2, "B", "new2"), (3, "c", "n3"), (4, "d", "n4")]
    commits = DeltaTable(spec.location(cfg)).history(limit=2)
    assert commits[0]["version"] == before + 1 and commits[0]["operation"] == operation
    catalog.drop_table(spark, cfg, spec.name)


def test_a_new_session_does_not_inherit_another_sessions_catalog_state(spark, cfg):
    """What the catalog knows (databases listed, tables ensured, tables created empty) belongs to one session
    object: a second session on the same engine starts knowing nothing, so its MERGE into a table another
    session created empty looks at the rows instead of inserting blindly (which would duplicate key 2)."""
    from qlake import catalog
    from qlake.catalog_state import CatalogState

    spec = _spec("per_session")
    drop_tables(spark, cfg, spec.name)
    catalog.ensure_table(spark, spec, cfg)
    assert catalog.created_empty(spark, spec)
    other = _second_session(spark)
    try:
        assert other.session_id != spark.session_id
        assert CatalogState.of(other) is not CatalogState.of(spark)
        assert CatalogState.of(other).ensured == set() and not catalog.created_empty(other, spec)
        catalog.merge(spark, spark.createDataFrame([(1, "a"), (2, "b")], COLUMNS), spec, keys=["id"], cfg=cfg)
        catalog.merge(other, other.createDataFrame([(2, "B"), (3, "c")], COLUMNS), spec, keys=["id"], cfg=cfg)
        assert _rows(spark, spec) == [(1, "a"), (2, "B"), (3, "c")]
        assert CatalogState.of(other).ensured == {(spec.name, spec.location(cfg))}
        assert not catalog.created_empty(spark, spec) and not catalog.created_empty(other, spec)
    finally:
        other.stop()
    # A table dropped in this process is forgotten by every session's state.
    catalog.drop_table(spark, cfg, spec.name)
    assert (spec.name, spec.location(cfg)) not in CatalogState.of(spark).ensured


def test_listings_learnt_ahead_are_the_metastores_and_spare_the_look_up(spark, cfg):
    """A run learns every layer's tables on a thread of its own as it starts (`list_ahead`); a table look-up
    afterwards needs no listing, and a database the metastore does not have is simply not listed."""
    from qlake import catalog
    from qlake.catalog_state import CatalogState

    spec = _spec("listed_ahead")
    drop_tables(spark, cfg, spec.name)
    catalog.ensure_table(spark, spec, cfg)
    other = _second_session(spark)  # its state knows nothing
    try:
        catalog.list_ahead(other, ("qtest", "qtest_missing")).join()
        state = CatalogState.of(other)
        tables = {r["tableName"] for r in spark.sql("SHOW TABLES IN qtest").collect() if not r["isTemporary"]}
        assert state.listed["qtest"] == tables and "listed_ahead" in tables
        assert "qtest_missing" not in state.databases
        catalog.ensure_table(other, spec, cfg)  # found in the listing: not created again, not taken as empty
        assert not catalog.created_empty(other, spec)
    finally:
        other.stop()
    catalog.drop_table(spark, cfg, spec.name)


def test_the_metastore_asked_directly_lists_what_the_engine_lists(spark, cfg):
    """qlake's own Sail: listings go to the metastore's Thrift API (no engine time), with the engine's answer."""
    from qlake import catalog, metastore_api
    from qlake.catalog_state import CatalogState

    spec = _spec("listed_directly")
    drop_tables(spark, cfg, spec.name)
    catalog.ensure_table(spark, spec, cfg)
    assert CatalogState.of(spark).metastore == cfg.metastore_hostport
    engine = {r["tableName"] for r in spark.sql("SHOW TABLES IN qtest").collect() if not r["isTemporary"]}
    assert metastore_api.tables(cfg.metastore_hostport, "qtest") == engine and "listed_directly" in engine
    assert {"default", "qtest"} <= metastore_api.databases(cfg.metastore_hostport)
    assert {r[0] for r in spark.sql("SHOW DATABASES").collect()} == metastore_api.databases(cfg.metastore_hostport)
    assert metastore_api.tables(cfg.metastore_hostport, "qtest_missing") == set()  # as the metastore answers
    # One call for every database: the same tables as a listing of each; a database with none is not in it.
    listing = metastore_api.tables_by_database(cfg.metastore_hostport)
    assert listing == {db: tables for db in metastore_api.databases(cfg.metastore_hostport)
                       if (tables := metastore_api.tables(cfg.metastore_hostport, db))}
    assert "listed_directly" in listing["qtest"]
    catalog.drop_table(spark, cfg, spec.name)
    assert "listed_directly" not in metastore_api.tables(cfg.metastore_hostport, "qtest")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(metastore_api.MetastoreError, match=f"the Hive metastore at 127.0.0.1:{port} does not answer"):
        metastore_api.databases(f"127.0.0.1:{port}")


def test_a_table_registered_again_keeps_and_merges_its_rows(spark, cfg):
    """The metastore lost the entry but the Delta folder is there: the next process registers the folder again
    and must treat its rows as existing (an upsert, not a blind insert)."""
    from qlake import catalog

    spec = _spec("registered_again")
    drop_tables(spark, cfg, spec.name)
    catalog.append(spark, spark.createDataFrame([(1, "a"), (2, "b")], COLUMNS), spec, cfg)
    spark.sql(f"DROP TABLE {spec.name}")  # unregisters only: the Delta folder stays
    assert Path(spec.location(cfg), "_delta_log").is_dir()
    merge_elsewhere = textwrap.dedent(f"""
        from qlake import catalog, spark
        from qlake.catalog import TableSpec
        session = spark.session()
        spec = TableSpec(name={spec.name!r}, columns={COLUMNS!r})
        catalog.merge(session, session.createDataFrame([(2, "b"), (3, "c")], spec.columns), spec, keys=["id"])
        spark.stop()
    """)
    out = subprocess.run([sys.executable, "-c", merge_elsewhere], capture_output=True, text=True, timeout=300,
                         env=dict(os.environ))
    assert out.returncode == 0, out.stderr[-3000:]
    assert _rows(spark, spec) == [(1, "a"), (2, "b"), (3, "c")]


def test_side_by_side_finishes_every_call_then_raises_the_first_error():
    import threading

    from qlake.spark import side_by_side

    finished = []
    release = threading.Event()

    def slow_ok():
        release.wait(5)
        finished.append("slow")
        return "slow"

    def fails(message):
        def call():
            release.set()
            raise ValueError(message)
        return call

    assert side_by_side(lambda: 1, lambda: 2) == [1, 2]
    with pytest.raises(ValueError, match="first"):
        side_by_side(slow_ok, fails("first"), fails("second"))
    assert finished == ["slow"]


# What Sail said when a metastore connection dropped under tables created side by side (a CI run, 2026-12-07).
DROPPED = ("Failed to fetch HMS table 'gold.dim_product': transport error: wait a idle connection error: "
           "RecvError(()), dial plan exhausted")


def test_catalog_statements_are_retried_when_the_metastore_connection_drops():
    from qlake.catalog import retry_metastore

    calls = []

    def flaky(failures: int, message: str = DROPPED):
        def call():
            calls.append(1)
            if len(calls) <= failures:
                raise RuntimeError(message)
            return "created"
        return call

    assert retry_metastore(flaky(2), pause_seconds=0) == "created" and len(calls) == 3
    calls.clear()
    with pytest.raises(RuntimeError, match="dial plan exhausted"):
        retry_metastore(flaky(3), pause_seconds=0)
    assert len(calls) == 3  # three attempts, then the error as it came
    calls.clear()
    with pytest.raises(RuntimeError, match="TABLE_OR_VIEW_NOT_FOUND"):
        retry_metastore(flaky(1, "[TABLE_OR_VIEW_NOT_FOUND] gold.nope"), pause_seconds=0)
    assert len(calls) == 1  # any other error is not retried


def test_pipeline_jobs_refuse_to_run_under_another(cfg):
    from qlake import runlog

    with runlog.job_lock(cfg, "hourly") as acquired:
        assert acquired
        out = subprocess.run([sys.executable, "-m", "cli", "run", "gold"], capture_output=True, text=True, timeout=300,
                             env=dict(os.environ))
    assert out.returncode != 0
    assert "gold: an hourly run (or another silver/gold/replay run) is in progress" in out.stderr


def test_row_schema_is_the_spec_without_not_null_and_builds_rows(spark):
    """Rows written by Python take their schema from the TableSpec: same names, order and types, all nullable."""
    from decimal import Decimal

    from qlake.catalog import TableSpec

    spec = TableSpec(name="qtest.row_schema", columns="id INT NOT NULL, amount DECIMAL(12,2), "
                                                      "tags MAP<STRING, STRING> NOT NULL, label STRING")
    assert spec.row_schema() == "id INT, amount DECIMAL(12,2), tags MAP<STRING, STRING>, label STRING"
    df = spark.createDataFrame([{"id": 1, "amount": Decimal("2.50"), "tags": {"k": "v"}, "label": None}],
                               spec.row_schema())
    assert [(f.name, f.dataType.simpleString(), f.nullable) for f in df.schema.fields] == [
        ("id", "int", True), ("amount", "decimal(12,2)", True), ("tags", "map<string,string>", True),
        ("label", "string", True),
    ]
    assert [tuple(r) for r in df.collect()] == [(1, Decimal("2.50"), {"k": "v"}, None)]


def test_row_struct_of_plain_types_is_what_the_engine_parses_from_the_row_schema(spark):
    """Plain column types are built without the engine's DDL parse (a round trip per createDataFrame); any other
    type leaves the parse to the engine."""
    from qlake.catalog import TableSpec

    spec = TableSpec(name="qtest.row_struct", columns="id BIGINT NOT NULL, n INT, label STRING, at TIMESTAMP, "
                                                      "day DATE, ok BOOLEAN NOT NULL, x DOUBLE")
    assert spec.row_struct() == spark.createDataFrame([], spec.row_schema()).schema
    other = TableSpec(name="qtest.row_struct_other", columns="id INT NOT NULL, amount DECIMAL(12,2)")
    assert other.row_struct() == "id INT, amount DECIMAL(12,2)"
