"""`qlake serve`: a HiveServer2 endpoint (pyhive, beeline, BI tools) over every lake table's current snapshot.

The Spark Thrift Server from the pyspark wheel, started inside a classic Spark session of this process
(``HiveThriftServer2.startWithContext``). Each Delta table under the lake root is registered in that session's
catalog as ``<db>.<table>`` with its own snapshot reader (:mod:`qlake.delta_source`), which lists the live Delta
files at every query: a client sees a MERGE's result on its next query, with no refresh. A poll every few
seconds registers tables created since start and re-registers a table whose schema changed.

Limits (documented in the README): read-only; single-session mode (all clients share one Spark session, so
``SET`` and temporary views are shared); no authentication (binds 127.0.0.1 by default).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from qlake import serve_sql
from qlake.config import LAYERS, Settings


def discover_tables(cfg: Settings) -> dict[str, str]:
    """``db.table`` -> location for every Delta table under the lake's tables folder."""
    import pyarrow.fs as pafs

    root = cfg.path("tables")
    if cfg.is_local:
        fs, base = pafs.LocalFileSystem(), str(Path(root))
    else:  # pragma: no cover - cluster storage
        fs, base = pafs.FileSystem.from_uri(root)
    found = {}
    for db in LAYERS:
        infos = fs.get_file_info(pafs.FileSelector(f"{base}/{db}", allow_not_found=True))
        for info in infos:
            if info.type == pafs.FileType.Directory and \
                    fs.get_file_info(f"{info.path}/_delta_log").type == pafs.FileType.Directory:
                name = info.path.rstrip("/").rsplit("/", 1)[-1]
                found[f"{db}.{name}"] = cfg.table_location(db, name)
    return found


class Registry:
    """Keeps the classic session's catalog in step with the lake's Delta tables."""

    def __init__(self, spark, cfg: Settings):
        self.spark = spark
        self.cfg = cfg
        self.ddl: dict[str, str] = {}

    def sync(self, only: set[str] | None = None) -> list[str]:
        """Register new or changed tables (``only``: just these) and return their names."""
        from qlake import delta_source

        changed = []
        for table, location in sorted(discover_tables(self.cfg).items()):
            if only is not None and table not in only:
                continue
            try:
                ddl = delta_source.ddl_of(delta_source.delta_arrow_schema(location))
            except Exception as exc:  # noqa: BLE001 - a table being created right now; next poll
                print(f"serve: skipping {table}: {exc}", file=sys.stderr)
                continue
            if self.ddl.get(table) == ddl:
                continue
            db = table.split(".")[0]
            self.spark.dataSource.register(delta_source.source_for(table, location))
            self.spark.sql(f"CREATE DATABASE IF NOT EXISTS {db}")
            self.spark.sql(f"DROP TABLE IF EXISTS {table}")
            self.spark.sql(f"CREATE TABLE {table} USING {delta_source.source_name(table)}")
            self.ddl[table] = ddl
            changed.append(table)
        return changed


def classic_session(cfg: Settings, app_name: str = "qlake-serve", with_rewriter: bool = True):
    """A local classic Spark session (never in a process that opened Spark Connect), with `qlake serve`'s parser
    extension (:mod:`qlake.serve_sql`) when a JDK can build it."""
    # A parent that used Spark Connect leaves these in our environment; they would turn this into a client.
    for var in ("SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "SPARK_LOCAL_REMOTE"):
        os.environ.pop(var, None)
    os.environ.setdefault("SPARK_LOCAL_IP", cfg.host)
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers need this venv (pyarrow, deltalake, qlake)
    from pyspark.sql import SparkSession

    from qlake.services import spark_home

    builder = SparkSession.builder
    jar = serve_sql.extension_jar(spark_home()) if with_rewriter else None
    if jar:
        builder = builder.config("spark.driver.extraClassPath", jar).config(
            "spark.sql.extensions", serve_sql.EXTENSIONS_CLASS)
    return (
        builder.master("local[2]")
        .appName(app_name)
        .config("spark.sql.catalogImplementation", "in-memory")
        .config("spark.sql.hive.thriftServer.singleSession", "true")
        .config("spark.hadoop.hive.server2.thrift.port", str(cfg.thrift_port))
        .config("spark.hadoop.hive.server2.thrift.bind.host", cfg.host)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", cfg.host)
        .getOrCreate()
    )


def _warm_up(spark, tables: list[str]) -> None:
    """Read one small table before clients connect: the first query starts the Python readers (seconds), which
    later queries reuse."""
    if tables:
        small = "gold.dim_offer" if "gold.dim_offer" in tables else tables[0]
        spark.table(small).limit(1).collect()


def serve(cfg: Settings, poll_seconds: float = 5.0, ready: threading.Event | None = None,
          stop: threading.Event | None = None) -> None:
    spark = classic_session(cfg)
    spark.sparkContext.setLogLevel("WARN")
    registry = Registry(spark, cfg)
    tables = registry.sync()
    if spark.conf.get("spark.sql.extensions", "") == serve_sql.EXTENSIONS_CLASS:
        serve_sql.install(spark, serve_sql.Rewriter(spark, cfg, lambda: discover_tables(cfg)))
    _warm_up(spark, tables)
    jvm = spark._jvm
    jvm.org.apache.spark.sql.hive.thriftserver.HiveThriftServer2.startWithContext(spark._jsparkSession.sqlContext())
    print(f"HiveServer2 on {cfg.host}:{cfg.thrift_port} — {len(tables)} tables "
          f"(jdbc:hive2://{cfg.host}:{cfg.thrift_port}/default)", flush=True)
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, lambda *_: stop.set())
        except ValueError:  # not the main thread (tests)
            pass
    if ready:
        ready.set()
    while not stop.wait(poll_seconds):
        for table in registry.sync():
            print(f"serve: registered {table}", flush=True)
    spark.stop()
