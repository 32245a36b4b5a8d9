"""The stream job's lag, the one computation behind the per-batch log line and `qlake stream status`."""

from __future__ import annotations

from streaming.state import lag_of


def test_lag_is_end_offset_minus_done_per_partition_in_order():
    # Partition 2 was never read by the job: its whole content is lag.
    assert lag_of({2: 40, 0: 1_000, 1: 7}, {0: 990, 1: 7}) == {"0": 10, "1": 0, "2": 40}
    assert list(lag_of({2: 40, 0: 1_000, 1: 7}, {})) == ["0", "1", "2"]


def test_no_partitions_no_lag():
    assert lag_of({}, {0: 5}) == {}
