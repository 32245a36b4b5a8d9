"""The "not applicable" member of a dimension (key -1): online sales have no branch and no agent, and a fact
row must still join to every dimension."""

from __future__ import annotations

from datetime import datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

NOT_APPLICABLE = -1
BEGINNING = datetime(1900, 1, 1)


def with_not_applicable(spark: SparkSession, versions: DataFrame, key: str, label_column: str, label: str) -> DataFrame:
    """``versions`` plus one row keyed -1, labelled ``label``, valid forever; other attributes NULL."""
    values = {key: NOT_APPLICABLE, label_column: label, "valid_from": BEGINNING, "is_current": True}
    schema = T.StructType([T.StructField(f.name, f.dataType, True) for f in versions.schema.fields])
    member = spark.createDataFrame([tuple(values.get(f.name) for f in schema.fields)], schema)
    return versions.unionByName(member)
