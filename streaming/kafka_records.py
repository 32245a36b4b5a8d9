"""The executor side of ``qlake_kafka`` (streaming/kafka_source.py): the record schema, and the read of
partition ranges with librdkafka (confluent-kafka) into Arrow record batches built column-wise, with one consumer
kept per worker process for reuse (a new one costs ~0.3 s, a reused one 50-90 ms for a small range).

With the option ``eventTimeField`` (a top-level member of JSON values holding a local ``YYYY-MM-DDTHH:MM:SS``
time), each batch also carries that time as ``event_time`` (NULL when a value has none), read in Arrow blocks
by the reader (:func:`streaming.event_json.member_times`): the stream's watermark needs the event time as a
column, and reading it here, in parallel per partition, spares the engine a JSON parse of every record."""

from __future__ import annotations

import json
import logging
import time
from typing import Iterator

import pyarrow as pa
from confluent_kafka import Consumer, KafkaError, TopicPartition
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_schema

from streaming.event_json import member_times

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


EVENT_TIME = T.StructField("event_time", T.TimestampType(), True)


def schema(options: dict) -> T.StructType:
    """The source's columns for these options: :data:`SCHEMA`, plus ``event_time`` with ``eventTimeField``."""
    return T.StructType([*SCHEMA.fields, EVENT_TIME]) if options.get("eventTimeField") else SCHEMA


def arrow_schema(options: dict | None = None) -> pa.Schema:
    """Spark compares a returned batch's Arrow schema with this one exactly (types and nullability)."""
    return to_arrow_schema(schema(options or {}), timezone="UTC")



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


# A live batch: fewer records than this. The source gives it one reader (kafka_source, ``minRowsPerReader``), and
# that reader keeps its consumer assigned for the worker's next read (see _Reader.finish).
LIVE_BATCH_ROWS = 20_000
# How far a kept consumer may be behind a range's start and still catch up by reading on (dropping what lies
# before the start) rather than being re-assigned (~50 ms, and its prefetched records are lost).
_CATCH_UP_LIMIT = 200_000


class _Reader:
    """A librdkafka consumer kept, still assigned, by a (reused) Python worker between micro-batches.

    A live stream's next range of a partition starts where the last one ended, and the consumer has been
    fetching those records in the background meanwhile: reading 500 records then takes ~25 ms, where assigning
    and fetching them took 150-230 ms (a new consumer ~0.3 s more). Records fetched past a range's end are kept
    (``stash``) for the next range, so nothing fetched is lost.
    """

    def __init__(self, options: dict):
        self.consumer = Consumer(reader_config(options))
        self.topic: str | None = None
        self.next_offset: dict[int, int] = {}  # per assigned partition: the first offset not yet handed out
        self.stash: dict[int, list] = {}  # per partition: records consumed past the last range's end, in order
        self.pending: list = []  # the stashed records of the read in progress, handed out first

    def prepare(self, topic: str, todo: dict[int, _Range]) -> None:
        """Assign exactly ``todo``'s partitions, keeping those whose next offset is at or shortly before the
        range's start; any other partition is (re-)assigned at its start offset."""
        if topic != self.topic:
            if self.next_offset:
                self.consumer.unassign()
            self.topic, self.next_offset, self.stash = topic, {}, {}
        stale = [p for p in self.next_offset if p not in todo or not
                 0 <= todo[p].position - self.next_offset[p] <= _CATCH_UP_LIMIT]
        if stale:
            self.consumer.incremental_unassign([TopicPartition(topic, p) for p in stale])
            for p in stale:
                del self.next_offset[p]
                self.stash.pop(p, None)
        new = [r for p, r in todo.items() if p not in self.next_offset]
        if new:
            self.consumer.incremental_assign([TopicPartition(topic, r.partition, r.position) for r in new])
            self.next_offset.update({r.partition: r.position for r in new})
        self.pending = [m for p in todo for m in self.stash.pop(p, [])]

    def messages(self, wanted: int, timeout: float) -> list:
        """The records stashed for this read first, then up to ``wanted`` records from the consumer (waiting up
        to ``timeout``)."""
        if self.pending:
            pending, self.pending = self.pending, []
            return pending
        return self.consumer.consume(num_messages=max(1, wanted), timeout=timeout)

    def keep(self, message) -> None:
        self.stash.setdefault(message.partition(), []).append(message)

    def finish(self, todo_ends: dict[int, int], rows: int) -> None:
        """After a read of ``rows`` records: stay assigned after a small one (the live case), let go after a
        large one (a backlog): a kept consumer goes on fetching the partitions' next records in the background,
        which there would take the CPU from the batch's parse and writes (measured: 63k -> 36k ev/s)."""
        if rows >= LIVE_BATCH_ROWS:
            self.consumer.unassign()
            self.next_offset, self.stash = {}, {}
        else:
            self.next_offset.update(todo_ends)

    def close(self) -> None:
        try:
            self.consumer.close()
        except Exception:  # noqa: BLE001 - closing a broken consumer: nothing left to save
            pass


