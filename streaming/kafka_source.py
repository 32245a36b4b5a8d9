"""``qlake_kafka``: a Spark Python Data Source that streams a Kafka topic through kafka-python.

Why not Spark's own Kafka source: it needs the ``spark-sql-kafka`` jars (a Maven download at start-up); this
reader needs nothing beyond the wheel, and gives the same contract:

- offsets are ``{"<topic>": {"<partition>": <next offset>, ...}}`` (JSON, partitions in numeric order), written
  to the query's checkpoint by Spark before a batch runs, so a restarted query replays exactly the same ranges;
- ``startingOffsets`` = ``earliest`` (default) | ``latest``; only used when the checkpoint is new;
- ``maxOffsetsPerTrigger`` caps a micro-batch (split across partitions in proportion to their backlog, so the
  partitions advance through event time together); ``Trigger.AvailableNow`` is supported and honours the cap;
- one Spark input partition per Kafka partition range; ``read`` uses ``assign`` + ``seek`` (no consumer group,
  no broker-side commits: the checkpoint is the only offset store) and yields Arrow record batches.

Options: ``bootstrap.servers`` and ``subscribe`` (topic) are required; ``pollTimeoutMs`` and ``readTimeoutSeconds``
tune how long a read waits for a broker that went away before the task fails.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Iterator

import pyarrow as pa
from pyspark.sql import types as T
from pyspark.sql.datasource import DataSource, DataSourceStreamReader, InputPartition
from pyspark.sql.streaming.datasource import (
    ReadAllAvailable,
    ReadLimit,
    ReadMaxRows,
    ReadMinRows,
    SupportsTriggerAvailableNow,
)

NAME = "qlake_kafka"

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


log = logging.getLogger("qlake.kafka_source")

Offsets = dict[str, dict[str, int]]  # {"topic": {"partition": next_offset}}


def _offsets(topic: str, by_partition: dict[int, int]) -> Offsets:
    return {topic: {str(p): int(by_partition[p]) for p in sorted(by_partition)}}


def _by_partition(offsets: Offsets, topic: str) -> dict[int, int]:
    return {int(p): int(o) for p, o in (offsets or {}).get(topic, {}).items()}


class KafkaRange(InputPartition):
    """One Kafka partition's half-open offset range [start, end) for one micro-batch."""

    def __init__(self, topic: str, partition: int, start: int, end: int):
        super().__init__((topic, partition, start, end))
        self.topic, self.partition, self.start, self.end = topic, partition, start, end


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
        self.options = dict(options)
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
        return _offsets(self.topic, offsets)

    def getDefaultReadLimit(self) -> ReadLimit:
        return ReadMaxRows(self.max_offsets) if self.max_offsets else ReadAllAvailable()

    def prepareForTriggerAvailableNow(self) -> None:
        # Everything present now, and nothing that arrives later, belongs to this availableNow run.
        self._target = self._end_offsets_retrying("end")

    def latestOffset(self, start: dict, limit: ReadLimit) -> dict:
        begin = _by_partition(start, self.topic)
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
            granted = _proportional(available, limit.max_rows)
        else:
            granted = available
        for p, n in granted.items():
            end[p] += n
        for p, o in begin.items():  # a partition that vanished from metadata keeps its offset
            end.setdefault(p, o)
        return _offsets(self.topic, end)

    def reportLatestOffset(self):
        return _offsets(self.topic, self._latest) if self._latest is not None else None

    def partitions(self, start: dict, end: dict) -> list[InputPartition]:
        begin, finish = _by_partition(start, self.topic), _by_partition(end, self.topic)
        return [
            KafkaRange(self.topic, p, begin.get(p, 0), finish[p])
            for p in sorted(finish)
            if finish[p] > begin.get(p, 0)
        ]

    def commit(self, end: dict) -> None:
        """Nothing to do: the checkpoint is the offset store (no consumer group to commit to)."""

    def stop(self) -> None:
        self._close_consumer()

    # ---- executor side: records ----------------------------------------------------------------------------
    def read(self, partition: KafkaRange) -> Iterator[pa.RecordBatch]:
        yield from read_range(self.options, partition.topic, partition.partition, partition.start, partition.end)


