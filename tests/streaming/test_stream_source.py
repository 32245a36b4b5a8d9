"""The Kafka source's offset planning, without Spark or a broker (end offsets are stubbed)."""

from __future__ import annotations

import pickle

import pytest
from pyspark.sql.streaming.datasource import ReadAllAvailable, ReadMaxRows, ReadMinRows

from streaming.kafka_records import SCHEMA, arrow_schema
from streaming.kafka_offsets import group_ranges, proportional
from streaming.kafka_source import KafkaDataSource, KafkaDriverReader, KafkaStreamReader


def reader(ends: dict[int, int], **options) -> KafkaStreamReader:
    r = KafkaStreamReader({"bootstrap.servers": "127.0.0.1:1", "subscribe": "t", **options})
    r._end_offsets = lambda which="end": dict(ends) if which == "end" else {p: 0 for p in ends}  # type: ignore
    return r


def test_schema_matches_spark_kafka_source_with_exact_nullability():
    assert [(f.name, f.nullable) for f in SCHEMA] == [
        ("key", True), ("value", True), ("topic", False), ("partition", False), ("offset", False),
        ("timestamp", False), ("timestampType", False)]
    schema = arrow_schema()
    assert [f.nullable for f in schema] == [f.nullable for f in SCHEMA]
    assert str(schema.field("timestamp").type) == "timestamp[us, tz=UTC]"


def test_initial_offsets_earliest_and_latest():
    assert reader({0: 5, 1: 7}).initialOffset() == {"t": {"0": 0, "1": 0}}
    assert reader({0: 5, 1: 7}, startingOffsets="latest").initialOffset() == {"t": {"0": 5, "1": 7}}
    with pytest.raises(ValueError):
        reader({0: 1}, startingOffsets="middle")


def test_latest_offset_honours_read_limits():
    r = reader({0: 600, 1: 300, 2: 100}, maxOffsetsPerTrigger="100")
    start = {"t": {"0": 0, "1": 0, "2": 0}}
    assert r.getDefaultReadLimit() == ReadMaxRows(100)
    capped = r.latestOffset(start, ReadMaxRows(100))["t"]
    assert sum(capped.values()) == 100 and capped == {"0": 60, "1": 30, "2": 10}  # in proportion to backlog
    assert r.latestOffset(start, ReadAllAvailable()) == {"t": {"0": 600, "1": 300, "2": 100}}
    assert r.latestOffset(start, ReadMinRows(5000)) == start  # not enough yet: wait
    done = {"t": {"0": 600, "1": 300, "2": 100}}
    assert r.latestOffset(done, ReadMaxRows(100)) == done  # nothing new


def test_available_now_stops_at_the_offsets_seen_when_it_began():
    ends = {0: 10, 1: 10}
    r = reader(ends)
    r.prepareForTriggerAvailableNow()
    ends.update({0: 99, 1: 99})  # arrives after the run started: not part of it
    r._end_offsets = lambda which="end": dict(ends)  # type: ignore
    assert r.latestOffset({"t": {"0": 0, "1": 0}}, ReadAllAvailable()) == {"t": {"0": 10, "1": 10}}


def test_new_partition_is_read_from_its_beginning_and_partitions_are_ranges():
    r = reader({0: 10, 1: 4, 2: 3}, minRowsPerReader="1")
    end = r.latestOffset({"t": {"0": 8, "1": 4}}, ReadAllAvailable())
    assert end == {"t": {"0": 10, "1": 4, "2": 3}}
    ranges = [p.ranges for p in r.partitions({"t": {"0": 8, "1": 4}}, end)]
    assert ranges == [[(0, 8, 10)], [(2, 0, 3)]]  # one reader per partition; partition 1 has nothing new: no task


def test_more_partitions_than_readers_share_the_rows_equally():
    r = reader({p: 0 for p in range(5)}, maxReaders="2", minRowsPerReader="1")
    end = {"t": {"0": 100, "1": 90, "2": 60, "3": 40, "4": 10}}
    readers = r.partitions({"t": {str(p): 0 for p in range(5)}}, end)
    # 300 rows, 150 each: partition 1's range is cut where the first share ends
    assert [p.ranges for p in readers] == [[(0, 0, 100), (1, 0, 50)], [(1, 50, 90), (2, 0, 60), (3, 0, 40), (4, 0, 10)]]
    assert [p.rows for p in readers] == [150, 150]
    # three equal partitions on two readers: one wave of two readers, not two waves of one partition each
    assert group_ranges([(0, 0, 3), (1, 10, 13), (2, 0, 3)], 2) == [[(0, 0, 3), (1, 10, 12)], [(1, 12, 13), (2, 0, 3)]]
    assert group_ranges([(0, 5, 9)], 4) == [[(0, 5, 9)]]