def read_ranges(options: dict, topic: str, ranges: list[tuple[int, int, int]]) -> Iterator[pa.RecordBatch]:
    """Records [start, end) of each ``(partition, start, end)`` as Arrow batches in the exact source schema.

    One librdkafka consumer reads all the ranges (assign + start offsets, no group): each record is emitted exactly
    once, in offset order within its partition; records before a range (a re-fetch after a reconnect, or a kept
    consumer catching up) are dropped, records past it are kept for the worker's next read (:class:`_Reader`).
    """
    schema = arrow_schema(options)
    batch_rows = int(options.get("arrowBatchRows", 50000))
    poll_seconds = int(options.get("pollTimeoutMs", 1000)) / 1000
    # How long a read may make no progress (broker restarting) before the task fails and Spark retries the batch.
    stall_limit = float(options.get("readTimeoutSeconds", 120))
    todo = {p: _Range(p, start, end) for p, start, end in ranges if end > start}
    if not todo:
        return
    ends = {p: r.end for p, r in todo.items()}
    rows = sum(r.end - r.position for r in todo.values())
    reader = _take_reader(options)
    columns = _Columns(topic, options.get("eventTimeField"))
    clean = False
    try:
        reader.prepare(topic, todo)
        last_progress = time.monotonic()
        while todo:
            # consume() returns once it has num_messages (or at the timeout): ask for no more than the ranges hold,
            # so the last poll of a range does not sit out the timeout waiting for records past its end.
            wanted = min(batch_rows - columns.rows, sum(r.end - r.position for r in todo.values()))
            progressed = False
            for message in reader.messages(wanted, poll_seconds):
                if message.error() is not None:
                    if message.error().code() != KafkaError._PARTITION_EOF:
                        log.warning("%s: %s[%s]: %s", NAME, topic, message.partition(), message.error())
                    continue
                offset = message.offset()
                if offset >= ends.get(message.partition(), offset + 1):
                    reader.keep(message)  # the next range of this partition starts here
                    continue
                state = todo.get(message.partition())
                if state is None or offset < state.position:
                    continue
                columns.add(message, offset)
                state.position = offset + 1
                progressed = True
            if progressed:
                last_progress = time.monotonic()
            else:
                _skip_holes(reader.consumer, topic, todo)
            for finished in [p for p, r in todo.items() if r.position >= r.end]:
                del todo[finished]
            if todo and time.monotonic() - last_progress > stall_limit:
                stuck = ", ".join(f"{topic}[{r.partition}] at {r.position} (< {r.end})" for r in todo.values())
                raise TimeoutError(f"{NAME}: no progress for {stall_limit:.0f}s: {stuck}")
            if columns.rows >= batch_rows:
                yield columns.flush(schema)
        if columns.rows:
            yield columns.flush(schema)
        reader.finish(ends, rows)
        clean = True
    finally:
        _give_back(options, reader, reusable=clean)


# One idle reader per reader config in this (reused) Python worker (see _Reader).
_IDLE_READERS: dict[str, _Reader] = {}


def _reader_key(options: dict) -> str:
    return json.dumps(reader_config(options), sort_keys=True)


def _take_reader(options: dict) -> _Reader:
    cached = _IDLE_READERS.pop(_reader_key(options), None)
    return cached if cached is not None else _Reader(options)


def _give_back(options: dict, reader: _Reader, reusable: bool) -> None:
    """Keep a reader that finished cleanly for the next read; close one that failed (it may be half-broken)."""
    key = _reader_key(options)
    if reusable and key not in _IDLE_READERS:
        _IDLE_READERS[key] = reader
        return
    reader.close()


def close_readers() -> None:
    """Close the kept readers of this process (a process that reads in-process and then lets the broker go)."""
    while _IDLE_READERS:
        _IDLE_READERS.popitem()[1].close()


def _skip_holes(consumer, topic: str, todo: dict[int, _Range]) -> None:
    """Offsets can have holes (transaction markers, compaction): trust the consumer's position past them."""
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

    def __init__(self, topic: str, event_time_field: str | None = None):
        self.topic = topic
        self.event_time_field = event_time_field
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
        values = pa.array(self.values, pa.binary())
        arrays = [
            pa.array(self.keys, pa.binary()),
            values,
            pa.array([self.topic] * n, pa.string()),
            pa.array(self.partitions, pa.int32()),
            pa.array(self.offsets, pa.int64()),
            pa.array(self.stamps, pa.timestamp("us", tz="UTC")),
            pa.array(self.stamp_types, pa.int32()),
        ]
        if self.event_time_field:
            arrays.append(member_times(values, self.event_time_field))
        batch = pa.RecordBatch.from_arrays(arrays, schema=schema)
        self._clear()
        return batch
