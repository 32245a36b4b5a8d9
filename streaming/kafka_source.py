"""``qlake_kafka``: a Spark Python Data Source that streams a Kafka topic (offsets via kafka-python, records via
librdkafka through confluent-kafka).

Why not Spark's own Kafka source: it needs the ``spark-sql-kafka`` jars (a Maven download at start-up); this
reader needs nothing beyond the wheels, and gives the same contract:

- offsets are ``{"<topic>": {"<partition>": <next offset>, ...}}`` (JSON, partitions in numeric order), written
  to the query's checkpoint by Spark before a batch runs, so a restarted query replays exactly the same ranges;
- ``startingOffsets`` = ``earliest`` (default) | ``latest``; only used when the checkpoint is new;
- ``maxOffsetsPerTrigger`` caps a micro-batch (split across partitions in proportion to their backlog, so the
  partitions advance through event time together); ``Trigger.AvailableNow`` is supported and honours the cap;
- ``readOn`` = ``executors`` (default): one Spark input partition (reader) per Kafka partition with new data, so
  partitions are read in parallel; with ``maxReaders`` set below the partition count, the rows are split evenly
  over that many readers (a partition's range may be cut in two). ``readOn`` = ``driver``: the records are read
  in the driver's source process when Spark asks for the latest offset (Spark's simple stream reader), at most
  ``maxOffsetsPerTrigger`` (default :data:`DRIVER_BATCH_ROWS`) a batch, the next batch of a backlog read ahead
  while the engine processes this one (:class:`KafkaDriverReader`). It spares a live micro-batch a Spark task
  and a Python worker round trip (~0.1 s of ~0.5 s a trigger, measured 2026-12-06, README "Streaming"); one
  librdkafka consumer reads a backlog about as fast as two readers on 2 cores (100,000 records: 1.1 vs 1.0 s).
  A batch left uncommitted by a crash is read again from the checkpoint's offsets by either reader.
  Either way the read assigns explicit start offsets (no consumer group, no broker-side commits: the checkpoint
  is the only offset store) and yields Arrow record batches built column-wise.

Why two clients: the driver's offset calls are few and kafka-python's are well proven against broker restarts here;
the record fetch is the hot path, and librdkafka decodes record batches in C (measured: bench/results_stream.json).

Options: ``bootstrap.servers`` and ``subscribe`` (topic) are required; ``pollTimeoutMs`` and ``readTimeoutSeconds``
tune how long a read waits for a broker that went away before the task fails; ``maxReaders``,
``maxPartitionFetchBytes``, ``fetchMaxBytes``, ``arrowBatchRows``, ``minRowsPerReader`` (a batch gets one reader
per that many rows, up to ``maxReaders``) tune the read; ``eventTimeField`` adds the
event time of JSON values as a column (streaming/kafka_records.py).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Iterator

import pyarrow as pa
from pyspark.errors import PySparkNotImplementedError
from pyspark.sql import types as T
from pyspark.sql.datasource import (
    CaseInsensitiveDict,
    DataSource,
    DataSourceStreamReader,
    InputPartition,
    SimpleDataSourceStreamReader,
)
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    ReadMinRows,
    SupportsTriggerAvailableNow,
)

from streaming.kafka_offsets import by_partition, group_ranges, offsets_of, proportional, ranges_between
from streaming.kafka_records import LIVE_BATCH_ROWS, NAME, read_ranges
from streaming.kafka_records import schema as record_schema

log = logging.getLogger("qlake.kafka_source")

# readOn=driver reads a batch into the driver's memory at once: without maxOffsetsPerTrigger, a backlog (a job
# started after an outage) is taken this many records a batch rather than in one read.
DRIVER_BATCH_ROWS = 100_000
READ_ON = ("executors", "driver")


def read_on(options: dict) -> str:
    where = str(options.get("readOn", "executors")).lower()
    if where not in READ_ON:
        raise ValueError(f"{NAME}: readOn must be one of {', '.join(READ_ON)}, got {where!r}")
    return where


class KafkaRange(InputPartition):
    """The offset ranges one reader (one Spark task) reads in one micro-batch: ``[(partition, start, end), ...]``.

    Half-open ranges, partitions in numeric order. One Kafka partition per reader when there are at most
    ``maxReaders`` partitions with new data; beyond that, equal shares of rows (see :func:`group_ranges`).
    """

    def __init__(self, topic: str, ranges: list[tuple[int, int, int]]):
        super().__init__((topic, tuple(ranges)))
        self.topic, self.ranges = topic, list(ranges)

    @property
    def rows(self) -> int:
        return sum(end - start for _, start, end in self.ranges)


def consumer_config(options: dict) -> dict:
    """kafka-python settings shared by the reader and the benchmark's raw consumer (compare like with like)."""
    return {
        "bootstrap_servers": options["bootstrap.servers"],
        "client_id": options.get("client.id", "qlake-stream"),
        "group_id": None,  # no group: offsets live in the Spark checkpoint only
        "enable_auto_commit": False,
        # Bigger fetches: fewer round trips per partition; a batch is read in a few polls.
        "max_partition_fetch_bytes": int(options.get("maxPartitionFetchBytes", 8 * 1024 * 1024)),
        "fetch_max_bytes": int(options.get("fetchMaxBytes", 64 * 1024 * 1024)),
        "max_poll_records": int(options.get("maxPollRecords", 20000)),
        # kafka-python verifies CRCs in pure Python (5x slower consume); the broker already checked them on produce
        # and TCP checksums the transfer. Turn back on with checkCrcs=true for untrusted networks.
        "check_crcs": str(options.get("checkCrcs", "false")).lower() == "true",
        "request_timeout_ms": int(options.get("requestTimeoutMs", 30000)),
        "auto_offset_reset": "earliest",
    }


