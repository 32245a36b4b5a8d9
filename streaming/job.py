"""The app events streaming job: ``qlake_kafka`` -> parse -> watermark -> ``foreachBatch`` into Delta.

Process model (measured on this stack): a process that opened a Spark Connect session cannot build a
classic one. So ``qlake stream`` first registers the tables in the metastore from a short child process (Sail,
``CREATE TABLE IF NOT EXISTS ... USING delta LOCATION``), then runs the classic engine (``local[2]``) in its own
process. Writes go through ``deltalake`` with app transactions (see ``delta_io``): exactly once per table, even
when a batch is replayed after a crash.

Per micro-batch: one Spark job (read Kafka, parse, validate, type; it also feeds the watermark) returns the
batch as Arrow to the driver, which writes, in this order and each exactly once:
  bronze.app_events (all records) -> bronze.app_events_rejected -> silver.app_events -> the three gold reports.

Operations: per-batch log lines (rows, lag per partition, duration) on stderr and ``run/stream.log``; state for
``qlake stream status`` in ``run/stream-state.json``; one JSON line per batch in ``run/stream-batches.jsonl``.
SIGTERM / Ctrl-C stop the query after the batch in progress (a batch that had not started is left to the next
run, uncommitted, and replayed then).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from qlake.config import Settings, settings as load_settings
from streaming import lineage

log = logging.getLogger("qlake.stream")

QUERY_NAME = "qlake_app_events"
DEFAULT_WATERMARK = "10 minutes"
DEFAULT_TRIGGER = "1 second"


@dataclass(frozen=True)
class StreamOptions:
    available_now: bool = False
    max_offsets_per_trigger: int | None = None
    trigger_interval: str = DEFAULT_TRIGGER
    starting_offsets: str = "earliest"
    watermark: str = DEFAULT_WATERMARK
    # Test-only fault injection: "<table>:<batch id>" SIGKILLs the job right after that table's commit for that
    # batch, i.e. mid-batch, the worst moment for exactly-once (hidden CLI option --inject-fault).
    fault: str | None = None


# ---- where the job keeps its files ------------------------------------------------------------------------------
def checkpoint_location(settings: Settings) -> str:
    return settings.path("checkpoints", "app_events")


def run_file(settings: Settings, name: str) -> Path:
    return Path(settings.run_dir, name)


def pid_file(settings: Settings) -> Path:
    return run_file(settings, "stream.pid")


def state_file(settings: Settings) -> Path:
    return run_file(settings, "stream-state.json")


def batches_file(settings: Settings) -> Path:
    return run_file(settings, "stream-batches.jsonl")


def log_file(settings: Settings) -> Path:
    return run_file(settings, "stream.log")


def tables():
    from streaming import app_events, funnel, revenue, top_products

    return (app_events.BRONZE, app_events.REJECTED, app_events.SILVER, funnel.SPEC, top_products.SPEC, revenue.SPEC)


def reports():
    from streaming import funnel, revenue, top_products

    return (funnel.REPORT, top_products.REPORT, revenue.REPORT)


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
        [sys.executable, "-m", "streaming.job", "register"], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )


def finish_registration(settings: Settings, child: subprocess.Popen, timeout: float = 300) -> None:
    _, stderr = child.communicate(timeout=timeout)
    if child.returncode != 0:
        raise RuntimeError(f"registering the stream tables failed:\n{stderr[-4000:]}")
    from deltalake import DeltaTable

    from streaming.delta_io import spec_schema

    for spec in tables():
        location = settings.table_location(spec.database, spec.table)
        if not DeltaTable.is_deltatable(location):
            # Registered earlier but its folder is gone (lake wiped, metastore kept): CREATE TABLE IF NOT EXISTS
            # was a no-op, so lay down the empty Delta table the entry points at, with the exact schema.
            log.warning("%s: no Delta table at %s; creating it empty", spec.name, location)
            DeltaTable.create(location, schema=spec_schema(spec), description=spec.comment or None)


def register_tables(settings: Settings) -> None:
    finish_registration(settings, start_registration())


def _register_in_this_process(settings: Settings) -> None:
    from qlake.catalog import ensure_table
    from qlake.spark import session, stop

    spark = session(settings)
    try:
        for spec in tables():
            ensure_table(spark, spec, settings)
    finally:
        stop()


def _pythonpath() -> str:
    parts = [repo_root(), *[p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]]
    return os.pathsep.join(dict.fromkeys(parts))


# ---- the classic engine -----------------------------------------------------------------------------------------
def classic_session(settings: Settings):
    """``local[2]`` classic Spark bound to ``settings.host``; refuses to run in a Spark Connect process."""
    from pyspark.sql import SparkSession

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
        .config("spark.driver.memory", "2g")  # the micro-batch cache and the Arrow copies for deltalake share it
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("WARN")
    from streaming.kafka_source import KafkaDataSource

    spark.dataSource.register(KafkaDataSource)
    return spark


def _connect_session_open() -> bool:
    spark_module = sys.modules.get("qlake.spark")
    return bool(spark_module is not None and getattr(spark_module, "_session", None) is not None)


class StopRequested(RuntimeError):
    """Raised into a batch that would start after a stop was requested: it stays uncommitted and is replayed."""


@dataclass
class BatchStats:
    batch_id: int
    rows: int = 0
    bronze: int = 0
    rejected: int = 0
    silver: int = 0
    late: int = 0
    report_rows: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)  # tables that already had this batch (replay after a crash)
    watermark: str | None = None
    end_offsets: dict = field(default_factory=dict)
    lag: dict = field(default_factory=dict)
    started: float = 0.0
    finished: float = 0.0
    phases: dict = field(default_factory=dict)  # seconds per step, to see where a batch spends its time

    def mark(self, phase: str) -> None:
        now = time.time()
        self.phases[phase] = round(now - self._last, 3) if hasattr(self, "_last") else round(now - self.started, 3)
        self._last = now

    @property
    def duration(self) -> float:
        return self.finished - self.started


class BatchWriter:
    """The ``foreachBatch`` function, plus what the main thread needs to stop it cleanly."""

    def __init__(self, settings: Settings, spark, checkpoint: str, fault: str | None = None):
        self.settings = settings
        self.spark = spark
        self.checkpoint = checkpoint
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.query_id: str | None = None
        self.last: BatchStats | None = None
        self._lag_consumer = None
        self.fault = tuple(fault.rsplit(":", 1)) if fault and ":" in fault else None

    def __call__(self, df, batch_id: int) -> None:
        with self.lock:
            if self.stopping.is_set():
                raise StopRequested(f"stop requested before batch {batch_id} started")
            self._process(df, batch_id)

    # -- the batch ---------------------------------------------------------------------------------------------
    def _process(self, df, batch_id: int) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        from streaming import app_events, windows

        stats = BatchStats(batch_id=batch_id, started=time.time())
        app_id = self._query_id()
        watermark_ms, end_offsets = self._offset_log(batch_id)
        stats.end_offsets = end_offsets
        stats.watermark = _iso(watermark_ms)
        # One ingest time for every table of the batch.
        ingest_time = datetime.now(timezone.utc)
        # The one Spark job of the batch: read Kafka, parse, validate, type (and feed the watermark).
        records = df.toArrow()
        stats.rows = stats.bronze = records.num_rows
        stats.mark("read+parse")
        self._write(app_events.BRONZE, app_events.bronze_table(records, batch_id, ingest_time), app_id, batch_id,
                    stats)
        stats.mark("bronze")

        rejected = app_events.rejected_table(records, batch_id, ingest_time)
        stats.rejected = rejected.num_rows
        if rejected.num_rows:
            self._write(app_events.REJECTED, rejected, app_id, batch_id, stats)
        silver = app_events.silver_table(records, batch_id, ingest_time)
        stats.silver = silver.num_rows
        if silver.num_rows:
            self._write(app_events.SILVER, silver, app_id, batch_id, stats)
        stats.mark("rejected+silver")

        # Events older than the watermark no longer change a report window (they stay in silver).
        watermark = pa.scalar(watermark_ms * 1000, pa.timestamp("us", tz="UTC"))
        on_time = silver.filter(pc.greater_equal(silver.column("event_time"), watermark))
        stats.late = silver.num_rows - on_time.num_rows
        for report in reports():
            stats.report_rows[report.name] = windows.apply(
                self.settings, report, report.partials(on_time), app_id, batch_id, ingest_time
            )
            self._fault_point(report.name, batch_id)
        stats.mark("reports")
        stats.lag = self._lag(end_offsets)
        stats.mark("lag")
        stats.finished = time.time()
        self.last = stats
        self._record(stats, app_id)

    def _write(self, spec, data, app_id: str, batch_id: int, stats: BatchStats) -> None:
        from streaming import delta_io

        if not delta_io.append_once(self.settings, spec, data, app_id, batch_id):
            stats.skipped.append(spec.name)
        self._fault_point(spec.name, batch_id)

    def _fault_point(self, table: str, batch_id: int) -> None:
        if self.fault and self.fault[0] == table and int(self.fault[1]) == batch_id:
            log.warning("fault injection: SIGKILL after %s, batch %d", table, batch_id)
            logging.shutdown()
            os.kill(os.getpid(), signal.SIGKILL)

    # -- checkpoint facts --------------------------------------------------------------------------------------
    def _query_id(self) -> str:
        # The query id is stable across restarts (it lives in the checkpoint): the app id of every Delta txn.
        if self.query_id is None:
            self.query_id = json.loads(_read_text(self.spark, self.settings, f"{self.checkpoint}/metadata"))["id"]
        return self.query_id

    def _offset_log(self, batch_id: int) -> tuple[int, dict]:
        """Watermark and end offsets of this batch, as Spark checkpointed them before running it."""
        lines = _read_text(self.spark, self.settings, f"{self.checkpoint}/offsets/{batch_id}").splitlines()
        metadata = json.loads(lines[1])
        return int(metadata.get("batchWatermarkMs", 0)), json.loads(lines[2])

    def _lag(self, end_offsets: dict) -> dict:
        """Broker end offset minus this batch's end offset, per partition (None when the broker is away)."""
        try:
            from kafka import KafkaConsumer, TopicPartition

            if self._lag_consumer is None:
                self._lag_consumer = KafkaConsumer(
                    bootstrap_servers=self.settings.bootstrap_servers, client_id="qlake-stream-lag",
                    request_timeout_ms=5000,
                )
            topic = self.settings.kafka_topic
            done = {int(p): int(o) for p, o in end_offsets.get(topic, {}).items()}
            ends = self._lag_consumer.end_offsets([TopicPartition(topic, p) for p in sorted(done)])
            return {str(tp.partition): int(o) - done[tp.partition] for tp, o in ends.items()}
        except Exception as exc:  # noqa: BLE001 - lag is informational; never fail a batch for it
            log.warning("lag unavailable: %s", exc)
            self._lag_consumer = None
            return {}

    def _record(self, stats: BatchStats, app_id: str) -> None:
        lag = " ".join(f"p{p}={n:,}" for p, n in sorted(stats.lag.items())) or "n/a"
        skipped = f"; already written (replay): {', '.join(stats.skipped)}" if stats.skipped else ""
        log.info(
            "batch %d: %s rows (silver %s, rejected %s, late %s) in %.2fs; lag %s; watermark %s%s",
            stats.batch_id, f"{stats.rows:,}", f"{stats.silver:,}", f"{stats.rejected:,}", f"{stats.late:,}",
            stats.duration, lag, stats.watermark, skipped,
        )
        record = asdict(stats) | {"duration": round(stats.duration, 3), "query_id": app_id}
        with open(batches_file(self.settings), "a") as out:
            out.write(json.dumps(record) + "\n")
        _write_state(self.settings, {"state": "running", "pid": os.getpid(), "query_id": app_id, "last_batch": record})
        lineage.emit_batch(self.settings, stats, app_id, {spec.name: spec for spec in tables()})

    def close(self) -> None:
        if self._lag_consumer is not None:
            try:
                self._lag_consumer.close()
            except Exception:  # noqa: BLE001
                pass


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def _read_text(spark, settings: Settings, path: str) -> str:
    if settings.is_local:
        return Path(path).read_text()
    # Remote checkpoint (hdfs://, s3a://): read through the JVM's Hadoop file system.
    jvm = spark._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark._jsc.hadoopConfiguration())
    stream = fs.open(hadoop_path)
    try:
        return jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()


