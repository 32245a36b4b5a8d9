"""silver.sales_agents — SCD type 2: one row per agent version (grain: sales_agent_id × valid_from).

Real deliveries change an agent's hire_date between hours: the new value opens a new version, an unchanged
re-delivery adds nothing.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from bronze import sales_agents as bronze_agents
from qlake.catalog import columns_from
from qlake.tables import Table
from silver import cleaning
from silver.context import LINEAGE
from silver.dimension import Scd2Dimension

TABLE = Table(
    name="silver.sales_agents",
    grain="one row per sales agent version (sales_agent_id x valid_from), SCD2 by delivery time",
    build="staged",
    suite="silver_sales_agents",
    tests=("tests/silver/test_sales_agents.py",),
    columns=(
        "sales_agent_sk BIGINT NOT NULL, sales_agent_id INT NOT NULL, name STRING, hire_date DATE, "
        "valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL, "
        "_source_file STRING, _row_number BIGINT, _updated_at TIMESTAMP"
    ),
    comment="sales agents with history (SCD2 by delivery time)",
    column_lineage=columns_from("bronze.sales_agents", "name", "hire_date", sales_agent_id="sales_person_id"),
)

DIMENSION = Scd2Dimension(
    spec=TABLE,
    bronze=bronze_agents.TABLE,
    suite=TABLE.suite,
    key="sales_agent_id",
    attributes=("name", "hire_date"),
    raw_columns=bronze_agents.KIND.columns,
    surrogate_key="sales_agent_sk",
)


def staged(bronze: DataFrame) -> DataFrame:
    """Rename + cast: the delivered strings as typed columns, lineage kept."""
    return bronze.select(
        cleaning.parse_int(F.col("sales_person_id")).alias("sales_agent_id"),
        cleaning.clean_name(F.col("name")).alias("name"),
        cleaning.parse_date(F.col("hire_date")).alias("hire_date"),
        *LINEAGE,
    )

