"""All of qlake's configuration, in one place.

Every setting comes from an environment variable with a local default, so the same job code runs on a laptop
(embedded Sail, Derby metastore, noida-db broker, ``./lake``) and on the cluster (Spark Connect, PostgreSQL-backed
metastore, Apache Kafka, ``hdfs://``). Nothing else in the code base reads the environment or builds a path.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

LAYERS = ("bronze", "silver", "gold", "ops")
# Sail's runtimes qlake starts in-process: ``local`` (one runtime, threads) or ``local-cluster`` (Sail's driver +
# workers talking gRPC inside this process: the same runtime as its Kubernetes cluster mode, on one machine).
ENGINE_MODES = ("local", "local-cluster")
# The checkout (or installed tree) that holds expectations/ beside the packages.
REPO_ROOT = Path(__file__).resolve().parents[1]


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


def _env_number(name: str, default, parse):
    raw = _env(name, str(default))
    try:
        return parse(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a {'whole ' if parse is int else ''}number") from exc


def _env_int(name: str, default: int) -> int:
    return _env_number(name, default, int)


def _env_float(name: str, default: float) -> float:
    return _env_number(name, default, float)


def _is_uri(path: str) -> bool:
    return "://" in path


@dataclass(frozen=True)
class Settings:
    """Resolved settings. Build with :func:`settings` (reads the environment) or directly in tests."""

    home: str
    spark_remote: str | None
    host: str
    metastore_uri: str | None
    metastore_port: int
    kafka_bootstrap: str | None
    kafka_port: int
    kafka_topic: str
    thrift_port: int
    hourly_cron: str
    daily_cron: str
    expectations_dir: str
    # `qlake stream compact` in `qlake schedule`: every 15 minutes keeps a table at ~1,800 small files at most
    # between compactions at 1,000 ev/s and a 0.5 s trigger (bench/results_stream_compaction.json)
    stream_compact_cron: str = "*/15 * * * *"
    # The drop folder's limits (bronze.delivery): bigger files and longer fields are rejected with the limit named.
    max_file_bytes: int = 4 << 30
    max_field_chars: int = 16 << 20
    # A delivered file whose size or time changes within this window is still being written: left for next run.
    settle_seconds: float = 0.2
    extra: dict[str, str] = field(default_factory=dict)
    # ---- embedded Sail's runtime (ignored with QLAKE_SPARK_REMOTE: that server has its own) ----------------------
    engine_mode: str = "local"
    engine_workers: int = 2  # local-cluster: workers started up front
    # local-cluster: the most workers Sail may run; 0 = no cap. A cap can fail a query: Sail schedules a pipelined
    # "task region" all at once and refuses one needing more slots than max workers x task slots.
    engine_max_workers: int = 0
    engine_worker_task_slots: int = 0  # local-cluster: tasks one worker runs at once; 0 = Sail's default
    engine_batch_rows: int = 0  # rows per Arrow batch inside Sail; 0 = Sail's default (8192)
    # Sail's operator memory (sorts, aggregates, join tables), shared fairly by the operators of running queries:
    # past its share a sort or an aggregate spills to temporary files instead of growing with the batch, so a
    # 10M-row hour peaks at 2.3 GB (bench/scale.py). 0 = unbounded (Sail's default): memory grows with rows.
    engine_memory_mb: int = 1536
    # `qlake run ...` commands run in children of the lake's warm runner (cli.runner); off: each in its own process
    runner: bool = True

    def __post_init__(self) -> None:
        if self.engine_mode not in ENGINE_MODES:
            raise ValueError(f"QLAKE_ENGINE_MODE={self.engine_mode!r}: expected one of {', '.join(ENGINE_MODES)}")
        if self.engine_workers < 1:
            raise ValueError(f"QLAKE_ENGINE_WORKERS={self.engine_workers}: a cluster needs at least one worker")
        if self.engine_max_workers and self.engine_max_workers < self.engine_workers:
            raise ValueError(f"QLAKE_ENGINE_MAX_WORKERS={self.engine_max_workers} is below "
                             f"QLAKE_ENGINE_WORKERS={self.engine_workers}")
        if self.engine_worker_task_slots < 0 or self.engine_batch_rows < 0:
            raise ValueError("QLAKE_ENGINE_WORKER_TASK_SLOTS / QLAKE_ENGINE_BATCH_ROWS must be 0 (default) or more")
        if self.engine_memory_mb < 0:
            raise ValueError(f"QLAKE_ENGINE_MEMORY_MB={self.engine_memory_mb}: must be 0 (unbounded) or more")

    # ---- where things live -------------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """A path under the lake root; a plain local path or an ``scheme://`` URI, never ``file:`` mixed in."""
        if _is_uri(self.home):
            return "/".join([self.home.rstrip("/"), *parts])
        return str(Path(self.home, *parts))

    @property
    def is_local(self) -> bool:
        return not _is_uri(self.home)

    def table_location(self, database: str, table: str) -> str:
        return self.path("tables", database, table)

    @property
    def landing_dir(self) -> str:
        return self.path("landing")

    @property
    def incoming_dir(self) -> str:
        """The drop folder `qlake schedule` ingests from every hour (local: the sender copies files here)."""
        return _env("QLAKE_INCOMING", str(Path(self.local_state_root, "incoming")))

    @property
    def quarantine_dir(self) -> str:
        return self.path("quarantine")

    @property
    def run_dir(self) -> str:
        """PID and log files of the services qlake starts. Always local: a process runs on this machine."""
        return str(Path(self.local_state_root, "run"))

    @property
    def metastore_dir(self) -> str:
        return str(Path(self.local_state_root, "metastore"))

    @property
    def kafka_dir(self) -> str:
        return str(Path(self.local_state_root, "kafka"))

    @property
    def checkpoint_dir(self) -> str:
        return self.path("checkpoints")

    @property
    def dq_dir(self) -> str:
        return str(Path(self.local_state_root, "dq"))

    @property
    def exports_dir(self) -> str:
        # The sales team picks the export up from a local folder, also on the cluster.
        return str(Path(self.local_state_root, "exports"))

    @property
    def reports_dir(self) -> str:
        return str(Path(self.local_state_root, "reports"))

    @property
    def local_state_root(self) -> str:
        """Local folder for state that must sit on this machine's disk (services, exports, reports)."""
        if self.is_local:
            return self.home
        return _env("QLAKE_LOCAL_STATE", str(Path.cwd() / ".qlake"))

    @property
    def openlineage_url(self) -> str | None:
        """Marquez (or any OpenLineage HTTP endpoint): events go there instead of the local JSON-lines file."""
        return os.environ.get("QLAKE_OPENLINEAGE_URL", "").strip() or None

    @property
    def openlineage_file(self) -> str:
        """The JSON-lines file OpenLineage events are appended to when no URL is set (one event a line)."""
        return _env("QLAKE_OPENLINEAGE_FILE", str(Path(self.run_dir, "openlineage.jsonl")))

    @property
    def openlineage_namespace(self) -> str:
        return _env("QLAKE_OPENLINEAGE_NAMESPACE", "qlake")

    @property
    def stale_after(self) -> dict[str, str]:
        """Per-table overrides of the declared update interval: ``QLAKE_STALE_AFTER="gold.fact_sales=3h,ops.*=1d"``."""
        raw = os.environ.get("QLAKE_STALE_AFTER", "")
        pairs = [p.split("=", 1) for p in raw.split(",") if p.strip()]
        bad = [p[0] for p in pairs if len(p) != 2]
        if bad:
            raise ValueError(f"QLAKE_STALE_AFTER: expected table=interval pairs, got {raw!r}")
        return {name.strip(): value.strip() for name, value in pairs}

    # ---- endpoints ---------------------------------------------------------------------------------------------
    @property
    def metastore_hostport(self) -> str:
        """``host:port`` of the Hive metastore (Sail wants it without a scheme)."""
        if self.metastore_uri:
            return self.metastore_uri.split("://", 1)[-1]
        return f"{self.host}:{self.metastore_port}"

    @property
    def manages_metastore(self) -> bool:
        """True when qlake starts the metastore itself (no external ``QLAKE_METASTORE_URI``)."""
        return not self.metastore_uri

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{self.host}:{self.kafka_port}"

    @property
    def manages_broker(self) -> bool:
        return not self.kafka_bootstrap


