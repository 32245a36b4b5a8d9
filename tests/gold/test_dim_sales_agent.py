"""gold.dim_sales_agent's build: every silver agent version, plus the key -1 member for online sales."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality

from gold import dim_sales_agent
from helpers import frame, inline_tables
from silver import sales_agents

V1, V2 = datetime(2023, 1, 1, 9), datetime(2023, 1, 5, 9)


def test_build_mirrors_the_versions_and_adds_the_online_member(spark, cfg):
    rows = [{"sales_agent_sk": 70, "sales_agent_id": 7, "name": "Mona Ali", "hire_date": date(2020, 2, 1),
             "valid_from": V1, "valid_to": V2, "is_current": False, "_source_file": "sales_agents_1.csv",
             "_row_number": 3, "_updated_at": V2},
            {"sales_agent_sk": 71, "sales_agent_id": 7, "name": "Mona Ali", "hire_date": date(2020, 3, 1),
             "valid_from": V2, "valid_to": None, "is_current": True, "_source_file": "sales_agents_2.csv",
             "_row_number": 3, "_updated_at": V2}]
    expected = frame(spark, dim_sales_agent.TABLE, [
        {"sales_agent_key": 70, "sales_agent_id": 7, "sales_agent_name": "Mona Ali", "hire_date": date(2020, 2, 1),
         "valid_from": V1, "valid_to": V2, "is_current": False},
        {"sales_agent_key": 71, "sales_agent_id": 7, "sales_agent_name": "Mona Ali", "hire_date": date(2020, 3, 1),
         "valid_from": V2, "valid_to": None, "is_current": True},
        {"sales_agent_key": -1, "sales_agent_name": "Online (no agent)", "valid_from": datetime(1900, 1, 1),
         "is_current": True}])
    with inline_tables(spark, cfg, {sales_agents.TABLE: rows}):
        assert_df_equality(dim_sales_agent.build(spark), expected, ignore_nullable=True, ignore_row_order=True)
