"""notebooks/app_event_producer.ipynb executed headless (nbclient) against the module's real broker.

The kernel inherits this module's topic (QLAKE_KAFKA_TOPIC, set by the ``harness`` fixture), the broker and the
metastore ports; its parameters come from QLAKE_NB_* variables. What it prints is checked against what the broker
holds (end offsets minus the offsets before the run) and against :func:`streaming.producer.generate`.
"""

from __future__ import annotations

import re
import socket
from collections import Counter

import pytest

from helpers import drop_tables
from streaming.producer import generate
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
