"""gold.dim_branch's build: every silver branch version, plus the key -1 member for online sales."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality

from gold import dim_branch
from helpers import frame, inline_tables
from silver import branches

V1, V2 = datetime(2023, 1, 1, 9), datetime(2023, 1, 5, 9)


def test_build_mirrors_the_versions_and_adds_the_online_member(spark, cfg):
    rows = [{"branch_sk": 10, "branch_id": 1, "location": "Cairo", "establish_date": date(2010, 5, 1), "class": "A",
             "valid_from": V1, "valid_to": V2, "is_current": False, "_source_file": "branches_1.csv",
             "_row_number": 1, "_updated_at": V2},
            {"branch_sk": 11, "branch_id": 1, "location": "Giza", "establish_date": date(2010, 5, 1), "class": "B",
             "valid_from": V2, "valid_to": None, "is_current": True, "_source_file": "branches_2.csv",
             "_row_number": 1, "_updated_at": V2}]
    expected = frame(spark, dim_branch.TABLE, [
        {"branch_key": 10, "branch_id": 1, "location": "Cairo", "establish_date": date(2010, 5, 1), "class": "A",
         "valid_from": V1, "valid_to": V2, "is_current": False},
        {"branch_key": 11, "branch_id": 1, "location": "Giza", "establish_date": date(2010, 5, 1), "class": "B",
         "valid_from": V2, "valid_to": None, "is_current": True},
        {"branch_key": -1, "location": "Online (no branch)", "valid_from": datetime(1900, 1, 1), "is_current": True}])
    with inline_tables(spark, cfg, {branches.TABLE: rows}):
        assert_df_equality(dim_branch.build(spark), expected, ignore_nullable=True, ignore_row_order=True)
