"""gold.fact_sales's build: each sale keyed to the dimension versions valid when it was delivered, online sales
to the -1 members, no offer to 0; money (total_paid_price_after_discount included) carried exactly."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality

from gold import dim_branch, dim_customer, dim_sales_agent, fact_sales
from helpers import frame, inline_tables
from silver import sales_transactions
from star import FACTS

JAN1, JAN5, JAN6 = datetime(2023, 1, 1), datetime(2023, 1, 5), datetime(2023, 1, 6)
BRANCHES = [
    {"branch_key": 10, "branch_id": 1, "location": "Cairo", "valid_from": JAN1, "valid_to": JAN5, "is_current": False},
    {"branch_key": 11, "branch_id": 1, "location": "Giza", "valid_from": JAN5, "valid_to": None, "is_current": True},
    {"branch_key": -1, "location": "Online (no branch)", "valid_from": datetime(1900, 1, 1), "is_current": True},
]
AGENTS = [
    {"sales_agent_key": 70, "sales_agent_id": 7, "sales_agent_name": "Mona Ali", "valid_from": JAN1, "valid_to": None,
     "is_current": True},
    {"sales_agent_key": -1, "sales_agent_name": "Online (no agent)", "valid_from": datetime(1900, 1, 1),
     "is_current": True},
]
CUSTOMERS = [
    {"customer_key": 100, "customer_id": "C1", "first_name": "Ahmed", "valid_from": JAN1, "valid_to": JAN6,
     "is_current": False},
    {"customer_key": 101, "customer_id": "C1", "first_name": "Ahmad", "valid_from": JAN6, "valid_to": None,
     "is_current": True},
    {"customer_key": 200, "customer_id": "C2", "first_name": "Sara", "valid_from": JAN1, "valid_to": None,
     "is_current": True},
]
SALE_COLUMNS = ["transaction_id", "transaction_date", "customer_id", "sales_agent_id", "branch_id", "product_id",
                "offer_id", "discount_pct", "units", "unit_price", "total_price", "total_paid_price_after_discount",
                "is_online", "payment_method", "shipping_city", "shipping_state", "_ingested_at"]
SALES = [
    # Delivered Jan 2: branch 1's first version, customer C1's first version, offer 2 (10 % off).
    {"transaction_id": "T1", "transaction_date": date(2023, 1, 2), "customer_id": "C1", "sales_agent_id": 7,
     "branch_id": 1, "product_id": 1, "offer_id": 2, "discount_pct": Decimal("10.00"), "units": 3,
     "unit_price": Decimal("19.99"), "total_price": Decimal("59.97"),
     "total_paid_price_after_discount": Decimal("53.97"), "is_online": False, "payment_method": "Cash",
     "_ingested_at": datetime(2023, 1, 2, 10)},
    # Delivered Jan 6 10:00: branch 1's second version (from Jan 5), C1's second version (from Jan 6); no offer.
    {"transaction_id": "T2", "transaction_date": date(2023, 1, 6), "customer_id": "C1", "sales_agent_id": 7,
     "branch_id": 1, "product_id": 1, "offer_id": None, "discount_pct": Decimal("0.00"), "units": 1,
     "unit_price": Decimal("5.55"), "total_price": Decimal("5.55"), "total_paid_price_after_discount": Decimal("5.55"),
     "is_online": False, "payment_method": "Card", "_ingested_at": datetime(2023, 1, 6, 10)},
    # Online, February: no branch, no agent (key -1), offer 5 (25 % off): 20.02 * 0.75 = 15.015 -> 15.02.
    {"transaction_id": "T3", "transaction_date": date(2023, 2, 1), "customer_id": "C2", "sales_agent_id": None,
     "branch_id": None, "product_id": 2, "offer_id": 5, "discount_pct": Decimal("25.00"), "units": 2,
     "unit_price": Decimal("10.01"), "total_price": Decimal("20.02"),
     "total_paid_price_after_discount": Decimal("15.02"), "is_online": True, "payment_method": "PayPal",
     "shipping_city": "Alexandria", "shipping_state": "AL", "_ingested_at": datetime(2023, 2, 1, 10)},
]
def test_build_keys_each_sale_to_the_versions_valid_at_its_delivery(spark, cfg):
    sales = frame(spark, sales_transactions.TABLE, SALES, columns=SALE_COLUMNS)
    dimensions = {dim_branch.TABLE: BRANCHES, dim_sales_agent.TABLE: AGENTS, dim_customer.TABLE: CUSTOMERS}
    with inline_tables(spark, cfg, dimensions):
        facts = fact_sales.build(spark, sales)
        assert_df_equality(facts, frame(spark, fact_sales.TABLE, FACTS), ignore_nullable=True, ignore_row_order=True)
        paid = facts.agg({"total_paid_price_after_discount": "sum"}).first()[0]
    assert paid == Decimal("74.54")  # 53.97 + 5.55 + 15.02, exact
