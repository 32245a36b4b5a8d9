"""notebooks/app_event_producer.ipynb executed headless (nbclient) against the module's real broker.

The kernel inherits this module's topic (QLAKE_KAFKA_TOPIC, set by the ``harness`` fixture), the broker and the
metastore ports; its parameters come from QLAKE_NB_* variables. What it prints is checked against what the broker
holds (end offsets minus the offsets before the run) and against :func:`streaming.producer.generate`.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter

from helpers import drop_tables
from streaming.state import running_pid
from streaming.producer import ProducerOptions, ProducerRun, generate, produce
from test_notebooks import WRITES, kernel_specs, nbformat, NOTEBOOKS, run_notebook, text  # noqa: F401 - fixture

NAME = "app_event_producer"
STREAM_TABLES = ("bronze.app_events", "bronze.app_events_rejected", "silver.app_events")
PARAMS = {"COUNT": 300, "RATE": 1000, "SEED": 20, "EXTRA_FIELD_RATIO": 0.1, "MALFORMED_RATIO": 0.05}
PARTITION = re.compile(r"^partition (\d+): offsets (\d+)-(\d+) \(([\d,]+) messages\)$", re.M)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def params(**extra) -> dict[str, str]:
    return {f"QLAKE_NB_{k}": str(v) for k, v in {**PARAMS, **extra}.items()}


def test_committed_notebook_is_clean_and_defines_no_tables():
    book = nbformat.read(NOTEBOOKS / f"{NAME}.ipynb", as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, "outputs are not cleared"
        for word in WRITES:
            assert word not in cell.source, f"a notebook defines no tables; found {word!r} in:\n{cell.source}"
    assert "from streaming.producer import ProducerOptions, ProducerRun" in "\n".join(c.source for c in code)


def test_produces_what_the_broker_then_holds(harness, spark, kernel_specs):
    drop_tables(spark, harness.settings, *STREAM_TABLES)  # the stream never ran in this lake
    before = harness.end_offsets()
    book = run_notebook(NAME, kernel_specs, **params(STREAM_WAIT_SECONDS=0))
    after = harness.end_offsets()
    out = text(book)
    topic = harness.settings.kafka_topic

    held = {p: after[p] - before.get(p, 0) for p in after}
    assert sum(held.values()) == 300
    printed = {int(p): (int(first), int(last), int(n.replace(",", "")))
               for p, first, last, n in PARTITION.findall(out)}
    assert printed == {p: (before.get(p, 0), after[p] - 1, n) for p, n in held.items() if n}
    assert f"delivered 300 of 300 messages to {topic}" in out
    assert f"broker: {harness.settings.bootstrap_servers} (managed by qlake), topic: {topic}" in out

    messages = list(generate(300, seed=20, extra_field_ratio=0.1, malformed_ratio=0.05))
    by_type = Counter(m.event["eventType"] for m in messages if m.is_event)
    malformed = sum(not m.is_event for m in messages)
    assert f"producer stopped -> topic {topic} (300 messages)" in out
    assert f"events {300 - malformed:,} (with an unannounced field: " \
           f"{sum(bool(m.drift_field) for m in messages):,}), malformed {malformed:,}" in out
    for event_type, n in by_type.items():
        assert re.search(rf"^  {event_type}\s+{n:,}$", out, re.M), event_type
    assert "[########################################] 100.0%" in out  # the bounded run's bar, at the end
    assert "bronze.app_events does not exist yet: the stream never ran; start it with `qlake stream`" in out
    assert "Traceback" not in out


def test_no_reachable_broker_is_one_clear_line(kernel_specs):
    bootstrap = f"127.0.0.1:{unused_port()}"  # nothing listens there
    book = run_notebook(NAME, kernel_specs, QLAKE_KAFKA_BOOTSTRAP=bootstrap, **params())
    out = text(book)
    line = (f"no Kafka broker reachable at {bootstrap} (no answer within 5s): check QLAKE_KAFKA_BOOTSTRAP, "
            "then re-run this notebook")
    assert f"broker: {bootstrap} (QLAKE_KAFKA_BOOTSTRAP)" in out
    assert out.count(line) == 2  # the broker cell and "producer not started: ..."
    assert "nothing delivered: nothing for the stream to pick up" in out
    assert "Traceback" not in out and "Error" not in out


def test_background_run_stops_cleanly_and_duration_bounds(harness):
    """The API the notebook and `qlake produce` share: a stop mid-run loses nothing; a duration bound is exact."""
    before = harness.end_offsets()
    run = ProducerRun(harness.settings, ProducerOptions(rate=200, seed=5)).start()  # unbounded
    time.sleep(1.0)
    assert run.running and run.progress() is None
    stats = run.stop()
    assert not run.running and stats["done"] and stats["error"] is None
    after = harness.end_offsets()
    assert stats["delivered"] == stats["sent"] == sum(after[p] - before.get(p, 0) for p in after)
    assert 100 <= stats["sent"] <= 260  # ~1 s at 200 ev/s on a busy machine
    assert {p: o["messages"] for p, o in stats["offsets"].items()} == {
        p: after[p] - before.get(p, 0) for p in after if after[p] > before.get(p, 0)}

    timed = produce(harness.settings, duration=0.5, rate=100, seed=6, progress=False)
    assert timed["sent"] == timed["delivered"] == 50  # due times 0.00 .. 0.49 s
    assert sum(timed["by_type"].values()) == timed["events"] == 50

    cli = harness.cli("produce", "--duration", "0.3", "--rate", "100", "--seed", "7", "--quiet")
    assert cli.returncode == 0, cli.stderr
    printed = json.loads(cli.stdout)
    assert printed["sent"] == printed["delivered"] == 30 and printed["failed"] == 0


def test_running_stream_picks_the_run_up(harness, kernel_specs):
    """With `qlake stream` running, the notebook waits for it and reports this run's rows per table."""
    stream = harness.start_stream("--trigger-interval", "1 second")
    try:
        deadline = time.monotonic() + 60
        while running_pid(harness.settings) is None and time.monotonic() < deadline:
            assert stream.poll() is None, stream.stdout.read()[-3000:]
            time.sleep(0.2)
        book = run_notebook(NAME, kernel_specs, **params(SEED=21, STREAM_WAIT_SECONDS=150))
    finally:
        harness.stop(stream)
    out = text(book)
    malformed = sum(not m.is_event for m in generate(300, seed=21, extra_field_ratio=0.1, malformed_ratio=0.05))
    assert (f"the stream picked up all 300 messages: {300 - malformed:,} events in silver.app_events, "
            f"{malformed:,} in bronze.app_events_rejected (sent {300 - malformed:,} events, {malformed:,} malformed)"
            in out), out
