"""One way to get a Spark session: Spark Connect, to embedded Sail (default) or to ``QLAKE_SPARK_REMOTE``.

Sail runs in this process and uses the Hive metastore as its catalog, so databases and tables persist across
processes and restarts. One session per process: :func:`session` returns the same one on every call.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import SparkSession

from qlake.catalog_state import CatalogState
from qlake.config import Settings, settings as load_settings
from qlake.services import ensure_metastore

# Windows over a whole file or table are deliberate here (file order, SCD2 history); the warning is noise.
warnings.filterwarnings("ignore", message=".*No Partition Defined for Window operation.*")

_lock = threading.Lock()
_session: SparkSession | None = None
_server = None  # the in-process Sail server, when we started one
_session_key: tuple | None = None
_remote: str | None = None  # the session's Spark Connect address


def _start_sail(cfg: Settings) -> str:
    """Start Sail in-process with the Hive metastore catalog and return its ``sc://`` address."""
    global _server
    # Sail reads its configuration from the environment when the server is created.
    os.environ["SAIL_CATALOG__LIST"] = f'[{{name="hms", type="hms", uris=["{cfg.metastore_hostport}"]}}]'
    os.environ["SAIL_CATALOG__DEFAULT_CATALOG"] = "hms"
    os.environ.setdefault("RUST_LOG", "error")  # Sail logs every session at INFO; quiet unless asked
    os.environ.update(sail_runtime_env(cfg))
    for name in _SAIL_RUNTIME_VARS - set(sail_runtime_env(cfg)):
        os.environ.pop(name, None)  # a setting left from an earlier session must not leak into this one
    server = load_engine_library().SparkConnectServer(cfg.host, 0)
    server.start(background=True)
    _server = server
    host, port = server.listening_address
    return f"sc://{host}:{port}"


def load_engine_library():
    """Sail's native library (``pysail.spark``), loaded with the allocator settings qlake runs it with.

    Sail's allocator (mimalloc, which reads its options when the library loads) backs its arenas with transparent
    huge pages: the kernel zeroes 2 MB for every fresh arena, again after each purge. That was 16% of an hourly
    run's CPU samples (perf) and 0.9-1.9 s of system time a run; with 4 KiB pages, 0.5-0.6 s, and the hour 0.26 s
    shorter (median of five runs each, alternating, 2026-12-07). The warm runner loads it this way too: its
    children inherit the library as loaded.
    """
    os.environ.setdefault("MIMALLOC_ALLOW_THP", "0")
    import pysail.spark  # the engine's native library: a remote engine never loads it

    return pysail.spark


_SAIL_RUNTIME_VARS = {"SAIL_MODE", "SAIL_CLUSTER__WORKER_INITIAL_COUNT", "SAIL_CLUSTER__WORKER_MAX_COUNT",
                      "SAIL_CLUSTER__WORKER_TASK_SLOTS", "SAIL_EXECUTION__BATCH_SIZE",
                      "SAIL_RUNTIME__MEMORY_POOL__TYPE", "SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE",
                      "SAIL_PARQUET__MAX_ROW_GROUP_SIZE"}
# With bounded operator memory, Parquet row groups of 128 Ki rows instead of 1 Mi: a writer holds its open row
# group in memory outside the pool (alone, at 2M rows, it lowered silver's peak from 2.00 to 1.87 GB).
BOUNDED_ROW_GROUP_ROWS = 128 * 1024


def sail_runtime_env(cfg: Settings) -> dict[str, str]:
    """The Sail settings (environment variables Sail reads at server start) for qlake's engine settings."""
    env = {"SAIL_MODE": cfg.engine_mode}
    if cfg.engine_mode == "local-cluster":
        env["SAIL_CLUSTER__WORKER_INITIAL_COUNT"] = str(cfg.engine_workers)
        if cfg.engine_max_workers:
            env["SAIL_CLUSTER__WORKER_MAX_COUNT"] = str(cfg.engine_max_workers)
        if cfg.engine_worker_task_slots:
            env["SAIL_CLUSTER__WORKER_TASK_SLOTS"] = str(cfg.engine_worker_task_slots)
    if cfg.engine_batch_rows:
        env["SAIL_EXECUTION__BATCH_SIZE"] = str(cfg.engine_batch_rows)
    if cfg.engine_memory_mb:
        # "fair": each spilling operator gets an equal share (a greedy pool lets the first sort take it all
        # and the next one fail to allocate its merge buffer; seen at 10M rows).
        env["SAIL_RUNTIME__MEMORY_POOL__TYPE"] = "fair"
        env["SAIL_RUNTIME__MEMORY_POOL__FAIR__MAX_SIZE"] = str(cfg.engine_memory_mb << 20)
        env["SAIL_PARQUET__MAX_ROW_GROUP_SIZE"] = str(BOUNDED_ROW_GROUP_ROWS)
    return env


