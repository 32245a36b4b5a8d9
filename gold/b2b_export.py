"""The daily B2B file for the sales team (grain: business date × agent × product).

`b2b_sales_YYYYMMDD.csv` with `sales_agent_name,product_name,total_sold_units` for offline sales of that date,
the agent's name as valid that day, sorted, written under a temp name and renamed into place, so readers never
see half a file and a re-run produces the same bytes. No customer data leaves the lake this way.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from gold import dim_date, dim_product, dim_sales_agent, fact_sales
from qlake import catalog, storage
from qlake.config import Settings

HEADER = ("sales_agent_name", "product_name", "total_sold_units")
# The tables the file is built from (the daily run's OpenLineage inputs).
SOURCES = (fact_sales.TABLE.name, dim_sales_agent.TABLE.name, dim_product.TABLE.name)


@dataclass
class ExportResult:
    business_date: date
    path: Path
    rows: int

    def line(self) -> str:
        if not self.rows:
            return f"WARNING {self.business_date}: no offline sales; wrote a header-only file {self.path}"
        return f"{self.business_date}: {self.rows} rows -> {self.path}"


def build(spark: SparkSession, business_date: date) -> DataFrame:
    facts = catalog.read(spark, fact_sales.TABLE).where(
        (F.col("date_key") == int(business_date.strftime("%Y%m%d"))) & ~F.col("is_online")
    )
    agents = catalog.read(spark, dim_sales_agent.TABLE).select("sales_agent_key", "sales_agent_name")
    products = catalog.read(spark, dim_product.TABLE).select("product_key", "product_name")
    return (
        facts.join(agents, on="sales_agent_key", how="inner")
        .join(products, on="product_key", how="inner")
        .groupBy("sales_agent_name", "product_name")
        .agg(F.sum("units").cast("bigint").alias("total_sold_units"))
        .select(*HEADER)
    )


def file_path(cfg: Settings, business_date: date) -> Path:
    return Path(cfg.exports_dir, "b2b", f"b2b_sales_{business_date:%Y%m%d}.csv")


def export(spark: SparkSession, cfg: Settings, business_date: date) -> ExportResult:
    rows = sorted((r["sales_agent_name"], r["product_name"], int(r["total_sold_units"]))
                  for r in build(spark, business_date).collect())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path = file_path(cfg, business_date)
    storage.write_text_atomic(path, buffer.getvalue())
    return ExportResult(business_date, path, len(rows))


def dates_with_sales(spark: SparkSession, start: date, end: date) -> list[date]:
    keys = catalog.read(spark, dim_date.TABLE).where(F.col("date").between(start, end)).select("date").collect()
    return sorted(r["date"] for r in keys)
