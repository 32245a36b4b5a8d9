"""The two engines of ``qlake stream``: the tables are registered through Spark Connect (Sail) in a child process,
the query runs on classic Spark (``local[2]``) in the job's own process.

Measured on this stack: a process that opened a Spark Connect session cannot build a classic one, so the
registration (``CREATE TABLE IF NOT EXISTS ... USING delta LOCATION``) runs in ``python -m streaming.engine
register``, started before the classic JVM so the two start-ups overlap.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from deltalake import DeltaTable
from pyspark.sql import SparkSession

from qlake import spark as connect
from qlake.catalog import ensure_table
from qlake.config import Settings, settings as load_settings
from streaming.delta_io import STREAM_TABLE_PROPERTIES, keep_log_bounded, spec_schema
from streaming.kafka_source import KafkaDataSource
from streaming.outputs import tables

log = logging.getLogger("qlake.stream")


def repo_root() -> str:
    """The folder holding the ``streaming`` package: Python workers started by the JVM must import it."""
    return str(Path(__file__).resolve().parent.parent)


# ---- registration (Spark Connect, in a child process) -----------------------------------------------------------
def start_registration() -> subprocess.Popen:
    """Create + register every stream table via the engine, in a child process (keeps this one Connect-free).

    Started before the classic JVM so the two start-ups overlap; :func:`finish_registration` waits for it.
    """
    env = dict(os.environ, PYTHONPATH=_pythonpath())
    return subprocess.Popen(
        [sys.executable, "-m", "streaming.engine", "register"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def finish_registration(settings: Settings, child: subprocess.Popen, timeout: float = 300) -> None:
    _, stderr = child.communicate(timeout=timeout)
    if child.returncode != 0:
        raise RuntimeError(f"registering the stream tables failed:\n{stderr[-4000:]}")
    for spec in tables():
        location = settings.table_location(spec.database, spec.table)
        if not DeltaTable.is_deltatable(location):
            # Registered earlier but its folder is gone (lake wiped, metastore kept): CREATE TABLE IF NOT EXISTS
            # was a no-op, so lay down the empty Delta table the entry points at, with the exact schema.
            log.warning("%s: no Delta table at %s; creating it empty", spec.name, location)
            DeltaTable.create(location, schema=spec_schema(spec), description=spec.comment or None)
        if keep_log_bounded(location):
            log.info("%s: Delta log retention set to %s", spec.name, STREAM_TABLE_PROPERTIES)


def register_tables(settings: Settings) -> None:
    finish_registration(settings, start_registration())


def _register_in_this_process(settings: Settings) -> None:
    spark = connect.session(settings)
    try:
        for spec in tables():
            ensure_table(spark, spec, settings)
    finally:
        connect.stop()


def _pythonpath() -> str:
    parts = [repo_root(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return os.pathsep.join(dict.fromkeys(parts))


# ---- the classic engine -----------------------------------------------------------------------------------------
def classic_session(settings: Settings) -> SparkSession:
    """``local[2]`` classic Spark bound to ``settings.host``; refuses to run in a Spark Connect process."""
    if os.environ.get("SPARK_CONNECT_MODE_ENABLED") or _connect_session_open():
        raise RuntimeError("the streaming job needs its own process: this one already opened a Spark Connect session")
    # The environment is read when the JVM starts: set it before the builder runs.
    os.environ["SPARK_LOCAL_IP"] = settings.host
    os.environ["PYTHONPATH"] = _pythonpath()
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    spark = (
        SparkSession.builder.master("local[2]")  # 2 cores on the target machine; workers share them
        .appName("qlake-stream")
        .config("spark.driver.host", settings.host)
        .config("spark.driver.bindAddress", settings.host)
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.sql.session.timeZone", "UTC")  # event times keep their wall-clock digits (see app_events)
        .config("spark.sql.mapKeyDedupPolicy", "LAST_WIN")  # a drift field may collide with a metadata.* key
        .config("spark.python.worker.reuse", "true")
        # The checkpoint's offset and commit logs are two small files a micro-batch, written to a temp name and
        # renamed (atomic either way): on a local lake, without Hadoop's .crc side files they cost ~60 instead of
        # ~90-105 ms each (measured 2026-12-06, README "Streaming"). hdfs:// checkpoints are not affected.
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
        .config("spark.hadoop.fs.AbstractFileSystem.file.impl", "org.apache.hadoop.fs.local.RawLocalFs")
        .config("spark.driver.memory", "2g")  # the micro-batch cache and the Arrow copies for deltalake share it
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    spark.dataSource.register(KafkaDataSource)
    return spark


def _connect_session_open() -> bool:
    return getattr(connect, "_session", None) is not None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["register"]:
        _register_in_this_process(load_settings())
        return 0
    raise SystemExit("usage: python -m streaming.engine register   (the job itself runs via `qlake stream`)")


if __name__ == "__main__":
    sys.exit(main())
