"""What the stream job writes, in write order: its Delta tables and the live reports that feed three of them."""

from __future__ import annotations

from qlake.catalog import TableSpec
from streaming import app_events, funnel, revenue, top_products
from streaming.windows import Report


def tables() -> tuple[TableSpec, ...]:
    return (app_events.BRONZE, app_events.REJECTED, app_events.SILVER, funnel.TABLE, top_products.TABLE, revenue.TABLE)


def reports() -> tuple[Report, ...]:
    return (funnel.REPORT, top_products.REPORT, revenue.REPORT)
