"""gold.dim_date — one row per calendar day (grain: date_key = yyyymmdd) covering every sale date."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from qlake.catalog import columns_from
from qlake.tables import Table

TABLE = Table(
    name="gold.dim_date",
    grain="one row per calendar day (date_key = yyyymmdd) from the first to the last sale date",
    tests=("tests/gold/test_dim_date.py",),
    columns=(
        "date_key INT NOT NULL, date DATE NOT NULL, year INT, quarter INT, month INT, month_name STRING, "
        "year_month STRING, day_of_month INT, day_of_week INT, day_name STRING, week_of_year INT, is_weekend BOOLEAN"
    ),
    comment="calendar: one row per day from the first to the last sale date",
    # Every calendar attribute is a function of the sale dates the calendar spans.
    column_lineage=columns_from("silver.sales_transactions", **dict.fromkeys(
        ("date_key", "date", "year", "quarter", "month", "month_name", "year_month", "day_of_month", "day_of_week",
         "day_name", "week_of_year", "is_weekend"), "transaction_date")),
)


def date_key(col) -> F.Column:
    """yyyymmdd as an INT, by arithmetic: formatting a string per row costs several times more on 550k rows."""
    return (F.year(col) * 10000 + F.month(col) * 100 + F.dayofmonth(col)).cast("int")


def build(spark: SparkSession, dates: DataFrame) -> DataFrame:
    """Every day between the earliest and the latest of ``dates.transaction_date`` (no gaps for BI tools)."""
    bounds = dates.agg(F.min("transaction_date").alias("lo"), F.max("transaction_date").alias("hi"))
    days = bounds.where(F.col("lo").isNotNull()).select(
        F.explode(F.sequence("lo", "hi", F.expr("INTERVAL 1 DAY"))).alias("date")
    )
    return days.select(
        date_key(F.col("date")).alias("date_key"),
        "date",
        F.year("date").alias("year"),
        F.quarter("date").alias("quarter"),
        F.month("date").alias("month"),
        F.date_format("date", "MMMM").alias("month_name"),
        F.date_format("date", "yyyy-MM").alias("year_month"),
        F.dayofmonth("date").alias("day_of_month"),
        F.dayofweek("date").alias("day_of_week"),
        F.date_format("date", "EEEE").alias("day_name"),
        F.weekofyear("date").alias("week_of_year"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )
