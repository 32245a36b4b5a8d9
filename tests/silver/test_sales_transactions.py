"""silver.sales_transactions's build (staging): the delivered strings renamed and typed, one offer or none,
money in exact DECIMAL rounded half-up to the cent, emails cleaned, the address split from the right; what
cannot be parsed is NULL for the suite's rules (two offers, an impossible date, a price with 3 decimals)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality

from bronze import sales_transactions as bronze_transactions
from helpers import frame
from silver import sales_transactions

AT = datetime(2023, 1, 2, 10)
LINEAGE = {"_source_file": "sales_transactions_SS_raw_1.csv", "_source_sha256": "a3", "_batch_id": "b1",
           "_ingested_at": AT}
NO_OFFER = {f"offer_{k}": "" for k in range(1, 6)}
STAGED = ["transaction_id", "transaction_date", "customer_id", "customer_first_name", "customer_last_name",
          "customer_email", "sales_agent_id", "branch_id", "product_id", "product_name", "product_category",
          "offer_id", "offer_count", "discount_pct", "units", "unit_price", "unit_price_decimals", "total_price",
          "total_paid_price_after_discount", "is_online", "payment_method", "shipping_street", "shipping_city",
          "shipping_state", "shipping_postal_code", "_source_file", "_source_sha256", "_row_number", "_batch_id",
          "_ingested_at"]
EXTRA_TYPES = {"offer_count": "INT", "unit_price_decimals": "INT"}


def _delivered(**fields):
    return {"transaction_date": "2023-5-20", "customer_id": "85469", "product_id": "22",
            "product_name": "Coffee Maker", "product_category": "Appliances", **NO_OFFER, **LINEAGE, **fields}


def test_staged_types_cleans_and_prices_each_row(spark):
    bronze = frame(spark, bronze_transactions.TABLE, [
        # Offline, offer 4 (20 % off): 10 x 79.99 = 799.90, paid 639.92.
        _delivered(transaction_id="trx-1", customer_fname=" alexander ", cusomter_lname="BROWN",
                   cusomter_email='Alexander.Brown@Gmail.com"', sales_agent_id="1", branch_id="2", offer_4="True",
                   units="10", unit_price="79.99", is_online="no", payment_method="cash", _row_number=1),
        # Online, offer 2 (10 % off): 3 x 33.35 = 100.05, paid 90.045 -> 90.05 (half-up); the street holds a `/`.
        _delivered(transaction_id="trx-2", customer_fname="ava", cusomter_lname="jones",
                   cusomter_email="ava.jones@hotmail.com:", sales_agent_id="", branch_id="", offer_2="True",
                   units="3", unit_price="33.35", is_online="yes", payment_method="credit  card",
                   shipping_address="43 Henderson Ave/Apt 2/Savannah/GA/2143", _row_number=2),
        # Two offers, an impossible date, units not a number, a price with 3 decimals, no email.
        _delivered(transaction_id="trx-3", transaction_date="2023-2-30", customer_fname="", cusomter_lname="",
                   cusomter_email="not-an-email", sales_agent_id="3", branch_id="1", offer_1="True",
                   offer_3="True", units="x", unit_price="79.999", is_online="no", payment_method="Bitcoin",
                   _row_number=3),
    ], columns=[*bronze_transactions.KIND.columns, *STAGED[-5:]])
    expected = frame(spark, sales_transactions.TABLE, [
        {"transaction_id": "trx-1", "transaction_date": date(2023, 5, 20), "customer_id": "85469",
         "customer_first_name": "Alexander", "customer_last_name": "Brown",
         "customer_email": "alexander.brown@gmail.com", "sales_agent_id": 1, "branch_id": 2, "product_id": 22,
         "product_name": "Coffee Maker", "product_category": "Appliances", "offer_id": 4, "offer_count": 1,
         "discount_pct": Decimal("20.00"), "units": 10, "unit_price": Decimal("79.99"), "unit_price_decimals": 2,
         "total_price": Decimal("799.90"), "total_paid_price_after_discount": Decimal("639.92"), "is_online": False,
         "payment_method": "Cash", "_row_number": 1, **LINEAGE},
        {"transaction_id": "trx-2", "transaction_date": date(2023, 5, 20), "customer_id": "85469",
         "customer_first_name": "Ava", "customer_last_name": "Jones", "customer_email": "ava.jones@hotmail.com",
         "product_id": 22, "product_name": "Coffee Maker", "product_category": "Appliances", "offer_id": 2,
         "offer_count": 1, "discount_pct": Decimal("10.00"), "units": 3, "unit_price": Decimal("33.35"),
         "unit_price_decimals": 2, "total_price": Decimal("100.05"),
         "total_paid_price_after_discount": Decimal("90.05"), "is_online": True, "payment_method": "Credit Card",
         "shipping_street": "43 Henderson Ave/Apt 2", "shipping_city": "Savannah", "shipping_state": "GA",
         "shipping_postal_code": "02143", "_row_number": 2, **LINEAGE},
        {"transaction_id": "trx-3", "customer_id": "85469", "sales_agent_id": 3, "branch_id": 1, "product_id": 22,
         "product_name": "Coffee Maker", "product_category": "Appliances", "offer_count": 2,
         "discount_pct": Decimal("0.00"), "unit_price": Decimal("80.00"), "unit_price_decimals": 3,
         "is_online": False, "payment_method": "Bitcoin", "_row_number": 3, **LINEAGE},
    ], columns=STAGED, extra_types=EXTRA_TYPES)
    assert_df_equality(sales_transactions.staged(bronze), expected, ignore_nullable=True)
