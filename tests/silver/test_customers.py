"""silver.customers's build: one observation per customer and delivered file — the file's last row for that
customer — with the delivery time it takes effect at (SCD2 then opens versions from these)."""

from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality

from helpers import frame
from silver import customers, sales_transactions

TEN, ELEVEN = datetime(2023, 1, 2, 10), datetime(2023, 1, 2, 11)
COLUMNS = ["customer_id", "customer_first_name", "customer_last_name", "customer_email", "_source_sha256",
           "_source_file", "_row_number", "_ingested_at"]


def _sale(customer, first, last, email, sha, row, at):
    return {"customer_id": customer, "customer_first_name": first, "customer_last_name": last,
            "customer_email": email, "_source_sha256": sha, "_source_file": f"{sha}.csv", "_row_number": row,
            "_ingested_at": at}


def test_delivered_is_each_files_last_row_per_customer(spark):
    sales = frame(spark, sales_transactions.TABLE, [
        _sale("C1", "Ahmed", "Samir", "a@x.com", "f1", 1, TEN),
        _sale("C1", "Ahmad", "Samir", "a@y.com", "f1", 2, TEN),  # later row of the same file wins
        _sale("C1", "Ahmad", "Samir", "a@y.com", "f2", 5, ELEVEN),  # another delivery: its own observation
        _sale("C2", "Sara", None, None, "f1", 3, TEN),
    ], columns=COLUMNS)
    expected = frame(spark, customers.TABLE, [
        {"customer_id": "C1", "first_name": "Ahmad", "last_name": "Samir", "email": "a@y.com", "_effective": TEN},
        {"customer_id": "C1", "first_name": "Ahmad", "last_name": "Samir", "email": "a@y.com", "_effective": ELEVEN},
        {"customer_id": "C2", "first_name": "Sara", "last_name": None, "email": None, "_effective": TEN},
    ], columns=["customer_id", "first_name", "last_name", "email", "_effective"],
        extra_types={"_effective": "TIMESTAMP"})
    assert_df_equality(customers.delivered(sales), expected, ignore_nullable=True, ignore_row_order=True)