def _write_state(settings: Settings, state: dict) -> None:
    path = state_file(settings)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state | {"updated": datetime.now(timezone.utc).isoformat()}, indent=2))
    tmp.replace(path)  # atomic: status never reads half a file


def _read_state(settings: Settings) -> dict:
    try:
        return json.loads(state_file(settings).read_text())
    except (OSError, ValueError):
        return {}


def _setup_logging(settings: Settings) -> None:
    Path(settings.run_dir).mkdir(parents=True, exist_ok=True)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    log.setLevel(logging.INFO)
    log.propagate = False
    for handler in (logging.StreamHandler(sys.stderr), logging.FileHandler(log_file(settings))):
        handler.setFormatter(fmt)
        log.addHandler(handler)
    logging.getLogger("qlake.kafka_source").addHandler(logging.StreamHandler(sys.stderr))
    logging.getLogger("kafka").setLevel(logging.ERROR)  # reconnect noise while the broker restarts


def running_pid(settings: Settings) -> int | None:
    from qlake.services import pid_alive

    try:
        pid = int(pid_file(settings).read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid_alive(pid) else None


def run(settings: Settings | None = None, options: StreamOptions = StreamOptions()) -> int:
    """Run the streaming query in this process until it ends (availableNow) or is stopped; 0 when clean."""
    from qlake.broker import ensure_broker

    settings = settings or load_settings()
    _setup_logging(settings)
    other = running_pid(settings)
    if other is not None and other != os.getpid():
        log.error("the stream job is already running (pid %d); stop it first", other)
        return 2
    ensure_broker(settings)
    registration = start_registration()

    stop_signal = threading.Event()
    _install_stop_handlers(stop_signal)
    pid_file(settings).write_text(str(os.getpid()))
    try:
        return _run_query(settings, options, stop_signal, registration)
    finally:
        if registration.poll() is None:
            registration.kill()
            registration.wait()
        pid_file(settings).unlink(missing_ok=True)
        state = _read_state(settings)
        _write_state(settings, state | {"state": "stopped", "pid": None})


def _install_stop_handlers(stop_signal: threading.Event) -> None:
    def on_signal(signum, _frame):
        log.info("%s received: stopping after the current batch", signal.Signals(signum).name)
        stop_signal.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)


