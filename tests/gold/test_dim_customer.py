"""gold.dim_customer's build: customer versions without emails; ``since`` keeps the versions written after it."""

from __future__ import annotations

from datetime import datetime

from chispa import assert_df_equality

from gold import dim_customer
from helpers import frame, inline_tables
from silver import customers

JAN1, JAN6 = datetime(2023, 1, 1, 9), datetime(2023, 1, 6, 9)
ROWS = [
    {"customer_sk": 100, "customer_id": "C1", "first_name": "Ahmed", "last_name": "Samir", "email": "a@x.com",
     "valid_from": JAN1, "valid_to": JAN6, "is_current": False, "_updated_at": JAN6},
    {"customer_sk": 101, "customer_id": "C1", "first_name": "Ahmad", "last_name": "Samir", "email": "a@y.com",
     "valid_from": JAN6, "valid_to": None, "is_current": True, "_updated_at": JAN6},
    {"customer_sk": 200, "customer_id": "C2", "first_name": "Sara", "last_name": None, "email": None,
     "valid_from": JAN1, "valid_to": None, "is_current": True, "_updated_at": JAN1},
]
VERSIONS = [
    {"customer_key": 100, "customer_id": "C1", "first_name": "Ahmed", "last_name": "Samir", "valid_from": JAN1,
     "valid_to": JAN6, "is_current": False},
    {"customer_key": 101, "customer_id": "C1", "first_name": "Ahmad", "last_name": "Samir", "valid_from": JAN6,
     "valid_to": None, "is_current": True},
    {"customer_key": 200, "customer_id": "C2", "first_name": "Sara", "last_name": None, "valid_from": JAN1,
     "valid_to": None, "is_current": True},
]


def test_build_all_versions_and_only_those_written_since(spark, cfg):
    with inline_tables(spark, cfg, {customers.TABLE: ROWS}):
        assert_df_equality(dim_customer.build(spark), frame(spark, dim_customer.TABLE, VERSIONS),
                           ignore_nullable=True, ignore_row_order=True)
        assert_df_equality(dim_customer.build(spark, since=datetime(2023, 1, 3)),
                           frame(spark, dim_customer.TABLE, VERSIONS[:2]), ignore_nullable=True,
                           ignore_row_order=True)
