"""silver.branches's build (staging): the delivered strings trimmed and typed, class upper-cased, lineage kept;
what cannot be parsed is NULL (the suite's rules decide about the row)."""

from __future__ import annotations

from datetime import date, datetime

from chispa import assert_df_equality

from bronze import branches as bronze_branches
from helpers import frame
from silver import branches

AT = datetime(2023, 1, 2, 10)
LINEAGE = {"_source_file": "branches_SS_raw_1.csv", "_source_sha256": "a1", "_batch_id": "b1", "_ingested_at": AT}
STAGED = ["branch_id", "location", "establish_date", "class", "_source_file", "_source_sha256", "_row_number",
          "_batch_id", "_ingested_at"]


def test_staged_types_the_delivered_strings(spark):
    bronze = frame(spark, bronze_branches.TABLE, [
        {"branch_id": " 1 ", "location": " Cairo ", "establish_date": "2010-5-1", "class": "a", "_row_number": 1,
         **LINEAGE},
        {"branch_id": "x", "location": "  ", "establish_date": "2010-13-1", "class": "", "_row_number": 2, **LINEAGE},
    ], columns=["branch_id", "location", "establish_date", "class", *STAGED[4:]])
    expected = frame(spark, branches.TABLE, [
        {"branch_id": 1, "location": "Cairo", "establish_date": date(2010, 5, 1), "class": "A", "_row_number": 1,
         **LINEAGE},
        {"_row_number": 2, **LINEAGE},
    ], columns=STAGED, extra_types={"_source_sha256": "STRING", "_batch_id": "STRING", "_ingested_at": "TIMESTAMP"})
    assert_df_equality(branches.staged(bronze), expected, ignore_nullable=True)