def _proportional(available: dict[int, int], budget: int) -> dict[int, int]:
    """Split ``budget`` offsets over partitions in proportion to their backlog (largest remainders first)."""
    total = sum(available.values())
    shares = {p: budget * n / total for p, n in available.items()}
    granted = {p: min(available[p], int(share)) for p, share in shares.items()}
    left = budget - sum(granted.values())
    for p in sorted(shares, key=lambda p: shares[p] - int(shares[p]), reverse=True):
        if left <= 0:
            break
        if granted[p] < available[p]:
            granted[p] += 1
            left -= 1
    return granted


def read_range(options: dict, topic: str, partition: int, start: int, end: int) -> Iterator[pa.RecordBatch]:
    """Records [start, end) of one partition as Arrow batches in the exact source schema."""
    from kafka import KafkaConsumer, TopicPartition

    schema = arrow_schema()
    batch_rows = int(options.get("arrowBatchRows", 20000))
    poll_ms = int(options.get("pollTimeoutMs", 1000))
    # How long a read may make no progress (broker restarting) before the task fails and Spark retries the batch.
    stall_limit = float(options.get("readTimeoutSeconds", 120))
    consumer = KafkaConsumer(**consumer_config(options))
    tp = TopicPartition(topic, partition)
    keys: list = []
    values: list = []
    offsets: list[int] = []
    stamps: list[int] = []
    stamp_types: list[int] = []

    def flush() -> pa.RecordBatch:
        n = len(offsets)
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(keys, pa.binary()),
                pa.array(values, pa.binary()),
                pa.array([topic] * n, pa.string()),
                pa.array([partition] * n, pa.int32()),
                pa.array(offsets, pa.int64()),
                pa.array([ms * 1000 for ms in stamps], pa.timestamp("us", tz="UTC")),
                pa.array(stamp_types, pa.int32()),
            ],
            schema=schema,
        )
        keys.clear(), values.clear(), offsets.clear(), stamps.clear(), stamp_types.clear()
        return batch

    try:
        consumer.assign([tp])
        consumer.seek(tp, start)
        position = start
        last_progress = time.monotonic()
        while position < end:
            records = consumer.poll(timeout_ms=poll_ms).get(tp, [])
            for record in records:
                if record.offset < position:  # a re-fetch after a reconnect: already emitted
                    continue
                if record.offset >= end:
                    break
                keys.append(record.key)
                values.append(record.value)
                offsets.append(record.offset)
                stamps.append(record.timestamp)
                stamp_types.append(max(0, record.timestamp_type))
                position = record.offset + 1
            if records:
                last_progress = time.monotonic()
            else:
                # Offsets can have holes (transaction markers, compaction): trust the consumer's position.
                try:
                    position = max(position, min(end, consumer.position(tp, timeout_ms=poll_ms)))
                except Exception:  # noqa: BLE001 - broker away; the stall timer decides
                    pass
                if time.monotonic() - last_progress > stall_limit:
                    raise TimeoutError(
                        f"{NAME}: {topic}[{partition}] stuck at offset {position} (< {end}) for {stall_limit:.0f}s"
                    )
            if len(offsets) >= batch_rows:
                yield flush()
        if offsets:
            yield flush()
    finally:
        consumer.close()


class KafkaDataSource(DataSource):
    """``spark.readStream.format("qlake_kafka").option("bootstrap.servers", ...).option("subscribe", topic)``."""

    @classmethod
    def name(cls) -> str:
        return NAME

    def schema(self) -> T.StructType:
        return SCHEMA

    def streamReader(self, schema: T.StructType) -> DataSourceStreamReader:
        return KafkaStreamReader(self.options)


def describe_offsets(offsets_json: str | dict, topic: str) -> dict[int, int]:
    """Parse a checkpointed offset (JSON text or dict) into {partition: next offset}."""
    data = json.loads(offsets_json) if isinstance(offsets_json, str) else offsets_json
    return _by_partition(data, topic)
