"""The "not applicable" member of a dimension (key -1): online sales have no branch and no agent, and a fact
row must still join to every dimension."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake.catalog import TableSpec

NOT_APPLICABLE = -1
BEGINNING = datetime(1900, 1, 1)


def with_not_applicable(spark: SparkSession, versions: DataFrame, spec: TableSpec, key: str, label_column: str,
                        label: str) -> DataFrame:
    """``versions`` plus one row keyed -1, labelled ``label``, valid forever; other attributes NULL.

    The row is typed from the table's contract (literals cast to its column types), so building it asks the
    engine nothing: no local data to ship, no schema to analyse.
    """
    values = {key: NOT_APPLICABLE, label_column: label, "valid_from": BEGINNING, "is_current": True}
    member = spark.range(1).select(
        *[F.lit(values.get(name)).cast(sql_type).alias(name) for name, sql_type in spec.column_types]
    )
    return versions.unionByName(member)
