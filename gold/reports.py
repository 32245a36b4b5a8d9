"""Marketing reports read from the gold aggregates: rows to print and a PNG chart each (notebooks reuse these)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from gold import mkt_offer_redemptions, mkt_online_sales_by_city, mkt_top_products
from qlake import catalog
from qlake.config import Settings


@dataclass
class Report:
    name: str
    title: str
    columns: list[str]
    rows: list[list]
    label_column: str
    value_column: str


def marketing(spark: SparkSession, top: int = 10) -> list[Report]:
    products = (
        catalog.read(spark, mkt_top_products.TABLE).where(F.col("period") == "ALL")
        .orderBy(F.col("rank_by_units"), F.col("revenue").desc()).limit(top)
        .select("rank_by_units", "product_id", "product_name", "units", "revenue").collect()
    )
    offers = (
        catalog.read(spark, mkt_offer_redemptions.TABLE).where(F.col("scope") == "ALL").orderBy("rank_in_scope", "offer_key")
        .select("rank_in_scope", "offer_name", "redemptions", "units", "discount_given").collect()
    )
    per_product = (
        catalog.read(spark, mkt_offer_redemptions.TABLE).where((F.col("scope") != "ALL") & (F.col("rank_in_scope") == 1))
        .orderBy(F.col("redemptions").desc(), F.col("product_id")).limit(top)
        .select("product_id", "product_name", "offer_name", "redemptions").collect()
    )
    cities = (
        catalog.read(spark, mkt_online_sales_by_city.TABLE).orderBy("rank_lowest_revenue", "shipping_city").limit(top)
        .select("rank_lowest_revenue", "shipping_city", "shipping_state", "online_revenue", "orders").collect()
    )
    return [
        Report("top_products", "Most selling products (units, all time)",
               ["rank", "product_id", "product", "units", "revenue"], [list(r) for r in products], "product", "units"),
        Report("offer_redemptions", "Most redeemed offers",
               ["rank", "offer", "redemptions", "units", "discount_given"], [list(r) for r in offers], "offer",
               "redemptions"),
        Report("top_offer_per_product", "Most redeemed offer per product",
               ["product_id", "product", "offer", "redemptions"], [list(r) for r in per_product], "product",
               "redemptions"),
        Report("lowest_online_cities", "Cities with the lowest online sales",
               ["rank", "city", "state", "online_revenue", "orders"], [list(r) for r in cities], "city",
               "online_revenue"),
    ]


def chart(report: Report, cfg: Settings) -> Path:
    """A horizontal bar chart of the report as PNG under reports/ (headless backend)."""
    # Heavy (about a second of imports) and only charts need it: loaded here, not with the module.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    label_idx = report.columns.index(report.label_column)
    value_idx = report.columns.index(report.value_column)
    labels = [f"{r[label_idx]}" + (f" ({r[label_idx + 1]})" if report.label_column == "city" else "")
              for r in report.rows]
    values = [float(r[value_idx]) for r in report.rows]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.4 * len(labels) + 1)))
    ax.barh(labels[::-1], values[::-1], color="#2b6cb0")
    ax.set_title(report.title)
    ax.set_xlabel(report.value_column)
    fig.tight_layout()
    path = Path(cfg.reports_dir, f"{report.name}.png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
