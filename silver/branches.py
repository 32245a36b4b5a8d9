"""silver.branches — SCD type 2: one row per branch version (grain: branch_id × valid_from)."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bronze import branches as bronze_branches
from qlake.catalog import columns_from
from qlake.tables import Table
from silver import cleaning
from silver.context import LINEAGE
from silver.dimension import Scd2Dimension

TABLE = Table(
    name="silver.branches",
    grain="one row per branch version (branch_id x valid_from), SCD2 by delivery time",
    build="staged",
    suite="silver_branches",
    tests=("tests/silver/test_branches.py",),
    columns=(
        "branch_sk BIGINT NOT NULL, branch_id INT NOT NULL, location STRING, establish_date DATE, class STRING, "
        "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL, "
        "_source_file STRING, _row_number BIGINT, _updated_at TIMESTAMP"
    ),
    comment="branches with history (SCD2 by delivery time)",
    column_lineage=columns_from("bronze.branches", "branch_id", "location", "establish_date", "class"),
)

DIMENSION = Scd2Dimension(
    spec=TABLE,
    bronze=bronze_branches.TABLE,
    suite=TABLE.suite,
    key="branch_id",
    attributes=("location", "establish_date", "class"),
    raw_columns=bronze_branches.KIND.columns,
    surrogate_key="branch_sk",
)


def staged(bronze: DataFrame) -> DataFrame:
    """Rename + cast: the delivered strings as typed columns, lineage kept."""
    return bronze.select(
        cleaning.parse_int(F.col("branch_id")).alias("branch_id"),
        cleaning.blank_to_null(F.col("location")).alias("location"),
        cleaning.parse_date(F.col("establish_date")).alias("establish_date"),
        F.upper(cleaning.blank_to_null(F.col("`class`"))).alias("class"),
        *LINEAGE,
    )

