"""The executor side of ``qlake_kafka`` (streaming/kafka_source.py): the record schema, and the read of
partition ranges with librdkafka (confluent-kafka) into Arrow record batches built column-wise, with one consumer
kept per worker process for reuse (a new one costs ~0.3 s, a reused one 50-90 ms for a small range)."""

from __future__ import annotations

import json
import logging
import time
from typing import Iterator

import pyarrow as pa
from pyspark.sql import types as T

NAME = "qlake_kafka"  # the data source's name (streaming/kafka_source.py), in its messages
log = logging.getLogger("qlake.kafka_source")

# The same columns (and nullability) as Spark's built-in Kafka source: key/value may be null (tombstones,
# un-keyed messages), everything else is always set by the broker.
SCHEMA = T.StructType(
    [
        T.StructField("key", T.BinaryType(), True),
        T.StructField("value", T.BinaryType(), True),
        T.StructField("topic", T.StringType(), False),
        T.StructField("partition", T.IntegerType(), False),
        T.StructField("offset", T.LongType(), False),
        T.StructField("timestamp", T.TimestampType(), False),
        T.StructField("timestampType", T.IntegerType(), False),
    ]
)


def arrow_schema() -> pa.Schema:
    """Spark compares a returned batch's Arrow schema with this one exactly (types and nullability)."""
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(SCHEMA, timezone="UTC")



def reader_config(options: dict) -> dict:
    """librdkafka settings of the executor-side reader, shared with the benchmark's raw confluent-kafka consumer.

    Why librdkafka and not kafka-python here: measured on this machine (bench/results_stream.json), kafka-python
    decodes record batches in Python and tops out at ~0.07-0.15 M ev/s for one consumer, librdkafka at ~0.25 M.
    """
    return {
        "bootstrap.servers": options["bootstrap.servers"],
        "client.id": options.get("client.id", "qlake-stream") + "-reader",
        # librdkafka's Consumer needs a group id; it is never joined (assign, no subscribe) nor committed to.
        "group.id": options.get("group.id", "qlake-stream-reader"),
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": False,
        "fetch.max.bytes": int(options.get("fetchMaxBytes", 64 * 1024 * 1024)),
        "max.partition.fetch.bytes": int(options.get("maxPartitionFetchBytes", 8 * 1024 * 1024)),
        # The pre-fetch queue: bounded so a reader of 3 partitions holds at most ~3 x 64 MB.
        "queued.max.messages.kbytes": int(options.get("queuedMaxKbytes", 64 * 1024)),
        # An idle partition's fetch returns after this long: keeps the tail of a range and reconnects snappy.
        "fetch.wait.max.ms": int(options.get("fetchWaitMaxMs", 50)),
        # Default 1 s: after a big read filled the queue, the next (small, latency-bound) read waited that long.
        "fetch.queue.backoff.ms": int(options.get("fetchQueueBackoffMs", 10)),
        "socket.timeout.ms": int(options.get("requestTimeoutMs", 30000)),
        "log_level": 3,  # errors only: reconnect noise while the broker restarts is expected
    }


# librdkafka timestamp types (NOT_AVAILABLE=0, CREATE_TIME=1, LOG_APPEND_TIME=2) -> Spark's Kafka source (0, 1).
_SPARK_TIMESTAMP_TYPE = {0: 0, 1: 0, 2: 1}


class _Range:
    """Reading progress of one Kafka partition inside a reader: next offset to emit, and where to stop."""

    __slots__ = ("partition", "position", "end")

    def __init__(self, partition: int, start: int, end: int):
        self.partition, self.position, self.end = partition, start, end


