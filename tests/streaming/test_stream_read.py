"""The Kafka source's executor-side read against the real broker: exact records, each once, with their offsets."""

from __future__ import annotations

import copy

import pyarrow as pa

from streaming.kafka_records import arrow_schema, read_ranges
from streaming.kafka_source import KafkaDriverReader


def _read(settings, ranges, **options) -> pa.Table:
    opts = {"bootstrap.servers": settings.bootstrap_servers, "subscribe": settings.kafka_topic, **options}
    return pa.Table.from_batches(list(read_ranges(opts, settings.kafka_topic, ranges)), schema=arrow_schema())


def _sent(settings, count: int) -> dict[tuple[int, int], bytes]:
    """Produce ``count`` events; {(partition, offset): value} from the broker's delivery reports."""
    from streaming.producer import generate, kafka_producer

    sent: dict[tuple[int, int], bytes] = {}
    producer = kafka_producer(settings)
    futures = [(producer.send(settings.kafka_topic, key=m.key, value=m.value), m.value) for m in generate(count, seed=11)]
    producer.flush()
    for future, value in futures:
        meta = future.get(timeout=30)
        sent[(meta.partition, meta.offset)] = value
    producer.close()
    return sent


def test_partition_parallel_read_returns_each_produced_event_once_with_its_offset(harness):
    settings = harness.settings
    sent = _sent(settings, 3_000)
    ends = harness.end_offsets()
    assert sum(ends.values()) == 3_000 and sorted(ends) == [0, 1, 2]
    per_reader = [_read(settings, [(p, 0, ends[p])]) for p in sorted(ends)]  # one reader per partition
    one_reader = _read(settings, [(p, 0, ends[p]) for p in sorted(ends)], arrowBatchRows="700")  # all, small batches
    for table in (pa.concat_tables(per_reader), one_reader):
        pairs = list(zip(table.column("partition").to_pylist(), table.column("offset").to_pylist()))
        assert len(pairs) == 3_000 and set(pairs) == set(sent)
        assert dict(zip(pairs, table.column("value").to_pylist())) == sent
        assert set(table.column("topic").to_pylist()) == {settings.kafka_topic}
        assert set(table.column("timestampType").to_pylist()) == {0}  # CreateTime, as Spark's Kafka source says
    for p, table in zip(sorted(ends), per_reader):
        assert table.column("offset").to_pylist() == list(range(ends[p]))  # in offset order within the partition


def test_ranges_cut_exactly_and_a_reused_consumer_rereads_from_the_new_start(harness):
    settings = harness.settings
    ends = harness.end_offsets()
    first = _read(settings, [(0, 10, 20), (1, 0, 1), (2, ends[2] - 3, ends[2])])
    assert sorted(zip(first.column("partition").to_pylist(), first.column("offset").to_pylist())) == (
        [(0, o) for o in range(10, 20)] + [(1, 0)] + [(2, o) for o in range(ends[2] - 3, ends[2])]
    )
    again = _read(settings, [(0, 5, 8)])  # the same worker's cached consumer, moved backwards
    assert again.column("offset").to_pylist() == [5, 6, 7] and set(again.column("partition").to_pylist()) == {0}
    assert _read(settings, [(1, 4, 4)]).num_rows == 0


def test_driver_reader_reads_up_to_the_end_it_reports_and_replays_the_same_records(harness):
    settings = harness.settings
    ends = harness.end_offsets()
    topic = settings.kafka_topic
    reader = KafkaDriverReader({"bootstrap.servers": settings.bootstrap_servers, "subscribe": topic,
                                "maxOffsetsPerTrigger": "1000"})
    start = {topic: {"0": 0, "1": 0, "2": 0}}
    batches, end = reader.read(start)
    granted = {int(p): o for p, o in end[topic].items()}
    assert sum(granted.values()) == 1_000 and all(0 < granted[p] <= ends[p] for p in ends)  # capped, every partition
    # Spark copies a prefetched batch's iterator before reading it.
    table = pa.Table.from_batches(list(copy.copy(batches)), schema=arrow_schema())
    pairs = sorted(zip(table.column("partition").to_pylist(), table.column("offset").to_pylist()))
    assert pairs == [(p, o) for p in sorted(granted) for o in range(granted[p])]
    # A capped read (a backlog) reads the next batch ahead, from where this one ends, with the same cap.
    assert reader._ahead is not None and reader._ahead.begin == end
    following, after = reader.read(end)
    got = pa.Table.from_batches(list(following), schema=arrow_schema())
    after_by_partition = {int(p): o for p, o in after[topic].items()}
    assert sum(after_by_partition.values()) == 2_000
    assert sorted(zip(got.column("partition").to_pylist(), got.column("offset").to_pylist())) == [
        (p, o) for p in sorted(granted) for o in range(granted[p], after_by_partition[p])]
    replay = pa.Table.from_batches(list(reader.readBetweenOffsets(start, end)), schema=arrow_schema())
    assert replay.sort_by([("partition", "ascending"), ("offset", "ascending")]).equals(
        table.sort_by([("partition", "ascending"), ("offset", "ascending")]))
    everything = {topic: {str(p): o for p, o in sorted(ends.items())}}
    nothing, same = reader.read(everything)
    assert same == everything and list(nothing) == []
    reader.stop()
