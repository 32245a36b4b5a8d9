"""Lineage and freshness: OpenLineage events of real runs, `qlake lineage` down to the delivered file and row,
`qlake status` failing a health check when a table is late."""

from __future__ import annotations

import hashlib
import json
import os
import time
from datetime import date
from pathlib import Path

import jsonschema
import pytest
from openlineage.client.serde import Serde

from helpers import qlake, reset_lake

SAMPLE_KEY = "trx-667682345565"  # row 3 of group2's sales_transactions file, an offline sale on 2023-05-03
GROUP2_SHA = "35c8f47e0823ffcee22527ff38917fd13fe5a87edc09c7fbbf20d4d0871a5904"

# openlineage-python 1.54.0 ships no copy of the spec's JSON schema (only classes generated from it). These are the
# rules of the spec's RunEvent (https://openlineage.io/spec/2-0-2/OpenLineage.json) a consumer such as Marquez
# enforces; OPENLINEAGE_SCHEMA=<path to OpenLineage.json> validates against the official file instead.
_FACET = {"type": "object", "required": ["_producer", "_schemaURL"],
          "properties": {"_producer": {"type": "string", "format": "uri"},
                         "_schemaURL": {"type": "string", "format": "uri"}}}
_FACETS = {"type": "object", "additionalProperties": _FACET}
_DATASET = {"type": "object", "required": ["namespace", "name"],
            "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS,
                           "inputFacets": _FACETS, "outputFacets": _FACETS}}
RUN_EVENT_RULES = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {"type": "object", "required": ["runId"],
                "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _FACETS}},
        "job": {"type": "object", "required": ["namespace", "name"],
                "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS}},
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


def _validator():
    official = os.environ.get("OPENLINEAGE_SCHEMA")
    schema = json.loads(Path(official).read_text()) if official else RUN_EVENT_RULES
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="module")
def built(spark, cfg, sample_dir, tmp_path_factory):
    """The sample delivered hour by hour, then the daily export of 2023-05-03; events in their own file."""
    events = tmp_path_factory.mktemp("ol") / "openlineage.jsonl"
    os.environ["QLAKE_OPENLINEAGE_FILE"] = str(events)
    reset_lake(spark, cfg)
    for group in sorted(sample_dir.iterdir()):
        out = qlake("run", "hourly", "--incoming", str(group))
        assert out.returncode == 0, out.stderr[-3000:]
    out = qlake("run", "daily", "--date", "2023-05-03", "--retention-hours", "168")
    assert out.returncode == 0, out.stderr[-3000:]
    yield [json.loads(line) for line in events.read_text().splitlines()]
    os.environ.pop("QLAKE_OPENLINEAGE_FILE", None)


def _completed(events, job):
    return [e for e in events if e["job"]["name"] == f"qlake.{job}" and e["eventType"] == "COMPLETE"]


def test_every_run_emits_valid_start_and_complete_events(built, cfg):
    from qlake import runlog

    validator = _validator()
    for event in built:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(event)]
        assert errors == [], (event["job"]["name"], event["eventType"], errors)
    assert [(e["job"]["name"], e["eventType"]) for e in built] == [
        ("qlake.hourly", "START"), ("qlake.hourly", "COMPLETE")] * 3 + [
        ("qlake.daily", "START"), ("qlake.daily", "COMPLETE")]
    runs = runlog.last_runs(cfg, "hourly")
    assert [e["run"]["facets"]["qlake_run"]["run_id"] for e in _completed(built, "hourly")] == \
        [r["run_id"] for r in runs]
    assert built[0]["run"]["runId"] == built[1]["run"]["runId"] != built[2]["run"]["runId"]
    assert {e["producer"] for e in built} == {"https://github.com/q-company/qlake"}


