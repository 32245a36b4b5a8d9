"""The ``foreachBatch`` function of the stream job: one micro-batch into every stream table, each exactly once.

Per micro-batch: one Spark job (read Kafka and each record's event time, which feeds the watermark) returns the
batch as Arrow to the driver, which parses it (:func:`streaming.app_events.records`) and writes, each exactly once
and side by side: bronze.app_events (all records), bronze.app_events_rejected, silver.app_events and the three
gold reports. The Delta app transaction id is the query id (stable across restarts, read from the checkpoint) and
the batch id, so a batch replayed after a crash skips the tables that already have it.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Callable

import pyarrow as pa
import pyarrow.compute as pc

from qlake.config import Settings
from streaming import app_events, delta_io, lineage, state, windows
from streaming.kafka_offsets import describe_offsets
from streaming.outputs import reports, tables

log = logging.getLogger("qlake.stream")

# Called with (table name, batch id) right after each table's commit for a batch. No hook in production; the
# crash tests pass one that SIGKILLs the job mid-batch, the worst moment for exactly-once.
AfterWrite = Callable[[str, int], None]


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
    table_seconds: dict = field(default_factory=dict)  # per table: its write (they run side by side)

    def mark(self, phase: str) -> None:
        now = time.time()
        self.phases[phase] = round(now - self.phase_started(), 3)
        self._last = now

    def phase_started(self) -> float:
        """When the phase in progress began: the last :meth:`mark`, or the batch's start."""
        return getattr(self, "_last", self.started)

    @property
    def duration(self) -> float:
        return self.finished - self.started


