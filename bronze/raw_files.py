"""The contract of a delivered CSV file kind, and the bronze table that keeps its rows as delivered."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from qlake.tables import Table

# Lineage columns added to every raw row; `_ingest_date` partitions the bronze tables.
LINEAGE_COLUMNS = (
    "_source_file STRING NOT NULL, _source_sha256 STRING NOT NULL, _row_number BIGINT NOT NULL, "
    "_ingested_at TIMESTAMP NOT NULL, _batch_id STRING NOT NULL, _ingest_date DATE NOT NULL"
)


# What may follow ``<kind>_`` in a delivered file's name (before ``.csv``): the one documented name pattern.
LABEL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")


@dataclass(frozen=True)
class RawFileKind:
    """A delivered file kind: how its name looks, its header (spelling as delivered) and its bronze table."""

    kind: str
    name_pattern: re.Pattern
    columns: tuple[str, ...]
    # Fewest fields a row may have: offline transactions omit the trailing shipping_address field entirely.
    min_fields: int

    @property
    def table(self) -> Table:
        source = ", ".join(f"`{c}` STRING" for c in self.columns)
        return Table(
            name=f"bronze.{self.kind}",
            grain=f"one row per delivered row of a {self.kind} file, all strings, as delivered",
            build="bronze.ingest.ingest",
            tests=("tests/test_sample_pipeline.py", "tests/test_bronze_bad_files.py", "tests/test_drop_folder.py"),
            columns=f"{source}, {LINEAGE_COLUMNS}",
            partitioned_by=("_ingest_date",),
            comment=f"{self.kind} rows exactly as delivered (all strings) with lineage",
            update_interval=timedelta(hours=2),  # every kind is delivered every hour
        )

    def matches(self, file_name: str) -> bool:
        return bool(self.name_pattern.match(file_name))


def raw_file_kind(kind: str, columns: str, min_fields: int | None = None) -> RawFileKind:
    names = tuple(c.strip() for c in columns.split(","))
    return RawFileKind(
        kind=kind,
        name_pattern=re.compile(rf"^{kind}_[A-Za-z0-9_.-]*\.csv$", re.IGNORECASE),  # LABEL_CHARS
        columns=names,
        min_fields=min_fields if min_fields is not None else len(names),
    )