def test_hourly_event_names_files_tables_versions_rows_and_dq(built, cfg):
    from qlake import runlog

    second = _completed(built, "hourly")[1]
    files = {Path(d["name"]).name: d["facets"]["qlake_file"] for d in second["inputs"] if d["namespace"] == "file"}
    assert {name: (f["rows"], f["status"]) for name, f in files.items()} == {
        "sales_transactions_SS_raw_2.csv": (1500, "ingested"),
        # group2 re-lists the agents and branches of group1 byte for byte
        "sales_agents_SS_raw_2.csv": (0, "duplicate"), "branches_SS_raw_2.csv": (0, "duplicate")}
    assert files["sales_transactions_SS_raw_2.csv"]["sha256"] == GROUP2_SHA
    tables_read = {d["name"]: d["facets"]["version"]["datasetVersion"] for d in second["inputs"]
                   if d["namespace"] != "file"}
    assert tables_read == {"bronze.branches": "1", "bronze.rejected_files": "0", "bronze.sales_agents": "1",
                           "silver.branches": "1", "silver.products": "1", "silver.sales_agents": "1"}
    outputs = {d["name"]: d for d in second["outputs"]}
    written = json.loads(runlog.last_runs(cfg, "hourly")[1]["delta_versions"])
    assert {name: int(d["facets"]["version"]["datasetVersion"]) for name, d in outputs.items()} == written
    fact = outputs["gold.fact_sales"]
    assert fact["outputFacets"]["outputStatistics"]["rowCount"] == 1500
    assert outputs["silver.sales_transactions"]["outputFacets"]["outputStatistics"]["rowCount"] == 1500
    lineage = fact["facets"]["columnLineage"]["fields"]
    assert [(f["name"], f["field"]) for f in lineage["customer_key"]["inputFields"]] == [
        ("silver.sales_transactions", "customer_id"), ("gold.dim_customer", "customer_key")]
    assert outputs["bronze.sales_transactions"]["outputFacets"]["outputStatistics"]["rowCount"] == 1500
    assertions = outputs["silver.sales_transactions"]["facets"]["dataQualityAssertions"]["assertions"]
    assert len(assertions) == 27 and all(a["success"] for a in assertions)
    # The first hour's delivery breaks one warn rule twice: the facet says so.
    first = {d["name"]: d for d in _completed(built, "hourly")[0]["outputs"]}
    broken = [(a["name"], a["success"], a["actual"], a["severity"])
              for a in first["silver.sales_transactions"]["facets"]["dataQualityAssertions"]["assertions"]
              if not a["success"]]
    assert broken == [("online_city_known", False, "2", "warning")]
    assert first["silver.sales_agents"]["outputFacets"]["outputStatistics"]["rowCount"] == 10
    # The re-delivered third group: its files are named with the duplicate status, only the manifest is written.
    third = _completed(built, "hourly")[2]
    assert {d["facets"]["qlake_file"]["status"] for d in third["inputs"]} == {"duplicate"}
    assert [d["name"] for d in third["outputs"]] == ["bronze.ingested_files"]


def test_daily_event_names_the_export_file_with_its_sha256(built, cfg):
    from gold import b2b_export

    daily = _completed(built, "daily")[0]
    path = b2b_export.file_path(cfg, date(2023, 5, 3))
    exported = next(d for d in daily["outputs"] if d["namespace"] == "file")
    assert exported["name"] == str(path)
    assert exported["facets"]["qlake_file"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert exported["outputFacets"]["outputStatistics"]["rowCount"] == len(path.read_text().splitlines()) - 1
    assert {d["name"] for d in daily["inputs"]} >= {"gold.fact_sales", "gold.dim_sales_agent", "gold.dim_product"}


def test_a_failed_run_emits_fail_with_its_error(built, spark, cfg):
    from qlake import runlog

    with pytest.raises(RuntimeError):
        with runlog.recorded(spark, cfg, "gold"):
            raise RuntimeError("silver.sales_transactions is locked by another writer")
    events = [json.loads(line) for line in Path(cfg.openlineage_file).read_text().splitlines()]
    failed = events[-1]
    assert (failed["job"]["name"], failed["eventType"]) == ("qlake.gold", "FAIL")
    assert failed["run"]["facets"]["errorMessage"]["message"] == \
        "RuntimeError: silver.sales_transactions is locked by another writer"
    assert list(_validator().iter_errors(failed)) == []


def test_the_worker_sends_the_events_a_run_that_cannot_reach_it_sends_itself(built, spark, cfg, monkeypatch):
    """The resident worker builds and sends a run's events from the facts the run sends; a run that cannot reach
    it (here: the connection refused) sends the same events itself."""
    from qlake import gx_client, runlog

    def events_of(run_id):
        lines = Path(cfg.openlineage_file).read_text().splitlines()
        return [e for e in map(json.loads, lines) if e["run"]["facets"]["qlake_run"]["run_id"] == run_id]

    def shape(event):  # what differs between two runs: times and ids
        return (event["eventType"], event["job"], sorted(event["run"]["facets"]),
                [(d["name"], sorted(d.get("facets", {}))) for d in event.get("outputs", [])])

    with runlog.recorded(spark, cfg, "gold") as by_worker:
        by_worker.rows_written["gold.fact_sales"] = 0
    assert gx_client.GxWorker(cfg).running()

    def refused(*args, **kwargs):
        raise RuntimeError("no worker answered")

    monkeypatch.setattr(gx_client, "connect", refused)
    with runlog.recorded(spark, cfg, "gold") as by_run:
        by_run.rows_written["gold.fact_sales"] = 0
    sent = [events_of(by_worker.run_id), events_of(by_run.run_id)]
    assert [[e["eventType"] for e in events] for events in sent] == [["START", "COMPLETE"]] * 2
    assert [shape(e) for e in sent[0]] == [shape(e) for e in sent[1]]
    assert all(list(_validator().iter_errors(e)) == [] for events in sent for e in events)


def test_lineage_of_a_column_reaches_the_delivered_columns(built):
    out = qlake("lineage", "gold.fact_sales.total_paid_price_after_discount")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "gold.fact_sales.total_paid_price_after_discount",
        "  <- silver.sales_transactions.total_paid_price_after_discount",
        "    <- bronze.sales_transactions.units",
        "    <- bronze.sales_transactions.unit_price",
        *[f"    <- bronze.sales_transactions.offer_{k}" for k in range(1, 6)],
    ]
    from qlake import lineage

    assert lineage.bronze_sources("gold.dim_sales_agent.sales_agent_name") == ["bronze.sales_agents.name"]