class KafkaStreamReader(DataSourceStreamReader, SupportsTriggerAvailableNow):
    def __init__(self, options: dict):
        for required in ("bootstrap.servers", "subscribe"):
            if not options.get(required):
                raise ValueError(f"{NAME}: option {required!r} is required")
        # Spark hands options over lower-cased in a case-insensitive dict; a plain dict copy would make every
        # camelCase look-up below (fetchMaxBytes, eventTimeField, ...) silently miss.
        self.options = CaseInsensitiveDict(options)
        self.topic = options["subscribe"]
        self.starting = options.get("startingOffsets", "earliest").lower()
        if self.starting not in ("earliest", "latest"):
            raise ValueError(f"{NAME}: startingOffsets must be earliest or latest, got {self.starting!r}")
        max_offsets = options.get("maxOffsetsPerTrigger")
        self.max_offsets = int(max_offsets) if max_offsets else None
        self._consumer = None  # driver-side metadata consumer, created lazily (never pickled)
        self._target: dict[int, int] | None = None  # Trigger.AvailableNow's fixed end
        self._latest: dict[int, int] | None = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_consumer"] = None
        return state

    # ---- driver side: offsets ------------------------------------------------------------------------------
    def _metadata_consumer(self):
        if self._consumer is None:
            from kafka import KafkaConsumer

            config = consumer_config(self.options)
            config["client_id"] = config["client_id"] + "-offsets"
            self._consumer = KafkaConsumer(**config)
        return self._consumer

    def _end_offsets(self, which: str = "end") -> dict[int, int]:
        from kafka import TopicPartition

        consumer = self._metadata_consumer()
        partitions = consumer.partitions_for_topic(self.topic)
        if not partitions:
            consumer.topics()  # refresh metadata once: a new topic may not be known yet
            partitions = consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        if not tps:
            return {}
        # Bounded wait: a broker that is away must not stall the trigger for the full request timeout.
        timeout_ms = int(self.options.get("offsetsTimeoutMs", 10000))
        if which == "end":
            found = consumer.end_offsets(tps, timeout_ms=timeout_ms)
        else:
            found = consumer.beginning_offsets(tps, timeout_ms=timeout_ms)
        return {tp.partition: int(offset) for tp, offset in found.items()}

    def _end_offsets_retrying(self, which: str = "end", timeout: float = 120.0) -> dict[int, int]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._end_offsets(which)
            except Exception as exc:  # noqa: BLE001 - broker down/restarting: retry until the deadline
                if time.monotonic() > deadline:
                    raise
                log.warning("%s: cannot read offsets (%s); retrying", NAME, exc)
                self._close_consumer()
                time.sleep(1.0)

    def _close_consumer(self) -> None:
        if self._consumer is not None:
            try:
                self._consumer.close()
            except Exception:  # noqa: BLE001
                pass
            self._consumer = None

    def initialOffset(self) -> dict:
        # A brand-new query must know where it starts: wait (bounded) for the broker instead of failing at once.
        offsets = self._end_offsets_retrying("begin" if self.starting == "earliest" else "end")
        return offsets_of(self.topic, offsets)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_offsets) if self.max_offsets else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        # Everything present now, and nothing that arrives later, belongs to this availableNow run.
        self._target = self._end_offsets_retrying("end")

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        begin = by_partition(start, self.topic)
        if self._target is not None:
            latest = dict(self._target)
        else:
            try:
                latest = self._end_offsets("end")
            except Exception as exc:  # noqa: BLE001 - broker unreachable: no new data this trigger, keep running
                log.warning("%s: broker unreachable (%s); no new offsets this trigger", NAME, exc)
                self._close_consumer()
                return start
        self._latest = latest
        # A partition missing from `start` is new (topic grew): read it from its beginning.
        available = {p: max(0, latest[p] - begin.get(p, 0)) for p in latest}
        total = sum(available.values())
        end = {p: begin.get(p, 0) for p in latest}
        if isinstance(limit, ReadMinRows) and total < limit.min_rows:
            return start
        if isinstance(limit, ReadMaxRows) and total > limit.max_rows:
            granted = proportional(available, limit.max_rows)
        else:
            granted = available
        for p, n in granted.items():
            end[p] += n
        for p, o in begin.items():  # a partition that vanished from metadata keeps its offset
            end.setdefault(p, o)
        return offsets_of(self.topic, end)

    def reportLatestOffset(self):
        return offsets_of(self.topic, self._latest) if self._latest is not None else None

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        ranges = ranges_between(start, end, self.topic)
        readers = int(self.options.get("maxReaders", 0)) or len(ranges)
        # A small batch (the live case) is one reader: its kept consumer then reads on where the last batch ended
        # (streaming/kafka_records.py), where several readers would split and re-assign the partitions each time.
        rows = sum(end - start for _, start, end in ranges)
        readers = min(readers, max(1, rows // int(self.options.get("minRowsPerReader", LIVE_BATCH_ROWS))))
        return [KafkaRange(self.topic, group) for group in group_ranges(ranges, readers)]

    def commit(self, end: dict) -> None:
        """Nothing to do: the checkpoint is the offset store (no consumer group to commit to)."""

    def stop(self) -> None:
        self._close_consumer()

    # ---- executor side: records ----------------------------------------------------------------------------
    def read(self, partition: KafkaRange) -> Iterator[pa.RecordBatch]:
        yield from read_ranges(self.options, partition.topic, partition.ranges)


class KafkaDriverReader(SimpleDataSourceStreamReader, SupportsTriggerAvailableNow):
    """``readOn=driver``: Spark's simple stream reader. When Spark asks for the latest offset, :meth:`read` reads
    the records up to it in the driver's source process; Spark keeps them until the batch commits and hands them
    to the batch without a task. The offsets (start, cap, availableNow's fixed end, a broker that is away) are
    :class:`KafkaStreamReader`'s, and so is the checkpoint format: a query may switch readers between runs.

    Catching up on a backlog (a read that filled the batch's cap), the next batch's records are read ahead on a
    thread of this process while the engine processes the batch just handed over; the next :meth:`read` takes
    them when it starts where they start. A live read (below the cap) reads nothing ahead: records produced
    meanwhile would otherwise wait a batch longer. It costs one batch of memory more and took a 100,000-event
    backlog batch's turn from ~1.9 s to ~1.2 s (2026-12-07, bench/stream.py: the source's read had run between
    the batches, on the batch's path)."""

    def __init__(self, options: dict):
        self.source = KafkaStreamReader(options)
        self.limit = ReadMaxRows(self.source.max_offsets or DRIVER_BATCH_ROWS)
        self._ahead: ReadAhead | None = None

    def __getstate__(self):
        return dict(self.__dict__, _ahead=None)

    def initialOffset(self) -> dict:
        return self.source.initialOffset()

    def prepareForTriggerAvailableNow(self) -> None:
        self.source.prepareForTriggerAvailableNow()

    def read(self, start: dict) -> tuple[Iterator[pa.RecordBatch], dict]:
        ahead = self._finish_ahead(start)
        if ahead is not None:
            end, batches = ahead.end, ahead.batches
        else:
            end = self.source.latestOffset(start, self.limit)
            batches = self._read(start, end)
        rows = sum(last - first for _, first, last in ranges_between(start, end, self.source.topic))
        if rows >= self.limit.max_rows:
            self._ahead = ReadAhead(self, end)
        # A list's iterator: Spark copies a prefetched batch's iterator (copy.copy), which a generator refuses.
        return iter(batches), end

    def readBetweenOffsets(self, start: dict, end: dict) -> Iterator[pa.RecordBatch]:
        """The records between two checkpointed offsets: also how an uncommitted batch is replayed after a crash."""
        ahead = self._finish_ahead(start)
        if ahead is not None and ahead.end == end:
            return iter(ahead.batches)
        return iter(self._read(start, end))

    def _read(self, start: dict, end: dict) -> list[pa.RecordBatch]:
        return list(read_ranges(self.source.options, self.source.topic, ranges_between(start, end, self.source.topic)))

    def _finish_ahead(self, start: dict) -> ReadAhead | None:
        """The read ahead, once done (the reader's consumers are this thread's again), when it read from
        ``start`` without an error; None otherwise (it is dropped)."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        ahead.join()
        return ahead if ahead.begin == start and ahead.error is None else None

    def commit(self, end: dict) -> None:
        """Nothing to do: the checkpoint is the offset store (no consumer group to commit to)."""

    def stop(self) -> None:
        # Not joined: a read ahead may be waiting for a broker that is away; its records are not needed any more.
        self._ahead = None
        self.source.stop()


class ReadAhead(threading.Thread):
    """The next batch of a backlog: its end offset (the same cap and target as a read in turn) and its records."""

    def __init__(self, reader: KafkaDriverReader, begin: dict):
        super().__init__(name="qlake-kafka-read-ahead", daemon=True)
        self.reader, self.begin = reader, begin
        self.end: dict | None = None
        self.batches: list[pa.RecordBatch] = []
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            self.end = self.reader.source.latestOffset(self.begin, self.reader.limit)
            self.batches = self.reader._read(self.begin, self.end)
        except Exception as exc:  # noqa: BLE001 - the read in turn reads again and reports what is wrong
            self.error = exc


class KafkaDataSource(DataSource):
    """``spark.readStream.format("qlake_kafka").option("bootstrap.servers", ...).option("subscribe", topic)``."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> T.StructType:
        return record_schema(self.options)

    def streamReader(self, schema: T.StructType) -> DataSourceStreamReader:
        if read_on(self.options) == "driver":
            # Spark then asks for simpleStreamReader (pyspark.sql.datasource_internal._streamReader).
            raise PySparkNotImplementedError(errorClass="NOT_IMPLEMENTED", messageParameters={"feature": "streamReader"})
        return KafkaStreamReader(self.options)

    def simpleStreamReader(self, schema: T.StructType) -> SimpleDataSourceStreamReader:
        return KafkaDriverReader(self.options)
