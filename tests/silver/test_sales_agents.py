"""silver.sales_agents's build (staging): sales_person_id renamed and typed, names cleaned, hire dates parsed."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality

from bronze import sales_agents as bronze_agents
from helpers import frame
from silver import sales_agents

AT = datetime(2023, 1, 2, 10)
LINEAGE = {"_source_file": "sales_agents_SS_raw_1.csv", "_source_sha256": "a2", "_batch_id": "b1",
           "_ingested_at": AT}
TAIL = ["_source_file", "_source_sha256", "_row_number", "_batch_id", "_ingested_at"]


def test_staged_types_the_delivered_strings(spark):
    bronze = frame(spark, bronze_agents.TABLE, [
        {"sales_person_id": "7", "name": "  mona   ALI ", "hire_date": "2020-2-1", "_row_number": 1, **LINEAGE},
        {"sales_person_id": "7.5", "name": "", "hire_date": "0000-1-1", "_row_number": 2, **LINEAGE},
    ], columns=["sales_person_id", "name", "hire_date", *TAIL])
    expected = frame(spark, sales_agents.TABLE, [
        {"sales_agent_id": 7, "name": "Mona Ali", "hire_date": date(2020, 2, 1), "_row_number": 1, **LINEAGE},
        {"_row_number": 2, **LINEAGE},
    ], columns=["sales_agent_id", "name", "hire_date", *TAIL],
        extra_types={"_source_sha256": "STRING", "_batch_id": "STRING", "_ingested_at": "TIMESTAMP"})
    assert_df_equality(sales_agents.staged(bronze), expected, ignore_nullable=True)