def test_a_small_batch_is_one_reader_a_large_one_a_reader_per_share():
    start = {"t": {"0": 0, "1": 0, "2": 0}}
    small = reader({}, maxReaders="2").partitions(start, {"t": {"0": 170, "1": 160, "2": 170}})
    assert [p.ranges for p in small] == [[(0, 0, 170), (1, 0, 160), (2, 0, 170)]]
    large = reader({}, maxReaders="2").partitions(start, {"t": {"0": 30_000, "1": 30_000, "2": 30_000}})
    assert [p.rows for p in large] == [45_000, 45_000]


def test_broker_outage_means_no_new_data_not_failure():
    r = reader({0: 10})

    def down(which="end"):
        raise ConnectionError("broker down")

    r._end_offsets = down  # type: ignore
    start = {"t": {"0": 3}}
    assert r.latestOffset(start, ReadAllAvailable()) == start


def test_reader_pickles_without_its_driver_consumer():
    r = KafkaStreamReader({"bootstrap.servers": "127.0.0.1:1", "subscribe": "t"})
    r._consumer = lambda: None  # stands for a live KafkaConsumer: not picklable
    clone = pickle.loads(pickle.dumps(r))
    assert clone._consumer is None and clone.options["subscribe"] == "t"


@pytest.mark.parametrize("budget", [1, 7, 100, 999])
def test_proportional_split_is_exact_and_bounded(budget):
    available = {0: 500, 1: 3, 2: 0, 3: 250}
    granted = proportional(available, budget)
    assert sum(granted.values()) == min(budget, sum(available.values()))
    assert all(0 <= granted[p] <= available[p] for p in available)


def test_read_on_chooses_the_reader_spark_gets():
    from pyspark.sql.datasource_internal import _SimpleStreamReaderWrapper, _streamReader

    def source(**options) -> KafkaDataSource:
        return KafkaDataSource({"bootstrap.servers": "127.0.0.1:1", "subscribe": "t", **options})

    assert isinstance(_streamReader(source(), SCHEMA), KafkaStreamReader)
    assert isinstance(_streamReader(source(readOn="executors"), SCHEMA), KafkaStreamReader)
    driver = _streamReader(source(readOn="driver"), SCHEMA)
    assert isinstance(driver, _SimpleStreamReaderWrapper) and isinstance(driver.simple_reader, KafkaDriverReader)
    with pytest.raises(ValueError, match="readOn must be one of executors, driver"):
        _streamReader(source(readOn="everywhere"), SCHEMA)


def test_driver_reader_caps_a_backlog_and_pickles_for_a_replay():
    r = KafkaDriverReader({"bootstrap.servers": "127.0.0.1:1", "subscribe": "t"})
    r.source._end_offsets = lambda which="end": {0: 150_000, 1: 150_000}  # type: ignore
    r._read = lambda start, end: []  # type: ignore  # offsets only: no broker here
    _, end = r.read({"t": {"0": 0, "1": 0}})
    assert end == {"t": {"0": 50_000, "1": 50_000}}  # DRIVER_BATCH_ROWS, split by backlog
    assert r._ahead is not None and r._ahead.begin == end  # a backlog: the next batch is read ahead
    travelling = KafkaDriverReader({"bootstrap.servers": "127.0.0.1:1", "subscribe": "t"})
    travelling._ahead = r._ahead
    assert pickle.loads(pickle.dumps(travelling))._ahead is None  # a thread does not travel
    _, end = r.read(end)
    assert end == {"t": {"0": 100_000, "1": 100_000}} and r._ahead.begin == end
    _, last = r.read(end)
    assert last == {"t": {"0": 150_000, "1": 150_000}} and r._ahead.begin == last  # capped: maybe more behind
    _, same = r.read(last)
    assert same == last and r._ahead is None  # below the cap (live): nothing read ahead
    clone = pickle.loads(pickle.dumps(KafkaDriverReader({"bootstrap.servers": "127.0.0.1:1", "subscribe": "t"})))
    assert clone.source._consumer is None and clone.limit.max_rows == 100_000