def test_lineage_of_a_key_names_the_delivered_file_and_row(built):
    out = qlake("lineage", "gold.fact_sales", "--key", SAMPLE_KEY, "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert (found["file_name"], found["sha256"], found["row_number"], found["traced_through"]) == (
        "sales_transactions_SS_raw_2.csv", GROUP2_SHA, 3, "silver.sales_transactions")
    assert found["delivered_row"]["transaction_id"] == SAMPLE_KEY
    assert found["delivered_row"]["cusomter_email"] == "olivia.miller@outlook.com]x"
    missing = qlake("lineage", "gold.fact_sales", "--key", "trx-000000000000")
    assert missing.returncode == 1 and "no row with transaction_id = 'trx-000000000000'" in missing.stderr


def test_status_exits_non_zero_when_a_table_is_late(built):
    fresh = qlake("status", "--json")
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["stale"] == []
    time.sleep(1.5)
    late = qlake("status", env={"QLAKE_STALE_AFTER": "gold.fact_sales=1s"})
    assert late.returncode == 2
    assert "STALE gold.fact_sales" in late.stderr
    report = json.loads(qlake("status", "--json", env={"QLAKE_STALE_AFTER": "gold.*=1s"}).stdout)
    # A pattern also covers tables that declare no interval (the dimensions); never-written stream tables are not late.
    assert report["stale"] == ["gold.dim_branch", "gold.dim_customer", "gold.dim_date", "gold.dim_offer",
                               "gold.dim_product", "gold.dim_sales_agent", "gold.fact_sales",
                               "gold.mkt_offer_redemptions", "gold.mkt_online_sales_by_city", "gold.mkt_top_products"]
    no_data = [f["table"] for f in report["freshness"] if f["freshness"] == "no data"]
    assert no_data == ["bronze.app_events", "gold.stream_funnel_1m", "gold.stream_revenue_by_payment_1m",
                       "gold.stream_top_products_5m", "silver.app_events"]


def test_a_stream_batch_emits_start_and_complete_with_its_tables(built, spark, cfg):
    """The batch writer's event pair, over real (freshly created) stream tables; the stream job itself needs Kafka
    and a classic JVM (tests/streaming runs it end to end)."""
    from deltalake import DeltaTable

    from qlake import catalog
    from streaming import app_events, lineage
    from streaming.batch_writer import BatchStats
    from streaming.outputs import tables

    for spec in (app_events.BRONZE, app_events.SILVER):
        catalog.ensure_table(spark, spec, cfg)
    stats = BatchStats(batch_id=7, rows=120, bronze=120, rejected=0, silver=118, started=1_800_000_000.0,
                       finished=1_800_000_002.5)
    start, complete = lineage.batch_events(cfg, stats, "0b3c-query", {s.name: s for s in tables()})
    validator = _validator()
    for event in (start, complete):
        payload = json.loads(Serde.to_json(event))
        assert list(validator.iter_errors(payload)) == []
    assert (start.eventType.value, complete.eventType.value) == ("START", "COMPLETE")
    assert start.run.runId == complete.run.runId
    assert complete.run.facets["qlake_run"].run_id == "stream-0b3c-query-7"
    assert [i.name for i in complete.inputs] == [cfg.kafka_topic]
    assert [(o.name, o.facets["version"].datasetVersion, o.outputFacets["outputStatistics"].rowCount)
            for o in complete.outputs] == [
        ("bronze.app_events", str(DeltaTable(app_events.BRONZE.location(cfg)).version()), 120),
        ("silver.app_events", str(DeltaTable(app_events.SILVER.location(cfg)).version()), 118)]


def test_openlineage_url_sends_the_events_over_http_and_a_down_endpoint_fails_nothing(built, spark, cfg):
    """QLAKE_OPENLINEAGE_URL: the client's HTTP transport posts to <url>/api/v1/lineage (Marquez' endpoint); here a
    real HTTP server on a free port receives them."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from helpers import free_port
    from qlake import runlog

    received = []

    class Lineage(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received.append((self.path, json.loads(self.rfile.read(int(self.headers["Content-Length"])))))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Lineage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        os.environ["QLAKE_OPENLINEAGE_URL"] = f"http://127.0.0.1:{server.server_port}"
        with runlog.recorded(spark, cfg, "gold") as record:
            record.add(rows_out=0)
    finally:
        server.shutdown()
    assert [(path, event["eventType"], event["job"]["name"]) for path, event in received] == [
        ("/api/v1/lineage", "START", "qlake.gold"), ("/api/v1/lineage", "COMPLETE", "qlake.gold")]
    assert received[1][1]["run"]["facets"]["qlake_run"]["run_id"] == record.run_id
    # Nothing listens any more: the run still succeeds and is recorded.
    try:
        with runlog.recorded(spark, cfg, "gold") as down:
            pass
    finally:
        os.environ.pop("QLAKE_OPENLINEAGE_URL")
    assert runlog.last_runs(cfg, "gold")[-1]["run_id"] == down.run_id
    assert runlog.last_runs(cfg, "gold")[-1]["status"] == "succeeded"
