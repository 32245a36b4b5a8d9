"""`ops.job_runs`: one row per job run — who ran, when, how it ended, rows in/out, Delta versions written."""

from __future__ import annotations

import dataclasses
import fcntl
import json
import logging
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from deltalake.exceptions import TableNotFoundError
from pyspark.sql import SparkSession

from qlake import catalog, gx_client, ops, storage
from qlake.catalog import TableSpec
from qlake.config import Settings
from qlake.profile import phase

log = logging.getLogger(__name__)

JOB_RUNS = TableSpec(
    name="ops.job_runs",
    columns=(
        "run_id STRING NOT NULL, job STRING NOT NULL, started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, "
        "status STRING NOT NULL, rows_in BIGINT, rows_out BIGINT, rows_quarantined BIGINT, "
        "delta_versions STRING, error STRING"
    ),
    comment="every job run: status succeeded | failed | skipped, counts, Delta versions written, error",
    update_interval=timedelta(hours=2),  # the scheduler records an hourly run (even a skipped one) every hour
)


@dataclass
class RunRecord:
    run_id: str
    job: str
    started_at: datetime
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    status: str = "succeeded"
    error: str | None = None
    versions_before: dict = field(default_factory=dict)
    # For the run's OpenLineage event: files it wrote, tables it read beyond the layer below, rows per table.
    files_out: list = field(default_factory=list)
    tables_in: list = field(default_factory=list)
    rows_written: dict = field(default_factory=dict)

    def add(self, rows_in: int = 0, rows_out: int = 0, rows_quarantined: int = 0) -> None:
        self.rows_in += rows_in
        self.rows_out += rows_out
        self.rows_quarantined += rows_quarantined


def table_versions(spark: SparkSession, cfg: Settings) -> dict[str, int]:
    versions = {name: storage.latest_version(cfg.table_location(*name.split(".")))
                for name in catalog.lake_tables(spark, cfg)}
    return {name: version for name, version in versions.items() if version is not None}


def written_since(spark: SparkSession, cfg: Settings, before: dict[str, int]) -> dict[str, int]:
    """The tables whose latest version is not the one in ``before`` (written since), with that version."""
    return {name: version for name, version in table_versions(spark, cfg).items() if before.get(name) != version}


def row(record: RunRecord, ended_at: datetime | None, versions: dict | None = None) -> dict:
    """The ``ops.job_runs`` row of a run (written by the engine here, or through deltalake by an idle hour)."""
    return {
        "run_id": record.run_id, "job": record.job, "started_at": record.started_at, "ended_at": ended_at,
        "status": record.status, "rows_in": record.rows_in, "rows_out": record.rows_out,
        "rows_quarantined": record.rows_quarantined,
        "delta_versions": json.dumps(versions or {}, sort_keys=True), "error": record.error,
    }


def write(spark: SparkSession, cfg: Settings, record: RunRecord, ended_at: datetime | None,
          versions: dict | None = None) -> None:
    rows = spark.createDataFrame([row(record, ended_at, versions)], JOB_RUNS.row_struct())
    catalog.append(spark, rows, JOB_RUNS, cfg)


@contextmanager
def recorded(spark: SparkSession, cfg: Settings, job: str, run_id: str | None = None):
    """Run a job body and log it, failed or not; the exception still propagates. Its OpenLineage events are
    sent as it starts and ends (:class:`_LineageEvents`)."""
    record = RunRecord(run_id or ops.new_run_id(job), job, ops.utcnow())
    events = _LineageEvents(cfg, record)
    with phase("run log: table versions before"):
        record.versions_before = table_versions(spark, cfg)
    try:
        yield record
    except BaseException as exc:  # noqa: BLE001 - record every way a run can end, then re-raise
        record.status = "failed"
        record.error = f"{type(exc).__name__}: {exc}"[:4000] if str(exc) else traceback.format_exc(limit=3)[-4000:]
        raise
    finally:
        with phase("run log: versions after + write"):
            written = written_since(spark, cfg, record.versions_before)
            written.pop(JOB_RUNS.name, None)
            ended_at = ops.utcnow()
            write(spark, cfg, record, ended_at, written)
        with phase("OpenLineage event"):
            events.end(ended_at, written)