def _run_query(settings: Settings, options: StreamOptions, stop_signal: threading.Event,
               registration: subprocess.Popen) -> int:
    from streaming import app_events
    from streaming.kafka_source import NAME

    started = time.monotonic()
    spark = classic_session(settings)
    # SparkContext installs its own SIGINT handler (cancel jobs + KeyboardInterrupt): put ours back, so Ctrl-C
    # stops gracefully like SIGTERM.
    _install_stop_handlers(stop_signal)
    log.info("classic Spark up in %.1fs", time.monotonic() - started)
    finish_registration(settings, registration)  # the tables must exist before the first batch writes
    log.info("tables registered (%.1fs since start)", time.monotonic() - started)
    checkpoint = checkpoint_location(settings)
    reader = (
        spark.readStream.format(NAME)
        .option("bootstrap.servers", settings.bootstrap_servers)
        .option("subscribe", settings.kafka_topic)
        .option("startingOffsets", options.starting_offsets)
    )
    if options.max_offsets_per_trigger:
        reader = reader.option("maxOffsetsPerTrigger", str(options.max_offsets_per_trigger))
    events = app_events.parse(reader.load()).withWatermark("event_time", options.watermark)
    writer = BatchWriter(settings, spark, checkpoint, options.fault)
    stream = (
        events.writeStream.queryName(QUERY_NAME)
        .foreachBatch(writer)
        .option("checkpointLocation", checkpoint)
    )
    stream = stream.trigger(availableNow=True) if options.available_now else stream.trigger(
        processingTime=options.trigger_interval
    )
    query = stream.start()
    log.info("query %s started (checkpoint %s, %s)", query.id, checkpoint,
             "available-now" if options.available_now else f"every {options.trigger_interval}")
    _write_state(settings, {"state": "running", "pid": os.getpid(), "query_id": str(query.id),
                            "last_batch": (_read_state(settings).get("last_batch"))})
    stopped_by_us = False

    def requested(failure) -> bool:  # the query ended because we refused a batch after a stop request
        return writer.stopping.is_set() and "StopRequested" in str(failure)

    try:
        try:
            while query.isActive:
                if stop_signal.is_set():
                    with writer.lock:  # waits for the batch in progress to finish writing
                        writer.stopping.set()
                    # ...and for Spark to record it in the checkpoint's commit log (that happens after foreachBatch
                    # returns; stopping before it would leave the batch to be replayed: harmless, not graceful).
                    deadline = time.monotonic() + 60
                    while query.isActive and query.status["isTriggerActive"] and time.monotonic() < deadline:
                        time.sleep(0.1)
                    query.stop()
                    stopped_by_us = True
                    break
                query.awaitTermination(0.5)
        except Exception as exc:  # noqa: BLE001 - awaitTermination re-raises the query's failure
            if not requested(exc):
                log.error("stream failed: %s", exc)
                return 1
        failure = query.exception()
        if failure is not None and not requested(failure):
            log.error("stream failed: %s", failure)
            return 1
        log.info("stream stopped %s; last batch %s", "on request" if stopped_by_us else "(all available data done)",
                 writer.last.batch_id if writer.last else "none in this run")
        return 0
    finally:
        writer.close()
        spark.stop()


