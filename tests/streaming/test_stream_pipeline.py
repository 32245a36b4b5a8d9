"""End to end: producer -> real broker -> `qlake stream` (classic Spark, subprocess) -> Delta -> exact checks.

The tests run in order and build on each other (one broker, one topic, one checkpoint for the module): every
expectation is recomputed from the producer's own messages, so "exactly once" means exactly the produced records.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import stream_expectations as expect
from deltalake import DeltaTable

from streaming.synthetic_events import COMMON_FIELDS

BRONZE, REJECTED, SILVER = "bronze.app_events", "bronze.app_events_rejected", "silver.app_events"
FUNNEL, TOP, REVENUE = "gold.stream_funnel_1m", "gold.stream_top_products_5m", "gold.stream_revenue_by_payment_1m"
ALL_TABLES = (BRONZE, REJECTED, SILVER, FUNNEL, TOP, REVENUE)


def produced_messages(harness, include_late: bool = True):
    runs = [r for r in harness.produced if include_late or not r.get("late")]
    return expect.messages([{k: v for k, v in r.items() if k != "late"} for r in runs])


def on_time_events(harness) -> list[dict]:
    return [m.event for m in produced_messages(harness, include_late=False) if m.is_event]


def assert_exactly_once(harness) -> None:
    """Bronze holds each offset of the topic exactly once; silver + rejected partition it exactly."""
    bronze = harness.table(BRONZE, ["kafka_partition", "kafka_offset"])
    pairs = list(zip(bronze.column("kafka_partition").to_pylist(), bronze.column("kafka_offset").to_pylist()))
    assert len(pairs) == len(set(pairs)), "duplicate (partition, offset) in bronze"
    expected = {(p, o) for p, end in harness.end_offsets().items() for o in range(end)}
    assert set(pairs) == expected, f"missing {len(expected - set(pairs))}, unexpected {len(set(pairs) - expected)}"
    messages = produced_messages(harness)
    assert len(pairs) == len(messages)
    assert harness.count(SILVER) == sum(m.is_event for m in messages)
    assert harness.count(REJECTED) == sum(not m.is_event for m in messages)


def assert_reports_match(harness) -> None:
    events = on_time_events(harness)
    assert expect.actual_funnel(harness.location(FUNNEL)) == expect.funnel(events)
    assert expect.actual_revenue(harness.location(REVENUE)) == expect.revenue(events)
    assert expect.actual_top_products(harness.location(TOP)) == expect.top_products(events)


def batches(harness) -> list[dict]:
    from streaming.state import batches_file

    path = batches_file(harness.settings)
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def spark_jvms_of(home: str) -> list[int]:
    """PIDs of classic Spark JVMs started for this lake (to prove a killed job leaves no orphan behind)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if b"org.apache.spark.deploy.SparkSubmit" in cmdline and f"QLAKE_HOME={home}".encode() in environ:
            found.append(int(proc.name))
    return found


def test_producer_rate_limit(harness):
    from qlake.broker import create_topic

    create_topic(harness.settings, "rate_probe", 1)
    from streaming.producer import produce

    started = time.perf_counter()
    counts = produce(harness.settings, count=300, rate=1000, seed=9, topic="rate_probe", progress=False)
    elapsed = time.perf_counter() - started
    assert counts["sent"] == 300
    assert elapsed >= 0.29, f"300 events at 1000 ev/s took only {elapsed:.3f}s"


def test_first_run_ingests_every_record_once(harness):
    counts = harness.produce(count=10_000, seed=1, extra_field_ratio=0.1, malformed_ratio=0.01)
    assert counts["sent"] == 10_000 and counts["malformed"] > 50 and counts["extra_fields"] > 800
    result = harness.stream("--available-now")
    assert result.returncode == 0, result.stderr[-4000:]
    assert harness.count(BRONZE) == 10_000
    assert_exactly_once(harness)


def test_every_stream_table_keeps_a_bounded_delta_log(harness):
    # Set by the job on its tables (new or existing): deltalake then drops commit files older than 5 minutes at
    # each checkpoint, so the log of a stream committing twice a second stays ~600 files, not 5 million.
    for name in ALL_TABLES:
        configuration = DeltaTable(harness.location(name)).metadata().configuration
        assert configuration.get("delta.logRetentionDuration") == "interval 5 minutes", name


