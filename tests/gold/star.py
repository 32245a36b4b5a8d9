"""A tiny star shared by the gold unit tests: the facts tests/gold/test_fact_sales.py expects its build to
produce, and what the marketing aggregates read besides (one more online sale, the products, the offers)."""

from __future__ import annotations

from decimal import Decimal

FACTS = [
    {"transaction_id": "T1", "date_key": 20230102, "product_key": 1, "customer_key": 100, "branch_key": 10,
     "sales_agent_key": 70, "offer_key": 2, "units": 3, "unit_price": Decimal("19.99"),
     "discount_pct": Decimal("10.00"), "total_price": Decimal("59.97"),
     "total_paid_price_after_discount": Decimal("53.97"), "is_online": False, "payment_method": "Cash",
     "transaction_month": "2023-01"},
    {"transaction_id": "T2", "date_key": 20230106, "product_key": 1, "customer_key": 101, "branch_key": 11,
     "sales_agent_key": 70, "offer_key": 0, "units": 1, "unit_price": Decimal("5.55"), "discount_pct": Decimal("0.00"),
     "total_price": Decimal("5.55"), "total_paid_price_after_discount": Decimal("5.55"), "is_online": False,
     "payment_method": "Card", "transaction_month": "2023-01"},
    {"transaction_id": "T3", "date_key": 20230201, "product_key": 2, "customer_key": 200, "branch_key": -1,
     "sales_agent_key": -1, "offer_key": 5, "units": 2, "unit_price": Decimal("10.01"),
     "discount_pct": Decimal("25.00"), "total_price": Decimal("20.02"),
     "total_paid_price_after_discount": Decimal("15.02"), "is_online": True, "payment_method": "PayPal",
     "shipping_city": "Alexandria", "shipping_state": "AL", "transaction_month": "2023-02"},
]

# One more online sale for the aggregates: offer 2 on product 2, 10.01 * 0.90 = 9.009 -> 9.01.
MORE_FACTS = FACTS + [
    {"transaction_id": "T4", "date_key": 20230203, "product_key": 2, "customer_key": 200, "branch_key": -1,
     "sales_agent_key": -1, "offer_key": 2, "units": 1, "unit_price": Decimal("10.01"),
     "discount_pct": Decimal("10.00"), "total_price": Decimal("10.01"),
     "total_paid_price_after_discount": Decimal("9.01"), "is_online": True, "payment_method": "Card",
     "shipping_city": "Cairo", "shipping_state": "CA", "transaction_month": "2023-02"},
]
PRODUCTS = [
    {"product_key": 1, "product_id": 1, "product_name": "Boots", "product_category": "Shoes",
     "list_price": Decimal("19.99")},
    {"product_key": 2, "product_id": 2, "product_name": "Hat", "product_category": "Accessories",
     "list_price": Decimal("10.01")},
]
OFFERS = [
    {"offer_key": 0, "offer_name": "No offer", "discount_pct": Decimal("0.00")},
    {"offer_key": 2, "offer_name": "Offer 2 (10% off)", "discount_pct": Decimal("10.00")},
    {"offer_key": 5, "offer_name": "Offer 5 (25% off)", "discount_pct": Decimal("25.00")},
]
