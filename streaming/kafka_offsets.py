"""Kafka offsets as the ``qlake_kafka`` source checkpoints them, ``{"<topic>": {"<partition>": <next offset>}}``,
and the arithmetic on them: the ranges between two offsets, a batch's cap split over partitions, and ranges
spread over readers. Pure functions: the stream's readers, its batch writer and ``qlake stream status`` share them."""

from __future__ import annotations

import json

Offsets = dict[str, dict[str, int]]  # {"topic": {"partition": next_offset}}


def offsets_of(topic: str, positions: dict[int, int]) -> Offsets:
    return {topic: {str(p): int(positions[p]) for p in sorted(positions)}}


def by_partition(offsets: Offsets, topic: str) -> dict[int, int]:
    return {int(p): int(o) for p, o in (offsets or {}).get(topic, {}).items()}


def ranges_between(start: Offsets, end: Offsets, topic: str) -> list[tuple[int, int, int]]:
    """The half-open ``(partition, start, end)`` ranges with records between two offsets, in partition order."""
    begin, finish = by_partition(start, topic), by_partition(end, topic)
    return [(p, begin.get(p, 0), finish[p]) for p in sorted(finish) if finish[p] > begin.get(p, 0)]


def group_ranges(ranges: list[tuple[int, int, int]], readers: int) -> list[list[tuple[int, int, int]]]:
    """Spread partition ranges over at most ``readers`` groups of equal rows: in partition order, each group takes
    its share and a range that crosses a share's end is split there (two readers then read one partition's two
    halves, each from its own start offset). With no more ranges than readers, one range per group."""
    if len(ranges) <= readers:
        return [[r] for r in ranges]
    share = -(-sum(end - start for _, start, end in ranges) // readers)
    groups: list[list[tuple[int, int, int]]] = [[]]
    room = share
    for partition, start, end in sorted(ranges):
        while start < end:
            if room == 0:
                groups.append([])
                room = share
            take = min(end - start, room)
            groups[-1].append((partition, start, start + take))
            start, room = start + take, room - take
    return groups


def proportional(available: dict[int, int], budget: int) -> dict[int, int]:
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


def describe_offsets(offsets_json: str | dict, topic: str) -> dict[int, int]:
    """Parse a checkpointed offset (JSON text or dict) into {partition: next offset}."""
    data = json.loads(offsets_json) if isinstance(offsets_json, str) else offsets_json
    return by_partition(data, topic)