def test_rejected_records_carry_their_reason(harness):
    def reason(message) -> str:
        if message.malformed in ("not_json", "truncated_json"):
            return "invalid_json"
        if message.malformed == "json_array":
            return "json_array"
        if message.malformed == "json_scalar":
            return "json_not_object"
        if message.malformed == "missing_fields":
            present = json.loads(message.value)
            return "missing_fields:" + ",".join(f for f in COMMON_FIELDS if f not in present)
        return message.malformed  # bad_timestamp

    expected = Counter(reason(m) for m in produced_messages(harness) if not m.is_event)
    actual = Counter(harness.table(REJECTED, ["reason"]).column("reason").to_pylist())
    assert actual == expected
    bronze = harness.table(BRONZE, ["is_valid", "reject_reason"]).to_pylist()
    assert Counter(r["reject_reason"] for r in bronze if not r["is_valid"]) == expected
    assert all(r["reject_reason"] is None for r in bronze if r["is_valid"])


def test_silver_types_every_field_and_keeps_unknown_ones(harness):
    events = [m.event for m in produced_messages(harness) if m.is_event]

    def expected_row(e: dict) -> tuple:
        amount = e.get("totalAmount")
        return (
            e["eventType"], e["customerId"], e["productId"],
            datetime.strptime(e["timestamp"], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc),
            e["metadata"].get("category"), e["metadata"].get("source"), e.get("quantity"),
            None if amount is None else Decimal(str(amount)).quantize(Decimal("0.01")),
            e.get("paymentMethod"), e.get("recommendedProductId"), e.get("algorithm"),
        )

    columns = ["event_type", "customer_id", "product_id", "event_time", "category", "source", "quantity",
               "total_amount", "payment_method", "recommended_product_id", "algorithm"]
    silver = harness.table(SILVER, columns + ["extra_fields"]).to_pylist()
    assert Counter(tuple(r[c] for c in columns) for r in silver) == Counter(expected_row(e) for e in events)

    # Schema drift: every unknown field (top level or inside metadata) is in extra_fields, as its JSON text.
    expected_extra = Counter()
    for e in events:
        for key, value in e.items():
            if key not in COMMON_FIELDS + ("quantity", "totalAmount", "paymentMethod", "recommendedProductId",
                                           "algorithm"):
                expected_extra[(key, str(value))] += 1
        for key, value in e["metadata"].items():
            if key not in ("category", "source"):
                expected_extra[(f"metadata.{key}", str(value))] += 1
    actual_extra = Counter(pair for r in silver for pair in r["extra_fields"])
    assert expected_extra and actual_extra == expected_extra
    assert {"appVersion", "deviceType", "experimentId", "metadata.campaign"} <= {k for k, _ in actual_extra}


def test_reports_equal_independent_recomputation(harness):
    assert_reports_match(harness)
    funnel = harness.table(FUNNEL).to_pylist()
    assert len(funnel) > 100  # ~3.5 h of event time in 1-minute windows


def test_rerun_adds_nothing(harness):
    versions = {name: harness.version(name) for name in ALL_TABLES}
    result = harness.stream("--available-now")
    assert result.returncode == 0, result.stderr[-4000:]
    assert {name: harness.version(name) for name in ALL_TABLES} == versions
    assert harness.count(BRONZE) == 10_000


def test_500_more_adds_exactly_500(harness):
    harness.produce(count=500, seed=2, start="2026-01-02T00:00:00")
    result = harness.stream("--available-now")
    assert result.returncode == 0, result.stderr[-4000:]
    assert harness.count(BRONZE) == 10_500
    assert_exactly_once(harness)
    assert_reports_match(harness)


