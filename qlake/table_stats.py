"""Row counts answered from a Delta table's log (file statistics) where they can be, by the engine otherwise."""

from __future__ import annotations

import pyarrow as pa
from deltalake.exceptions import TableNotFoundError
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from qlake import catalog, storage
from qlake.catalog import TableSpec
from qlake.config import Settings


def file_stats(spec: TableSpec, cfg: Settings) -> pa.Table | None:
    """The table's data files with their statistics, from its Delta log (None: no table there)."""
    try:
        return storage.file_actions(spec.location(cfg))
    except TableNotFoundError:
        return None


def rows_with_value(spark: SparkSession, spec: TableSpec, cfg: Settings, column: str, value: str,
                    actions: pa.Table | None = None) -> int:
    """How many rows have ``column = value``, answered from the Delta log's file statistics when they can
    (``actions``: the table's :func:`file_stats`, read ahead by the caller).

    Files whose min/max exclude the value are skipped, files holding only that value are counted from their
    statistics; only files whose range straddles it (after compaction) are read, with the filter pushed down.
    """
    actions = actions if actions is not None else file_stats(spec, cfg)
    if actions is None:
        return 0
    low, high = f"min.{column}", f"max.{column}"
    if actions.num_rows and low in actions.column_names and "num_records" in actions.column_names:
        exact, ambiguous = 0, False
        for row in actions.select([low, high, "num_records"]).to_pylist():
            if row[low] is None or row[high] is None or row["num_records"] is None:
                ambiguous = True
            elif row[low] == row[high] == value:
                exact += row["num_records"]
            elif row[low] <= value <= row[high]:
                ambiguous = True
        if not ambiguous:
            return exact
    elif actions.num_rows == 0:
        return 0
    return catalog.read(spark, spec, cfg).where(F.col(column) == value).count()


def row_count(spark: SparkSession, spec: TableSpec, cfg: Settings | None = None) -> int:
    """Rows in the table's current snapshot, from the Delta log's file statistics when every file has them
    (else, or when this process cannot read the log's storage, counted by the engine)."""
    logged = storage.logged_rows(spec.location(cfg))
    return logged if logged is not None else catalog.read(spark, spec, cfg).count()
