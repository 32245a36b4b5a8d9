"""One OpenLineage event pair (START + COMPLETE) per stream batch: Kafka topic in, Delta tables out.

The batch's outputs carry the Delta version the batch left (read from each written table's log) and the rows it
wrote (``outputStatistics``); the run id is the query id + batch id, so a batch replayed after a crash has the same
run. Called by the batch writer after a batch is recorded; emitting never fails a batch.
"""

from __future__ import annotations

from datetime import datetime, timezone

from deltalake import DeltaTable
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.generated.output_statistics_output_dataset import OutputStatisticsOutputDatasetFacet

from qlake import lineage_events
from qlake.config import Settings

JOB = "stream"


def batch_events(settings: Settings, stats, query_id: str, specs: dict) -> list[RunEvent]:
    """START and COMPLETE of one batch; ``specs`` maps table name -> TableSpec of the tables it may write."""
    run_id = f"{JOB}-{query_id}-{stats.batch_id}"
    rows = {
        "bronze.app_events": stats.bronze, "bronze.app_events_rejected": stats.rejected,
        "silver.app_events": stats.silver,
    } | {name: n for name, n in stats.report_rows.items()}
    namespace = lineage_events.table_namespace(settings)
    outputs = []
    for name, count in sorted(rows.items()):
        if not count or name not in specs or name in stats.skipped:
            continue
        version = DeltaTable(specs[name].location(settings)).version()
        outputs.append(OutputDataset(
            namespace=namespace, name=name, facets=lineage_events.version_facet(version),
            outputFacets={"outputStatistics": OutputStatisticsOutputDatasetFacet(rowCount=int(count))},
        ))
    run_facet = lineage_events.QlakeRunRunFacet(run_id=run_id, job=JOB, rows_in=stats.rows, rows_out=stats.silver,
                                                rows_quarantined=stats.rejected)
    run = Run(runId=lineage_events.run_uuid(run_id), facets={"qlake_run": run_facet})
    job = Job(namespace=settings.openlineage_namespace, name=f"qlake.{JOB}")
    topic = InputDataset(namespace=f"kafka://{settings.bootstrap_servers}", name=settings.kafka_topic)

    def at(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()

    return [
        RunEvent(eventType=RunState.START, eventTime=at(stats.started), producer=lineage_events.PRODUCER,
                 run=run, job=job, inputs=[topic]),
        RunEvent(eventType=RunState.COMPLETE, eventTime=at(stats.finished), producer=lineage_events.PRODUCER,
                 run=run, job=job, inputs=[topic], outputs=outputs),
    ]


def emit_batch(settings: Settings, stats, query_id: str, specs: dict) -> None:
    try:
        events = batch_events(settings, stats, query_id, specs)
    except Exception as exc:  # noqa: BLE001 - lineage is reporting; the batch is committed already
        lineage_events.log.warning("OpenLineage events for stream batch %s not built: %s", stats.batch_id, exc)
        return
    for event in events:
        lineage_events.emit(settings, event)
