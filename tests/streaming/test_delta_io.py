"""The stream's Delta log stays bounded: the retention is set once, and deltalake then removes expired commits."""

from __future__ import annotations

import time

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from streaming.delta_io import STREAM_TABLE_PROPERTIES, keep_log_bounded


def test_log_retention_is_set_once_on_a_table_without_it(tmp_path):
    location = str(tmp_path / "t")
    write_deltalake(location, pa.table({"a": [1]}))
    assert keep_log_bounded(location) is True
    version = DeltaTable(location).version()
    assert keep_log_bounded(location) is False  # already set: no second commit
    table = DeltaTable(location)
    assert table.version() == version == 1
    assert table.metadata().configuration == STREAM_TABLE_PROPERTIES


def test_expired_commits_are_removed_at_the_next_checkpoint(tmp_path):
    """What the retention buys, with a 1-second retention so the test need not wait 5 minutes: commit files older
    than it are removed when deltalake writes a checkpoint (every 100 commits); the rows all stay."""
    location = tmp_path / "t"
    write_deltalake(str(location), pa.table({"a": [0]}),
                    configuration={"delta.logRetentionDuration": "interval 1 seconds"})
    table = DeltaTable(str(location))
    for i in range(1, 120):
        write_deltalake(table, pa.table({"a": [i]}), mode="append")
    time.sleep(1.5)  # every commit so far is now older than the retention
    for i in range(120, 200):
        write_deltalake(table, pa.table({"a": [i]}), mode="append")  # commit 199 writes a checkpoint
    commits = sorted(int(p.name.split(".")[0]) for p in (location / "_delta_log").glob("*.json"))
    assert commits[0] == 99 and commits[-1] == 199  # 0-98 removed, the checkpoint at 99 onward kept
    assert sorted(DeltaTable(str(location)).to_pyarrow_table().column("a").to_pylist()) == list(range(200))