class BatchWriter:
    """The ``foreachBatch`` function, plus what the main thread needs to stop it cleanly."""

    def __init__(self, settings: Settings, spark, checkpoint: str, after_write: AfterWrite | None = None):
        self.settings = settings
        self.tables = delta_io.OpenTables(settings)
        self.spark = spark
        self.checkpoint = checkpoint
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.query_id: str | None = None
        self.last: BatchStats | None = None
        self._broker: state.BrokerOffsets | None = None
        self._after_write = after_write
        self._records: queue.Queue = queue.Queue()
        self._recorder = threading.Thread(target=self._write_records, name="qlake-stream-records", daemon=True)
        self._recorder.start()

    def __call__(self, df, batch_id: int) -> None:
        with self.lock:
            if self.stopping.is_set():
                raise StopRequested(f"stop requested before batch {batch_id} started")
            self._process(df, batch_id)

    # -- the batch ---------------------------------------------------------------------------------------------
    def _process(self, df, batch_id: int) -> None:
        stats = BatchStats(batch_id=batch_id, started=time.time())
        app_id = self._query_id()
        watermark_ms, end_offsets = self._offset_log(batch_id)
        stats.end_offsets = end_offsets
        stats.watermark = _iso(watermark_ms)
        # One ingest time for every table of the batch.
        ingest_time = datetime.now(timezone.utc)
        # The one Spark job of the batch: read Kafka and each record's event time (it feeds the watermark).
        batch = df.toArrow()
        stats.mark("read")
        records = app_events.records(batch)
        stats.rows = stats.bronze = records.num_rows
        rejected = app_events.rejected_table(records, batch_id, ingest_time)
        silver = app_events.silver_table(records, batch_id, ingest_time)
        stats.rejected, stats.silver = rejected.num_rows, silver.num_rows
        # Events older than the watermark no longer change a report window (they stay in silver).
        watermark = pa.scalar(watermark_ms * 1000, pa.timestamp("us", tz="UTC"))
        on_time = silver.filter(pc.greater_equal(silver.column("event_time"), watermark))
        stats.late = silver.num_rows - on_time.num_rows
        stats.mark("parse")

        # Every table is its own exactly-once commit (its app transaction), so the six are written side by side:
        # a crash leaves some written, and the replay writes the others (delta-rs releases the GIL while writing).
        writes = [partial(self._write, app_events.BRONZE, app_events.bronze_table(records, batch_id, ingest_time),
                          app_id, batch_id, stats)]
        writes += [partial(self._write, spec, rows, app_id, batch_id, stats)
                   for spec, rows in ((app_events.REJECTED, rejected), (app_events.SILVER, silver)) if rows.num_rows]
        writes += [partial(self._report, report, on_time, app_id, batch_id, ingest_time, stats) for report in reports()]
        with ThreadPoolExecutor(max_workers=len(writes)) as pool:
            for future in [pool.submit(write) for write in writes]:
                future.result()
        stats.mark("write")
        stats.lag = self._lag(end_offsets)
        stats.mark("lag")
        stats.finished = time.time()
        self.last = stats
        self._record(stats, app_id)

    def _report(self, report, on_time: pa.Table, app_id: str, batch_id: int, ingest_time: datetime,
                stats: BatchStats) -> None:
        rows = windows.apply(self.tables.get(report.spec), report, report.partials(on_time), app_id, batch_id,
                             ingest_time)
        if rows is None:
            stats.skipped.append(report.name)
        stats.report_rows[report.name] = rows or 0
        self._written(report.name, batch_id, stats)

    def _write(self, spec, data, app_id: str, batch_id: int, stats: BatchStats) -> None:
        if not delta_io.append_once(self.tables.get(spec), spec, data, app_id, batch_id):
            stats.skipped.append(spec.name)
        self._written(spec.name, batch_id, stats)

    def _written(self, table: str, batch_id: int, stats: BatchStats) -> None:
        stats.table_seconds[table] = round(time.time() - stats.phase_started(), 3)
        if self._after_write is not None:
            self._after_write(table, batch_id)

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
        """Broker end offset minus this batch's end offset, per partition (empty when the broker is away)."""
        try:
            if self._broker is None:
                self._broker = state.BrokerOffsets(self.settings, "qlake-stream-lag")
            done = describe_offsets(end_offsets, self.settings.kafka_topic)
            return state.lag_of(self._broker.end_offsets(sorted(done)), done)
        except Exception as exc:  # noqa: BLE001 - lag is informational; never fail a batch for it
            log.warning("lag unavailable: %s", exc)
            self._broker = None
            return {}

    def _record(self, stats: BatchStats, app_id: str) -> None:
        lag = " ".join(f"p{p}={n:,}" for p, n in sorted(stats.lag.items())) or "n/a"
        skipped = f"; already written (replay): {', '.join(stats.skipped)}" if stats.skipped else ""
        log.info(
            "batch %d: %s rows (silver %s, rejected %s, late %s) in %.2fs; lag %s; watermark %s%s",
            stats.batch_id, f"{stats.rows:,}", f"{stats.silver:,}", f"{stats.rejected:,}", f"{stats.late:,}",
            stats.duration, lag, stats.watermark, skipped,
        )
        self._records.put((stats, app_id))

    def _write_records(self) -> None:
        """The batch files and the lineage event of each batch, in order, off the batch's path: the next micro-batch
        does not wait for them (they cost 25-70 ms a batch, a tenth of a live one)."""
        while (item := self._records.get()) is not None:
            stats, app_id = item
            try:
                record = asdict(stats) | {"duration": round(stats.duration, 3), "query_id": app_id}
                state.append_batch(self.settings, record)
                state.write_state(self.settings, {"state": "running", "pid": os.getpid(), "query_id": app_id,
                                                  "last_batch": record})
                lineage.emit_batch(self.settings, stats, app_id, {spec.name: spec for spec in tables()})
            except Exception as exc:  # noqa: BLE001 - status files and lineage never stop the stream
                log.warning("batch %d: recording it failed: %s", stats.batch_id, exc)

    def close(self) -> None:
        self._records.put(None)
        self._recorder.join()
        if self._broker is not None:
            try:
                self._broker.close()
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
