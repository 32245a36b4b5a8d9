"""gold.dim_date's build: every day between the first and last sale date, calendar attributes exact."""

from __future__ import annotations

from datetime import date

from chispa import assert_df_equality

from gold import dim_date
from helpers import frame
from silver import sales_transactions


def test_build_spans_every_day_between_the_first_and_last_sale(spark):
    sales = frame(spark, sales_transactions.TABLE, [{"transaction_date": date(2022, 12, 31)},
                                                    {"transaction_date": date(2023, 1, 2)},
                                                    {"transaction_date": date(2023, 1, 1)}],
                  columns=["transaction_date"])
    expected = frame(spark, dim_date.TABLE, [
        {"date_key": 20221231, "date": date(2022, 12, 31), "year": 2022, "quarter": 4, "month": 12,
         "month_name": "December", "year_month": "2022-12", "day_of_month": 31, "day_of_week": 7,
         "day_name": "Saturday", "week_of_year": 52, "is_weekend": True},
        {"date_key": 20230101, "date": date(2023, 1, 1), "year": 2023, "quarter": 1, "month": 1,
         "month_name": "January", "year_month": "2023-01", "day_of_month": 1, "day_of_week": 1,
         "day_name": "Sunday", "week_of_year": 52, "is_weekend": True},
        {"date_key": 20230102, "date": date(2023, 1, 2), "year": 2023, "quarter": 1, "month": 1,
         "month_name": "January", "year_month": "2023-01", "day_of_month": 2, "day_of_week": 2,
         "day_name": "Monday", "week_of_year": 1, "is_weekend": False},
    ])
    assert_df_equality(dim_date.build(spark, sales), expected, ignore_nullable=True, ignore_row_order=True)


def test_build_of_no_sales_is_no_day(spark):
    sales = frame(spark, sales_transactions.TABLE, [], columns=["transaction_date"])
    assert dim_date.build(spark, sales).collect() == []
