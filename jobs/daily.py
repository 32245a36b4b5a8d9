"""The daily job: the B2B export of a business date, then Delta maintenance of every table."""

from __future__ import annotations

from datetime import date

from gold import b2b_export
from jobs.runs import Echo, exclusive_run
from qlake import catalog, maintenance, spark
from qlake.config import Settings


def daily(session, cfg: Settings, business_date: date, echo: Echo, retention_hours: int = 168) -> None:
    """Export ``business_date`` and compact + vacuum every table, logged in ops.job_runs (one run at a time)."""
    with exclusive_run(session, cfg, "daily", echo) as record:
        if record is None:
            return
        result = b2b_export.export(session, cfg, business_date)
        echo(result.line())
        record.add(rows_out=result.rows)
        record.files_out.append(result.path)
        record.tables_in.extend(b2b_export.SOURCES)
        for table in catalog.all_tables(session):
            stats = maintenance.maintain(cfg, table, retention_hours)
            echo(" ".join(f"{k}={v}" for k, v in stats.items()))


def run_daily(cfg: Settings, business_date: date, echo: Echo, retention_hours: int = 168) -> None:
    daily(spark.session(cfg), cfg, business_date, echo, retention_hours)
