"""silver.customers — customer history, SCD type 2 by delivery (grain: customer_id × valid_from).

The same customer id arrives with other names/emails in later deliveries. Each delivery states a customer's
attributes as of that delivery (its last row for the customer); a change opens a new version valid from the
delivery time, an unchanged re-statement adds nothing. The current row is the latest name and email. Only
current rows and the new batch are read, so the cost follows the batch, not the history.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from qlake import catalog
from qlake.catalog import columns_from
from qlake.tables import Table
from silver.context import SilverContext
from silver.dedup import latest_per_key
from silver.scd2 import apply_scd2

TABLE = Table(
    name="silver.customers",
    grain="one row per customer version (customer_id x valid_from), SCD2 by delivery",
    build="delivered",
    tests=("tests/silver/test_customers.py",),
    columns=(
        "customer_sk BIGINT NOT NULL, customer_id STRING NOT NULL, first_name STRING, last_name STRING, "
        "email STRING, valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL, "
        "_updated_at TIMESTAMP NOT NULL"
    ),
    comment="customers with history (SCD2 by delivery); current row = latest name and email",
    column_lineage=columns_from("silver.sales_transactions", "customer_id", first_name="customer_first_name",
                                last_name="customer_last_name", email="customer_email",
                                valid_from="_ingested_at", valid_to="_ingested_at", is_current="_ingested_at"),
)
ATTRIBUTES = ["first_name", "last_name", "email"]


def delivered(transactions: DataFrame) -> DataFrame:
    """One observation per customer and delivered file: the file's last row for that customer."""
    return latest_per_key(transactions, ["customer_id", "_source_sha256"]).select(
        "customer_id",
        F.col("customer_first_name").alias("first_name"),
        F.col("customer_last_name").alias("last_name"),
        F.col("customer_email").alias("email"),
        F.col("_ingested_at").alias("_effective"),
    )


def run(ctx: SilverContext, transactions: DataFrame | None) -> None:
    catalog.ensure_table(ctx.spark, TABLE, ctx.cfg)
    if transactions is None:
        return
    apply_scd2(ctx, TABLE, "customer_id", ATTRIBUTES, "customer_sk", delivered(transactions))
