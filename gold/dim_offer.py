"""gold.dim_offer — the five offers and "no offer" (grain: offer_key 0..5)."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import DataFrame, SparkSession

from qlake.tables import Table

TABLE = Table(
    name="gold.dim_offer",
    grain="one row per offer (offer_key 1..5) plus 0 = no offer",
    tests=("tests/gold/test_dim_offer.py",),
    columns="offer_key INT NOT NULL, offer_name STRING NOT NULL, discount_pct DECIMAL(5,2) NOT NULL",
    comment="offers 1..5 (5/10/15/20/25 % off) and 0 = no offer",
)
NO_OFFER = 0
DISCOUNT_PCT = {1: 5, 2: 10, 3: 15, 4: 20, 5: 25}


def build(spark: SparkSession) -> DataFrame:
    rows = [(NO_OFFER, "No offer", Decimal(0))] + [
        (k, f"Offer {k} ({pct}% off)", Decimal(pct)) for k, pct in DISCOUNT_PCT.items()
    ]
    return spark.createDataFrame(rows, TABLE.row_schema())
