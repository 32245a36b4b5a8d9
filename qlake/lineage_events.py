"""OpenLineage events for every job run: START when it begins, COMPLETE or FAIL when it ends.

A COMPLETE/FAIL event names what the run read and wrote: Delta tables with the version it read or wrote
(``version`` facet), the delivered files it ingested (name, sha256, rows), files it exported; per output table the
rows it wrote (``outputStatistics``), the columns each gold column comes from (``columnLineage``, from the tables'
``column_lineage`` declarations), per validated table the data-quality rules of the run (``dataQualityAssertions``
and ``dataQualityMetrics`` from ``ops.dq_results``), and the run's error (``errorMessage``).

Transport: one JSON object a line appended to ``Settings.openlineage_file``; ``QLAKE_OPENLINEAGE_URL`` sends to an
HTTP endpoint (Marquez) instead. Emitting never fails a run: a failure is logged and the run goes on. Facts are read
from the Delta logs with ``deltalake`` (no engine work is added to a run).

Heavy to import (the OpenLineage client and ``pyarrow.dataset``, ~0.25 s of Python). So a run hands its events to
the resident worker (:mod:`qlake.gx_worker`, which imports this module once): :func:`answer` builds and sends them
there from the facts the run sends (:mod:`qlake.runlog`). A run that cannot reach the worker imports this module
itself. An hour with nothing new emits nothing.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import attr
import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState, set_producer
from openlineage.client.generated.base import DatasetFacet, RunFacet
from openlineage.client.generated.column_lineage_dataset import ColumnLineageDatasetFacet, Fields, InputField
from openlineage.client.generated.data_quality_assertions_dataset import Assertion, DataQualityAssertionsDatasetFacet
from openlineage.client.generated.data_quality_metrics_input_dataset import (
    ColumnMetrics,
    DataQualityMetricsInputDatasetFacet,
)
from openlineage.client.generated.dataset_version_dataset import DatasetVersionDatasetFacet
from openlineage.client.generated.error_message_run import ErrorMessageRunFacet
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from qlake import ops, storage
from qlake.config import Settings

log = logging.getLogger("qlake.lineage")
PRODUCER = "https://github.com/q-company/qlake"
set_producer(PRODUCER)  # every facet's _producer: qlake wrote it, not the client library
FILE_NAMESPACE = "file"
# The layer a table of a layer is built from: a run writing silver read bronze, one writing gold read silver.
SOURCE_LAYER = {"silver": "bronze", "gold": "silver"}


@attr.define
class DeliveredFileDatasetFacet(DatasetFacet):
    """A delivered or exported file: its content hash and rows (qlake's own facet)."""

    sha256: str
    rows: int | None = attr.field(default=None)
    status: str | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{PRODUCER}/blob/main/README.md#lineage-and-freshness"


@attr.define
class QlakeRunRunFacet(RunFacet):
    """qlake's run id (the key of ops.job_runs) and the run's row counts."""

    run_id: str
    job: str
    rows_in: int | None = attr.field(default=None)
    rows_out: int | None = attr.field(default=None)
    rows_quarantined: int | None = attr.field(default=None)

    @staticmethod
    def _get_schema() -> str:
        return f"{PRODUCER}/blob/main/README.md#lineage-and-freshness"


@dataclass
class RunFacts:
    """What a finished run did, as the emitter needs it (filled by :mod:`qlake.runlog`)."""

    run_id: str
    job: str
    started_at: datetime
    ended_at: datetime
    status: str  # succeeded | failed
    versions_before: dict[str, int]
    versions_written: dict[str, int]
    rows_in: int = 0
    rows_out: int = 0
    rows_quarantined: int = 0
    error: str | None = None
    files_in: list[dict] = field(default_factory=list)  # {"name", "sha256", "rows"}
    files_out: list[Path] = field(default_factory=list)
    tables_in: list[str] = field(default_factory=list)
    rows_written: dict[str, int] = field(default_factory=dict)
    # Per written table that declares it: column -> its source columns (the run's table declarations, which the
    # worker building the event does not import).
    column_lineage: dict[str, dict[str, list[str]]] = field(default_factory=dict)


@dataclass(frozen=True)
class SentSettings(Settings):
    """A run's settings in the worker: its OpenLineage destination as the run resolved it from its environment."""

    lineage: dict = field(default_factory=dict)  # url, file, namespace (qlake.runlog sends them)

    @property
    def openlineage_url(self) -> str | None:
        return self.lineage.get("url")

    @property
    def openlineage_file(self) -> str:
        return self.lineage["file"]

    @property
    def openlineage_namespace(self) -> str:
        return self.lineage["namespace"]


def answer(request: dict) -> dict:
    """A run's START (``run_id``, ``job``, ``started_at``) or its COMPLETE/FAIL event (``facts``: the fields of
    :class:`RunFacts` but ``files_in``), built and sent here; ``{"sent": bool}``. Times come as ISO strings."""
    cfg = SentSettings(**request["cfg"], lineage=request["destination"])
    if request["event"] == "start":
        return {"sent": emit(cfg, start_event(cfg, request["run_id"], request["job"],
                                              datetime.fromisoformat(request["started_at"])))}
    sent = dict(request["facts"])
    for moment in ("started_at", "ended_at"):
        sent[moment] = datetime.fromisoformat(sent[moment])
    sent["files_out"] = [Path(path) for path in sent["files_out"]]
    return {"sent": emit_end(cfg, RunFacts(**sent))}


def emit_end(cfg: Settings, facts: RunFacts) -> bool:
    """Gather the delivered files, build the COMPLETE/FAIL event and send it; building must not fail the run
    either (False, logged)."""
    try:
        facts.files_in = delivered_files(cfg, facts)
        event = end_event(cfg, facts)
    except Exception as exc:  # noqa: BLE001 - lineage is reporting; the run's outcome stands
        log.warning("OpenLineage event for %s not built: %s", facts.run_id, exc)
        return False
    return emit(cfg, event)


def run_uuid(run_id: str) -> str:
    """OpenLineage wants a UUID per run: derived from qlake's run id, so START and COMPLETE share it."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"qlake:{run_id}"))


# A down endpoint costs a run about a second per event, not the client's default half-minute of retries.
HTTP_RETRY = {"total": 2, "connect": 2, "read": 2, "backoff_factor": 0.2}
_CLIENTS: dict[tuple, OpenLineageClient] = {}


def client(cfg: Settings) -> OpenLineageClient:
    """One client per destination and process (the stream emits every batch)."""
    key = (cfg.openlineage_url, cfg.openlineage_file)
    if key not in _CLIENTS:
        if cfg.openlineage_url:
            transport = HttpTransport(HttpConfig(url=cfg.openlineage_url, timeout=5.0, retry=HTTP_RETRY))
        else:
            Path(cfg.openlineage_file).parent.mkdir(parents=True, exist_ok=True)
            transport = FileTransport(FileConfig(log_file_path=cfg.openlineage_file, append=True))
        _CLIENTS[key] = OpenLineageClient(transport=transport)
    return _CLIENTS[key]


def emit(cfg: Settings, event: RunEvent) -> bool:
    """Send one event; False (logged) when it could not be sent — lineage never fails a run."""
    try:
        client(cfg).emit(event)
        return True
    except Exception as exc:  # noqa: BLE001 - an unreachable Marquez or a full disk must not fail the data job
        log.warning("OpenLineage event for %s not sent: %s", event.job.name, exc)
        return False


def start_event(cfg: Settings, run_id: str, job: str, started_at: datetime) -> RunEvent:
    return RunEvent(
        eventType=RunState.START, eventTime=started_at.isoformat(), producer=PRODUCER,
        run=Run(runId=run_uuid(run_id), facets={"qlake_run": QlakeRunRunFacet(run_id=run_id, job=job)}),
        job=Job(namespace=cfg.openlineage_namespace, name=f"qlake.{job}"),
    )


def end_event(cfg: Settings, facts: RunFacts) -> RunEvent:
    failed = facts.status == "failed"
    run_facets: dict = {"qlake_run": QlakeRunRunFacet(
        run_id=facts.run_id, job=facts.job, rows_in=facts.rows_in, rows_out=facts.rows_out,
        rows_quarantined=facts.rows_quarantined)}
    dq = _dq_facets(cfg, facts)
    if facts.error:
        run_facets["errorMessage"] = ErrorMessageRunFacet(message=facts.error, programmingLanguage="PYTHON")
    return RunEvent(
        eventType=RunState.FAIL if failed else RunState.COMPLETE, eventTime=facts.ended_at.isoformat(),
        producer=PRODUCER, run=Run(runId=run_uuid(facts.run_id), facets=run_facets),
        job=Job(namespace=cfg.openlineage_namespace, name=f"qlake.{facts.job}"),
        inputs=_inputs(cfg, facts, dq), outputs=_outputs(cfg, facts, dq),
    )


def table_namespace(cfg: Settings) -> str:
    """Datasets are named by where they live (OpenLineage naming: the storage location's scheme and root)."""
    return cfg.home if "://" in cfg.home else f"file://{cfg.home}"


def version_facet(version: int | None) -> dict:
    return {} if version is None else {"version": DatasetVersionDatasetFacet(datasetVersion=str(version))}


def _inputs(cfg: Settings, facts: RunFacts, dq: dict[str, dict]) -> list[InputDataset]:
    inputs = [
        InputDataset(namespace=FILE_NAMESPACE, name=f["name"],
                     facets={"qlake_file": DeliveredFileDatasetFacet(sha256=f["sha256"], rows=f.get("rows"),
                                                                     status=f.get("status"))})
        for f in facts.files_in
    ]
    read = set()
    for table in facts.versions_written:
        layer = SOURCE_LAYER.get(table.split(".")[0])
        read |= {t for t in facts.versions_before if layer and t.startswith(f"{layer}.")}
    # Named sources stay inputs even when the run also wrote them (the daily run compacts every table).
    read = (read - set(facts.versions_written)) | set(facts.tables_in)
    for table in sorted(read):
        inputs.append(InputDataset(namespace=table_namespace(cfg), name=table,
                                   facets=version_facet(facts.versions_before.get(table)),
                                   inputFacets=dq.get(table, {}).get("input", {})))
    return inputs


def _outputs(cfg: Settings, facts: RunFacts, dq: dict[str, dict]) -> list[OutputDataset]:
    rows = _rows_written(cfg, facts)
    outputs = []
    for table, version in sorted(facts.versions_written.items()):
        facets = version_facet(version)
        if facts.column_lineage.get(table):
            facets["columnLineage"] = column_lineage_facet(cfg, facts.column_lineage[table])
        facets |= dq.get(table, {}).get("dataset", {})
        out_facets = {"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=rows[table])} \
            if table in rows else {}
        outputs.append(OutputDataset(namespace=table_namespace(cfg), name=table, facets=facets,
                                     outputFacets=out_facets))
    for path in facts.files_out:
        outputs.append(_file_output(path))
    return outputs


def _file_output(path: Path) -> OutputDataset:
    data = Path(path).read_bytes()
    lines = data.count(b"\n")
    return OutputDataset(
        namespace=FILE_NAMESPACE, name=str(path),
        facets={"qlake_file": DeliveredFileDatasetFacet(sha256=hashlib.sha256(data).hexdigest(), rows=max(lines - 1, 0))},
        outputFacets={"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=max(lines - 1, 0),
                                                                             size=len(data))},
    )


def column_lineage_facet(cfg: Settings, column_lineage: dict[str, list[str]]) -> ColumnLineageDatasetFacet:
    fields = {}
    for column, sources in column_lineage.items():
        fields[column] = Fields(inputFields=[
            InputField(namespace=table_namespace(cfg), name=src.rsplit(".", 1)[0], field=src.rsplit(".", 1)[1])
            for src in sources
        ])
    return ColumnLineageDatasetFacet(fields=fields)


def _rows_of_run(location: str, facts: RunFacts, time_column: str) -> list[dict]:
    """Rows of a table recorded while the run ran (a job's steps record under their own run ids)."""
    try:
        delta = DeltaTable(location)
    except TableNotFoundError:
        return []
    when = delta.to_pyarrow_dataset().schema.field(time_column).type
    tz = getattr(when, "tz", None)

    def bound(moment: datetime):
        return pa.scalar(moment if tz else moment.replace(tzinfo=None), type=when)

    # Pushed into the scan: only the files whose statistics overlap the run are read.
    during = (ds.field(time_column) >= bound(facts.started_at)) & (ds.field(time_column) <= bound(facts.ended_at))
    return storage.read_delta(delta, filter=during).to_pylist()


def _rows_written(cfg: Settings, facts: RunFacts) -> dict[str, int]:
    """Rows per table: what the job reported (``rows_written``), else inserted + updated from ops.row_accounting
    of the run (silver's tables), else the rows its delivered files added (bronze)."""
    rows: dict[str, int] = {}
    for r in _rows_of_run(ops.ROW_ACCOUNTING.location(cfg), facts, "recorded_at"):
        rows[r["table_name"]] = rows.get(r["table_name"], 0) + (r["inserted"] or 0) + (r["updated"] or 0)
    # A bronze table takes the rows of the files of its kind (a delivered file is named <kind>_...csv).
    for table in facts.versions_written:
        if table.startswith("bronze."):
            landed = [f["rows"] for f in facts.files_in
                      if Path(f["name"]).name.startswith(f"{table.split('.')[1]}_") and f.get("rows") is not None]
            if landed:
                rows[table] = sum(landed)
    return rows | facts.rows_written


def _dq_facets(cfg: Settings, facts: RunFacts) -> dict[str, dict]:
    """Per table the run validated: assertions (every rule, passed or not) and metrics (rows evaluated, failed
    per column)."""
    by_table: dict[str, list[dict]] = {}
    for r in _rows_of_run(ops.DQ_RESULTS.location(cfg), facts, "checked_at"):
        by_table.setdefault(r["table_name"], []).append(r)
    facets = {}
    for table, results in by_table.items():
        assertions = [Assertion(assertion=r["expectation_type"] or r["rule"], success=bool(r["success"]),
                                column=r["column_name"], name=r["rule"],
                                # warn: reported only; quarantine and fail act on the rows or the run.
                                severity="warning" if r["action"] == "warn" else "error",
                                actual=str(r["failed"]), expected="0")
                      for r in sorted(results, key=lambda r: r["rule"])]
        metrics = {r["column_name"]: ColumnMetrics(count=float(r["evaluated"] or 0), nullCount=None)
                   for r in results if r["column_name"]}
        evaluated = max((r["evaluated"] or 0 for r in results), default=None)
        facets[table] = {
            "dataset": {"dataQualityAssertions": DataQualityAssertionsDatasetFacet(assertions=assertions)},
            "input": {"dataQualityMetrics": DataQualityMetricsInputDatasetFacet(columnMetrics=metrics,
                                                                                rowCount=evaluated)},
        }
    return facets


def delivered_files(cfg: Settings, facts: RunFacts) -> list[dict]:
    """bronze.ingested_files rows recorded during the run: the files it read (name, sha256, rows added)."""
    location = cfg.table_location("bronze", "ingested_files")
    return [{"name": r["source_path"], "sha256": r["sha256"], "rows": r["rows_added"], "status": r["status"]}
            for r in _rows_of_run(location, facts, "ingested_at")]