def read_ranges(options: dict, topic: str, ranges: list[tuple[int, int, int]]) -> Iterator[pa.RecordBatch]:
    """Records [start, end) of each ``(partition, start, end)`` as Arrow batches in the exact source schema.

    One librdkafka consumer reads all the ranges (assign + start offsets, no group): each record is emitted exactly
    once, in offset order within its partition; records before a range (a re-fetch after a reconnect) or past it
    (the fetch overshoots the end) are dropped.
    """
    from confluent_kafka import KafkaError, TopicPartition

    schema = arrow_schema()
    batch_rows = int(options.get("arrowBatchRows", 50000))
    poll_seconds = int(options.get("pollTimeoutMs", 1000)) / 1000
    # How long a read may make no progress (broker restarting) before the task fails and Spark retries the batch.
    stall_limit = float(options.get("readTimeoutSeconds", 120))
    todo = {p: _Range(p, start, end) for p, start, end in ranges if end > start}
    if not todo:
        return
    consumer = _take_consumer(options)
    columns = _Columns(topic)
    clean = False
    try:
        assignment = [TopicPartition(topic, r.partition, r.position) for r in todo.values()]
        consumer.assign(assignment)
        last_progress = time.monotonic()
        while todo:
            # consume() returns once it has num_messages (or at the timeout): ask for no more than the ranges hold,
            # so the last poll of a range does not sit out the timeout waiting for records past its end.
            wanted = min(batch_rows - columns.rows, sum(r.end - r.position for r in todo.values()))
            messages = consumer.consume(num_messages=max(1, wanted), timeout=poll_seconds)
            progressed = False
            for message in messages:
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("%s: %s[%s]: %s", NAME, topic, message.partition(), message.error())
                    continue
                state = todo.get(message.partition())
                offset = message.offset()
                if state is None or offset < state.position or offset >= state.end:
                    continue
                columns.add(message, offset)
                state.position = offset + 1
                progressed = True
            if progressed:
                last_progress = time.monotonic()
            else:
                _skip_holes(consumer, topic, todo)
            # A finished partition is not paused (pause/resume on a reused consumer stalled the next read by ~1 s):
            # whatever it still fetches is past its end and dropped above.
            for finished in [p for p, r in todo.items() if r.position >= r.end]:
                del todo[finished]
            if todo and time.monotonic() - last_progress > stall_limit:
                stuck = ", ".join(f"{topic}[{r.partition}] at {r.position} (< {r.end})" for r in todo.values())
                raise TimeoutError(f"{NAME}: no progress for {stall_limit:.0f}s: {stuck}")
            if columns.rows >= batch_rows:
                yield columns.flush(schema)
        if columns.rows:
            yield columns.flush(schema)
        consumer.unassign()
        clean = True
    finally:
        _give_back(options, consumer, reusable=clean)


# One idle consumer per reader config in this (reused) Python worker: a new librdkafka consumer costs ~0.3 s
# (connect, metadata, first fetch) - most of a small micro-batch at 1,000 ev/s. Each read assigns its own start
# offsets, so a reused consumer reads exactly what a new one would.
_IDLE_CONSUMERS: dict[str, object] = {}


def _consumer_key(options: dict) -> str:
    return json.dumps(reader_config(options), sort_keys=True)


def _take_consumer(options: dict):
    from confluent_kafka import Consumer

    cached = _IDLE_CONSUMERS.pop(_consumer_key(options), None)
    return cached if cached is not None else Consumer(reader_config(options))


def _give_back(options: dict, consumer, reusable: bool) -> None:
    """Keep a consumer that finished cleanly for the next read; close one that failed (it may be half-broken)."""
    key = _consumer_key(options)
    if reusable and key not in _IDLE_CONSUMERS:
        _IDLE_CONSUMERS[key] = consumer
        return
    try:
        consumer.close()
    except Exception:  # noqa: BLE001 - closing a broken consumer: nothing left to save
        pass


def _skip_holes(consumer, topic: str, todo: dict[int, _Range]) -> None:
    """Offsets can have holes (transaction markers, compaction): trust the consumer's position past them."""
    from confluent_kafka import TopicPartition

    try:
        positions = consumer.position([TopicPartition(topic, p) for p in todo])
    except Exception:  # noqa: BLE001 - broker away; the stall timer decides
        return
    for tp in positions:
        state = todo.get(tp.partition)
        if state is not None and tp.offset >= 0:
            state.position = max(state.position, min(state.end, tp.offset))


class _Columns:
    """Record fields gathered column-wise, turned into one Arrow batch per ``flush`` (no per-row Arrow calls)."""

    def __init__(self, topic: str):
        self.topic = topic
        self._clear()

    def _clear(self) -> None:
        self.keys: list = []
        self.values: list = []
        self.partitions: list[int] = []
        self.offsets: list[int] = []
        self.stamps: list[int] = []
        self.stamp_types: list[int] = []

    @property
    def rows(self) -> int:
        return len(self.offsets)

    def add(self, message, offset: int) -> None:
        stamp_type, stamp = message.timestamp()
        self.keys.append(message.key())
        self.values.append(message.value())
        self.partitions.append(message.partition())
        self.offsets.append(offset)
        self.stamps.append(max(0, stamp) * 1000)
        self.stamp_types.append(_SPARK_TIMESTAMP_TYPE.get(stamp_type, 0))

    def flush(self, schema: pa.Schema) -> pa.RecordBatch:
        n = self.rows
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(self.keys, pa.binary()),
                pa.array(self.values, pa.binary()),
                pa.array([self.topic] * n, pa.string()),
                pa.array(self.partitions, pa.int32()),
                pa.array(self.offsets, pa.int64()),
                pa.array(self.stamps, pa.timestamp("us", tz="UTC")),
                pa.array(self.stamp_types, pa.int32()),
            ],
            schema=schema,
        )
        self._clear()
        return batch