class _LineageEvents:
    """A run's START and COMPLETE/FAIL events, in that order, built and sent by the resident worker
    (:mod:`qlake.gx_worker`, which has the OpenLineage client imported) from the facts the run sends.

    The client is heavy to import (~0.18 s of Python): imported on a thread of the run, it held the interpreter
    lock against the run's own Python (the ingest of an hour took 0.31-0.33 s with it, 0.16-0.19 s without), and
    an hour was ~0.25 s shorter with no events at all (2026-12-07). The START request goes out on a thread (it
    may have to start the worker); a run that cannot reach the worker builds and sends both events itself.
    Lineage never fails a run: what could not be sent is logged."""

    def __init__(self, cfg: Settings, record: RunRecord):
        self.cfg, self.record = cfg, record
        self._connection: gx_client.Connection | None = None  # the worker's, once the START request is out
        self._start_request: int | None = None
        self._thread = threading.Thread(target=self._start, name="qlake-lineage-start", daemon=True)
        self._thread.start()

    def _request(self, event: str, **payload) -> int:
        cfg = self.cfg
        destination = {"url": cfg.openlineage_url, "file": cfg.openlineage_file,
                       "namespace": cfg.openlineage_namespace}
        return self._connection.request("lineage", event=event, cfg=dataclasses.asdict(cfg),
                                        destination=destination, **payload)

    def _start(self) -> None:
        record = self.record
        try:
            self._connection = gx_client.connect(self.cfg)
            self._start_request = self._request("start", run_id=record.run_id, job=record.job,
                                                started_at=record.started_at)
            return
        except Exception as exc:  # noqa: BLE001 - no worker: this process sends the events
            log.info("OpenLineage events of %s sent by the run itself: %s", record.run_id, exc)
            self._close()
        try:
            from qlake import lineage_events  # heavy: see the class

            lineage_events.emit(self.cfg, lineage_events.start_event(self.cfg, record.run_id, record.job,
                                                                     record.started_at))
        except Exception as exc:  # noqa: BLE001 - lineage never fails a run (emit() logs its own failures)
            log.warning("OpenLineage START event for %s not sent: %s", record.run_id, exc)

    def end(self, ended_at: datetime, written: dict) -> None:
        """Send the COMPLETE/FAIL event (after the START event) and wait until it is sent."""
        self._thread.join()
        record = self.record
        declared = catalog.declared_tables()
        facts = {
            "run_id": record.run_id, "job": record.job, "started_at": record.started_at, "ended_at": ended_at,
            "status": record.status, "versions_before": record.versions_before, "versions_written": written,
            "rows_in": record.rows_in, "rows_out": record.rows_out, "rows_quarantined": record.rows_quarantined,
            "error": record.error, "files_out": list(record.files_out), "tables_in": list(record.tables_in),
            "rows_written": dict(record.rows_written),
            "column_lineage": {table: {column: list(sources) for column, sources in spec.column_lineage.items()}
                               for table in written if (spec := declared.get(table)) and spec.column_lineage},
        }
        if self._connection is not None:
            try:
                for request in (self._start_request, self._request("end", facts=facts)):
                    reply = self._connection.reply(request)
                    if "error" in reply:
                        log.warning("OpenLineage event of %s not sent: %s", record.run_id, reply["error"])
                return
            except gx_client.WorkerError as exc:  # the worker died: this process sends the end event
                log.warning("OpenLineage events of %s: %s", record.run_id, exc)
            finally:
                self._close()
        from qlake import lineage_events  # heavy: see the class

        lineage_events.emit_end(self.cfg, lineage_events.RunFacts(**facts))

    def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def record_skipped(spark: SparkSession, cfg: Settings, job: str, reason: str) -> None:
    now = ops.utcnow()
    record = RunRecord(ops.new_run_id(job), job, now, status="skipped", error=reason)
    write(spark, cfg, record, now)


@contextmanager
def job_lock(cfg: Settings, job: str):
    """Hold ``run/<job>.lock`` for the block; yields False at once when another run holds it (any process)."""
    path = Path(cfg.run_dir, f"{job}.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@contextmanager
def exclusive(spark: SparkSession, cfg: Settings, job: str):
    """The job's lock for the block; when another run holds it, records this run as skipped and yields False."""
    with job_lock(cfg, job) as acquired:
        if not acquired:
            record_skipped(spark, cfg, job, f"previous {job} run still in progress")
        yield acquired


def last_runs(cfg: Settings, job: str | None = None) -> list[dict]:
    """ops.job_runs read straight from Delta (no engine needed: the scheduler reads it between runs)."""
    try:
        rows = storage.read_delta(JOB_RUNS.location(cfg)).to_pylist()
    except TableNotFoundError:
        return []
    if job:
        rows = [r for r in rows if r["job"] == job]
    return sorted(rows, key=lambda r: r["started_at"])