def engine_name(cfg: Settings | None = None) -> str:
    """The engine: embedded Sail, or the Connect server at QLAKE_SPARK_REMOTE."""
    cfg = cfg or load_settings()
    return "spark-connect" if cfg.spark_remote else "sail"


def engine_description(cfg: Settings | None = None) -> str:
    """What ``qlake status`` and the notebooks print: the engine and the runtime mode it runs in."""
    cfg = cfg or load_settings()
    if cfg.spark_remote:
        return f"spark-connect ({cfg.spark_remote})"
    if cfg.engine_mode == "local-cluster":
        slots = f" x {cfg.engine_worker_task_slots} task slots" if cfg.engine_worker_task_slots else ""
        cap = f", at most {cfg.engine_max_workers}" if cfg.engine_max_workers else ""
        return f"sail local-cluster ({cfg.engine_workers} workers{slots}{cap})"
    return "sail local"


def session(cfg: Settings | None = None) -> SparkSession:
    """The process's Spark Connect session; starts the metastore (if qlake manages it) and Sail when needed."""
    global _session, _session_key, _remote
    cfg = cfg or load_settings()
    key = (cfg.spark_remote, cfg.metastore_hostport, tuple(sorted(sail_runtime_env(cfg).items())))
    with _lock:
        if _session is not None and _session_key == key:
            return _session
        if _session is not None:
            stop()
        if cfg.spark_remote:
            remote = cfg.spark_remote
        else:
            ensure_metastore(cfg)
            remote = _start_sail(cfg)
        _session = SparkSession.builder.remote(remote).getOrCreate()
        _session_key, _remote = key, remote
        if not cfg.spark_remote:  # Sail's catalog is the metastore qlake configured (SAIL_CATALOG__LIST above)
            CatalogState.of(_session).metastore = cfg.metastore_hostport
        configure(_session)
        return _session


# Settings both engines understand, for every session qlake opens (the GX worker's too): results reproducible and
# exact, timestamps in UTC.
SESSION_CONF = {"spark.sql.session.timeZone": "UTC"}
# PySpark's call sites: by default it walks the Python stack on every Column and function call, to name the
# user's line (or notebook cell) in an engine error, and imports IPython to filter its frames. Jobs report errors
# in their own words, and a plan's columns cost a quarter without it (36 column calls: 1.4 -> 0.35 ms of CPU,
# 2026-12-07), so only a notebook or a REPL keeps them. PySpark reads the setting once per process, at the first
# Column call made with a session.
CALL_SITES = "spark.python.sql.dataFrameDebugging.enabled"


def configure(spark: SparkSession) -> None:
    interactive = hasattr(sys, "ps1") or "ipykernel" in sys.modules
    for key, value in {**SESSION_CONF, CALL_SITES: str(interactive).lower()}.items():
        spark.conf.set(key, value)


def remote_address() -> str:
    """The ``sc://`` address of the process's session (another process can connect to the same engine)."""
    if _remote is None:
        raise RuntimeError("no Spark session in this process yet")
    return _remote


def side_by_side(*calls: Callable[[], object], workers: int = 4) -> list:
    """Run independent engine calls concurrently on the shared session; return their results in order.

    A write of a small table is mostly round trips (metastore, Delta log, commit), not compute, so independent
    writes overlap well even on two cores; a Spark Connect session serves concurrent requests. Every call runs
    to its end (none is left half-done behind an error); then the first error, in call order, is raised.
    """
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(calls)))) as pool:
        futures = [pool.submit(call) for call in calls]
    for future in futures:
        if future.exception() is not None:
            raise future.exception()
    return [future.result() for future in futures]


def stop() -> None:
    """Stop the session and the in-process Sail server (safe to call twice)."""
    global _session, _server, _session_key
    if _session is not None:
        try:
            _session.stop()
        except Exception:  # noqa: BLE001 - stopping a dead connection must not mask the real error
            pass
        _session = None
        _session_key = None
    if _server is not None:
        try:
            _server.stop()
        except Exception:  # noqa: BLE001
            pass
        _server = None


atexit.register(stop)