# ---- status -------------------------------------------------------------------------------------------------------
def status(settings: Settings | None = None) -> dict:
    """Job state without Spark: pid, last committed batch, committed offsets and lag per partition."""
    from streaming import app_events, delta_io
    from streaming.kafka_source import describe_offsets

    settings = settings or load_settings()
    checkpoint = checkpoint_location(settings)
    out: dict = {"running": running_pid(settings) is not None, "pid": running_pid(settings),
                 "checkpoint": checkpoint, "log": str(log_file(settings))}
    state = _read_state(settings)
    out["last_batch"] = state.get("last_batch")
    if not settings.is_local or not Path(checkpoint, "metadata").exists():
        out["query_id"] = state.get("query_id")
        return out
    query_id = json.loads(Path(checkpoint, "metadata").read_text())["id"]
    out["query_id"] = query_id
    commits = sorted(int(p.name) for p in Path(checkpoint, "commits").glob("[0-9]*") if p.name.isdigit())
    out["last_committed_batch"] = commits[-1] if commits else None
    try:
        out["bronze_txn_batch"] = delta_io.applied_version(delta_io.open_table(settings, app_events.BRONZE), query_id)
    except Exception:  # noqa: BLE001 - table not created yet
        out["bronze_txn_batch"] = None
    committed: dict[int, int] = {}
    if commits:
        lines = Path(checkpoint, "offsets", str(commits[-1])).read_text().splitlines()
        committed = describe_offsets(lines[2], settings.kafka_topic)
    out["committed_offsets"] = {str(p): o for p, o in sorted(committed.items())}
    out["end_offsets"], out["lag"] = {}, {}
    try:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap_servers, client_id="qlake-status",
                                 request_timeout_ms=5000)
        try:
            parts = sorted(consumer.partitions_for_topic(settings.kafka_topic) or [])
            ends = consumer.end_offsets([TopicPartition(settings.kafka_topic, p) for p in parts])
        finally:
            consumer.close()
        out["end_offsets"] = {str(tp.partition): int(o) for tp, o in sorted(ends.items())}
        out["lag"] = {str(tp.partition): int(o) - committed.get(tp.partition, 0) for tp, o in sorted(ends.items())}
        out["total_lag"] = sum(out["lag"].values())
    except Exception as exc:  # noqa: BLE001 - broker down: say so, the rest is still useful
        out["broker_error"] = str(exc)
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["register"]:
        _register_in_this_process(load_settings())
        return 0
    raise SystemExit("usage: python -m streaming.job register   (the job itself runs via `qlake stream`)")


if __name__ == "__main__":
    sys.exit(main())