def settings() -> Settings:
    """Read the environment now (not at import time, so tests and the CLI can change it)."""
    home = _env("QLAKE_HOME", "./lake")
    if not _is_uri(home):
        home = str(Path(home).expanduser().resolve())
    return Settings(
        home=home,
        spark_remote=os.environ.get("QLAKE_SPARK_REMOTE") or None,
        host=_env("QLAKE_HOST", "127.0.0.1"),
        metastore_uri=os.environ.get("QLAKE_METASTORE_URI") or None,
        metastore_port=_env_int("QLAKE_METASTORE_PORT", 9083),
        kafka_bootstrap=os.environ.get("QLAKE_KAFKA_BOOTSTRAP") or None,
        kafka_port=_env_int("QLAKE_KAFKA_PORT", 9092),
        kafka_topic=_env("QLAKE_KAFKA_TOPIC", "app_events"),
        thrift_port=_env_int("QLAKE_THRIFT_PORT", 10000),
        hourly_cron=_env("QLAKE_HOURLY_CRON", "5 * * * *"),
        daily_cron=_env("QLAKE_DAILY_CRON", "30 0 * * *"),
        stream_compact_cron=_env("QLAKE_STREAM_COMPACT_CRON", "*/15 * * * *"),
        expectations_dir=str(Path(_env("QLAKE_EXPECTATIONS_DIR", str(REPO_ROOT / "expectations"))).resolve()),
        max_file_bytes=_env_int("QLAKE_MAX_FILE_BYTES", 4 << 30),
        max_field_chars=_env_int("QLAKE_MAX_FIELD_CHARS", 16 << 20),
        settle_seconds=_env_float("QLAKE_SETTLE_SECONDS", 0.2),
        engine_mode=_env("QLAKE_ENGINE_MODE", "local").lower(),
        engine_workers=_env_int("QLAKE_ENGINE_WORKERS", 2),
        engine_max_workers=_env_int("QLAKE_ENGINE_MAX_WORKERS", 0),
        engine_worker_task_slots=_env_int("QLAKE_ENGINE_WORKER_TASK_SLOTS", 0),
        engine_batch_rows=_env_int("QLAKE_ENGINE_BATCH_ROWS", 0),
        engine_memory_mb=_env_int("QLAKE_ENGINE_MEMORY_MB", 1536),
        runner=_env("QLAKE_RUNNER", "on").lower() not in ("off", "0", "false", "no"),
    )