def test_sigkill_mid_batch_then_restart_is_exactly_once(harness):
    last = batches(harness)[-1]["batch_id"]
    harness.produce(count=1_500, seed=3, start="2026-01-03T00:00:00")
    # SIGKILL right after silver is committed for the run's 2nd batch. A batch's tables are written side by side,
    # so which others have it at that moment varies: the Delta app transactions say which.
    crash_batch = last + 2
    result = harness.stream_killed_after(SILVER, crash_batch, "--available-now", "--max-offsets-per-trigger", "500",
                                         "--read-on", "executors")
    assert result.returncode == -9, result.stderr[-4000:]
    had = [name for name in ALL_TABLES if harness.has_batch(name, crash_batch)]
    assert SILVER in had
    assert harness.count(BRONZE) == 10_500 + 500 + (500 if BRONZE in had else 0)
    deadline = time.monotonic() + 20
    while spark_jvms_of(harness.settings.home) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not spark_jvms_of(harness.settings.home), "the killed job left its JVM running"

    # Restarted with the other reader: the uncommitted batch is read again from the checkpoint's offsets by the
    # driver reader's replay path (readBetweenOffsets), the same records the executors had read.
    result = harness.stream("--available-now", "--max-offsets-per-trigger", "500", "--read-on", "driver")
    assert result.returncode == 0, result.stderr[-4000:]
    replayed = [b for b in batches(harness) if b["batch_id"] == crash_batch]
    assert sorted(replayed[-1]["skipped"]) == sorted(had)  # exactly the tables that had it, and only those
    assert harness.count(BRONZE) == 12_000
    assert_exactly_once(harness)
    assert_reports_match(harness)


def test_broker_restart_late_events_and_sigterm(harness):
    from qlake.broker import Broker

    proc = harness.start_stream("--trigger-interval", "1 second")
    try:
        harness.produce(count=1_000, seed=4, start="2026-01-04T00:00:00")
        harness.wait_for(BRONZE, 13_000, proc=proc)
        broker = Broker(harness.settings)
        broker.down()
        time.sleep(3)  # the job keeps polling a dead broker: it must neither die nor skip anything
        assert proc.poll() is None
        broker.up()
        harness.produce(count=1_000, seed=5, start="2026-01-05T00:00:00")
        harness.wait_for(BRONZE, 14_000, proc=proc)
        # 20 events from long before the watermark: kept in bronze/silver, left out of the live reports.
        harness.produce(count=20, seed=6, start="2026-01-01T00:30:00", late=True)
        harness.wait_for(BRONZE, 14_020, proc=proc)
    finally:
        code = harness.stop(proc)
    output = proc.stdout.read()
    assert code == 0, output[-4000:]
    assert "SIGTERM received: stopping after the current batch" in output
    assert "stream stopped on request" in output
    assert_exactly_once(harness)
    assert_reports_match(harness)
    assert sum(b["late"] for b in batches(harness)) == 20


def test_status_shows_lag_and_last_batch(harness):
    result = harness.cli("stream", "status", "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["running"] is False
    assert info["lag"] and set(info["lag"].values()) == {0}
    assert info["last_committed_batch"] == info["bronze_txn_batch"] == batches(harness)[-1]["batch_id"]


def test_report_stream_reads_the_registered_tables(harness):
    # Through Sail + the metastore, by table name: also proves the job registered its tables.
    result = harness.cli("report", "stream", "--minutes", "3", timeout=120, COLUMNS="200")
    assert result.returncode == 0, result.stderr[-4000:]
    newest = max(r["window_start"] for r in harness.table(FUNNEL, ["window_start"]).to_pylist())
    assert "Funnel per minute" in result.stdout
    assert newest.strftime("%Y-%m-%d %H:%M") in result.stdout
    assert "Most viewed categories" in result.stdout


def test_compaction_merges_every_stream_table_and_changes_no_row(harness):
    """`qlake stream compact` with the stream stopped: every table down to one file, the same rows, and a re-run
    of the stream still adds nothing (the app transactions survive the rewrite)."""
    rows = {name: harness.count(name) for name in ALL_TABLES}
    files = {name: len(DeltaTable(harness.location(name)).file_uris()) for name in ALL_TABLES}
    assert max(files.values()) > 1  # at least one table has several files to merge
    result = harness.cli("stream", "compact", "--retention-hours", "0", "--json")
    assert result.returncode == 0, result.stderr[-3000:]
    report = {r["table"]: r for r in json.loads(result.stdout)}
    assert set(report) == set(ALL_TABLES)
    for name in ALL_TABLES:
        assert (report[name]["compacted"], report[name]["error"]) == (True, None), report[name]
        assert report[name]["files_before"] == files[name] and report[name]["files_after"] == 1, report[name]
        assert len(DeltaTable(harness.location(name)).file_uris()) == 1
        assert harness.count(name) == rows[name]
    assert_exactly_once(harness)
    assert_reports_match(harness)
    again = harness.stream("--available-now")
    assert again.returncode == 0, again.stderr[-3000:]
    assert {name: harness.count(name) for name in ALL_TABLES} == rows
