"""The hourly tidy: compaction decided from the Delta log, per partition; nothing written when nothing is due."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from qlake import maintenance


def _hours(location: str, hours: int, months: list[str]) -> None:
    """``hours`` appends of two rows into each month (a file per month and hour, as an hourly write makes)."""
    for hour in range(hours):
        write_deltalake(location, pa.table({"transaction_month": [m for m in months for _ in range(2)],
                                            "units": [hour, hour + 100] * len(months)}),
                        partition_by=["transaction_month"], mode="append")


def test_a_partition_past_its_files_is_compacted_and_others_are_left_alone(cfg, tmp_path):
    own = dataclasses.replace(cfg, home=str(tmp_path / "lake"))
    busy, quiet = own.table_location("gold", "busy"), own.table_location("gold", "quiet")
    _hours(busy, 9, ["2026-11", "2026-12"])  # 9 files in each month: past the 8 a partition
    _hours(quiet, 1, [f"2026-{m:02d}" for m in range(1, 13)])  # 12 files, one a month: nothing to merge
    assert [maintenance.most_files_in_a_partition(DeltaTable(t)) for t in (busy, quiet)] == [9, 1]

    assert maintenance.tidy(own, ["gold.busy", "gold.quiet", "gold.missing"]) == ["gold.busy: compacted"]
    compacted = DeltaTable(busy)
    assert (compacted.version(), len(compacted.file_uris())) == (9, 2)  # one commit, a file per month
    assert sorted(compacted.to_pyarrow_table()["units"].to_pylist()) == sorted([*range(9), *range(100, 109)] * 2)
    assert DeltaTable(quiet).version() == 0

    assert maintenance.tidy(own, ["gold.busy", "gold.quiet"]) == []  # nothing due: no commit
    assert DeltaTable(busy).version() == 9


def test_an_hourly_compaction_merges_the_small_files_and_leaves_a_compacted_one_alone(cfg, tmp_path):
    """Rewriting only what the hours added since the last compaction: its cost follows the new rows, not the
    partition's history (`run daily` compacts everything)."""
    own = dataclasses.replace(cfg, home=str(tmp_path / "lake"))
    location = own.table_location("gold", "history")
    history = [f"{m}" for m in range(5000)]
    write_deltalake(location, pa.table({"transaction_month": ["2026-12"] * 5000, "units": list(range(5000)),
                                        "note": history}), partition_by=["transaction_month"])
    compacted_file = DeltaTable(location).file_uris()[0]
    for hour in range(9):
        write_deltalake(location, pa.table({"transaction_month": ["2026-12"] * 2, "units": [hour, hour + 100],
                                            "note": ["h", "h"]}), partition_by=["transaction_month"], mode="append")

    assert maintenance.tidy(own, ["gold.history"]) == ["gold.history: compacted"]
    after = DeltaTable(location)
    assert len(after.file_uris()) == 2 and compacted_file in after.file_uris()  # the nine hours became one file
    units = after.to_pyarrow_table()["units"].to_pylist()
    assert sorted(units) == sorted([*range(5000), *range(9), *range(100, 109)])


def test_a_tables_latest_version_is_read_from_its_log_folder(cfg, tmp_path):
    from qlake import storage

    own = dataclasses.replace(cfg, home=str(tmp_path / "lake"))
    table = own.table_location("gold", "versions")
    assert storage.latest_version(table) is None  # no table there yet
    _hours(table, 3, ["2026-12"])
    assert storage.latest_version(table) == DeltaTable(table).version() == 2
    DeltaTable(table).create_checkpoint()  # a checkpoint file beside the commits is not a version
    _hours(table, 1, ["2026-12"])
    assert storage.latest_version(table) == DeltaTable(table).version() == 3


def test_a_compaction_keeps_the_rows_an_append_does_not(cfg, tmp_path):
    """What the marketing aggregates rely on to add new facts after the tidy compacted the fact."""
    from qlake import storage

    own = dataclasses.replace(cfg, home=str(tmp_path / "lake"))
    table = own.table_location("gold", "kept")
    _hours(table, 9, ["2026-12"])  # versions 0-8
    first = storage.table_state(table)
    table_id = DeltaTable(table).metadata().id
    assert first == (table_id, 8)
    assert maintenance.tidy(own, ["gold.kept"]) == ["gold.kept: compacted"]  # version 9
    assert storage.table_state(table) == (table_id, 9)
    assert storage.rows_unchanged_between(table, 8, 9) and storage.rows_unchanged_between(table, 9, 9)
    _hours(table, 1, ["2026-12"])  # version 10
    assert not storage.rows_unchanged_between(table, 8, 10) and not storage.rows_unchanged_between(table, 9, 10)
    assert not storage.rows_unchanged_between(table, 10, 9)  # a marker from the future: another table's
    assert storage.table_state(own.table_location("gold", "missing")) is None


def test_a_plain_table_is_read_from_its_data_files_as_the_dataset_reads_it(tmp_path):
    """storage.read_delta without pyarrow.dataset: the live files only, cast to the table's schema, a column the
    table gained later null in the older files; a partitioned table (or a filter) goes through the dataset."""
    import pyarrow.dataset as ds

    from qlake import storage

    location = str(tmp_path / "plain")
    at = pa.array([datetime(2026, 12, 7, 10, tzinfo=timezone.utc)] * 2, pa.timestamp("us", tz="UTC"))
    write_deltalake(location, pa.table({"id": [1, 2], "at": at}))
    write_deltalake(location, pa.table({"id": [3, 4], "at": at}), mode="overwrite")  # files 1-2 removed
    write_deltalake(location, pa.table({"id": [5, 6], "at": at, "note": ["x", None]}), mode="append",
                    schema_mode="merge")
    table = DeltaTable(location)
    read = storage.read_delta(table)
    assert read.schema.equals(table.to_pyarrow_dataset().schema)
    assert sorted(read.to_pylist(), key=lambda r: r["id"]) == [
        {"id": 3, "at": at[0].as_py(), "note": None}, {"id": 4, "at": at[0].as_py(), "note": None},
        {"id": 5, "at": at[0].as_py(), "note": "x"}, {"id": 6, "at": at[0].as_py(), "note": None}]
    assert sorted(storage.read_delta(location, columns=["note", "id"]).column("id").to_pylist()) == [3, 4, 5, 6]
    assert sorted(storage.read_delta(location, filter=ds.field("id") > 4).column("id").to_pylist()) == [5, 6]
    partitioned = str(tmp_path / "partitioned")
    _hours(partitioned, 2, ["2026-11", "2026-12"])
    assert sorted(storage.read_delta(partitioned).to_pylist(), key=str) == sorted(
        DeltaTable(partitioned).to_pyarrow_dataset().to_table().to_pylist(), key=str)
    empty = str(tmp_path / "empty")
    write_deltalake(empty, pa.table({"id": pa.array([], pa.int64())}))
    assert storage.read_delta(empty).num_rows == 0
