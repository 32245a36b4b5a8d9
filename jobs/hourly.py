"""The hourly job and its parts: ingest new files → silver → gold → tidy, logged in ``ops.job_runs``.

`qlake run hourly`, `run silver`, `run gold` and the scheduler run these; they print what happened through the
``echo`` they are given (the command line passes ``click.echo``).
"""

from __future__ import annotations

import contextlib

from bronze import delivery
from bronze import ingest as bronze_ingest
from gold import job as gold_job
from jobs import pending
from jobs.runs import Echo, exclusive_run, locked_run
from qlake import catalog, maintenance, spark
from qlake.config import Settings
from qlake.profile import phase
from qlake.quality_gx import Validator
from silver import job as silver_job


def ingest_paths(session, cfg: Settings, paths, echo: Echo) -> int:
    """Land ``paths`` in bronze, a line per file; returns the number of rejected files."""
    report = bronze_ingest.ingest(session, cfg, paths, on_file=lambda outcome: echo(outcome.line()))
    for warning in report.warnings:
        echo(f"WARNING {warning}")
    echo(f"bronze: {report.rows_added} rows added; {len(report.rejected)} file(s) rejected")
    return len(report.rejected)


def build_silver(session, cfg: Settings, echo: Echo, validator: Validator | None = None,
                 defer_quality: bool = False) -> silver_job.SilverReport:
    """bronze → silver once (raises DataQualityFailure / AccountingError when a batch may not land)."""
    report = silver_job.run(session, cfg, validator=validator, defer_quality=defer_quality)
    for line in report.lines():
        echo(line)
    return report


def build_gold(session, cfg: Settings, echo: Echo) -> gold_job.GoldReport:
    """silver → gold once: the star schema and the marketing aggregates from the new facts."""
    report = gold_job.run(session, cfg)
    for line in report.lines():
        echo(line)
    return report


def run_silver(cfg: Settings, echo: Echo) -> None:
    """`qlake run silver`: silver alone, under the pipeline lock, logged."""
    with locked_run(cfg, "silver") as (session, record):
        report = build_silver(session, cfg, echo)
        record.add(report.rows_in, report.rows_out, report.quarantined)


def run_gold(cfg: Settings, echo: Echo) -> None:
    """`qlake run gold`: gold alone, under the pipeline lock, logged."""
    with locked_run(cfg, "gold") as (session, record):
        report = build_gold(session, cfg, echo)
        record.add(report.fact_rows_in, report.fact_rows_in)
        record.rows_written["gold.fact_sales"] = report.fact_rows_in


def hourly(session, cfg: Settings, incoming: str | None, echo: Echo) -> int:
    """ingest → silver → gold, logged in ops.job_runs; returns the number of rejected files.

    A drop folder holding several pending delivery groups (a backfill after an outage) is processed group by
    group in delivery order, in this one session and one logged run: each group is ingested and validated into
    silver on its own (a bad hour fails as it would alone, its DQ results are its own), and gold is built once
    at the end from all the new silver rows. Gold reads silver past its watermark and upserts by key, so one
    build over 24 hours of silver gives the tables 24 builds would (tests/test_hourly_runs.py proves it).
    Great Expectations validates each group's batches on its own thread meanwhile; the run waits for it (and
    stores its results) after gold, so GX's import and validations overlap with the writes.
    One run at a time: if another process runs it, this one is recorded as skipped and does nothing.
    """
    groups = (delivery.delivery_groups(incoming) if incoming else []) or [None]
    validator = Validator(cfg)
    with exclusive_run(session, cfg, "hourly", echo, on_acquired=validator.warm_up) as record:
        if record is None:
            return 0
        rejected = 0
        silver_runs: list[silver_job.SilverReport] = []
        try:
            for group in groups:
                if group is not None:
                    with phase("ingest"):
                        rejected += ingest_paths(session, cfg, group, echo)
                with phase("silver"):
                    silver_runs.append(build_silver(session, cfg, echo, validator, defer_quality=True))
                record.add(silver_runs[-1].rows_in, silver_runs[-1].rows_out, silver_runs[-1].quarantined)
        except Exception:
            # What silver accepted before the failing group still reaches gold; the failure stays the run's error.
            if record.rows_out:
                with contextlib.suppress(Exception):
                    _gold_into(session, cfg, echo, record)
            for silver_run in silver_runs:
                with contextlib.suppress(Exception):
                    silver_run.finish_quality()
            raise
        _gold_into(session, cfg, echo, record)
        with phase("data quality results (GX)"):
            for silver_run in silver_runs:
                silver_run.finish_quality()
        with phase("tidy"):
            for line in maintenance.tidy(cfg, catalog.lake_tables(session, cfg)):
                echo(f"maintenance: {line}")
        if rejected:
            record.error = f"{rejected} file(s) rejected: see bronze.rejected_files"
        return rejected


def _gold_into(session, cfg: Settings, echo: Echo, record) -> None:
    with phase("gold"):
        gold_report = build_gold(session, cfg, echo)
    record.rows_written["gold.fact_sales"] = record.rows_written.get("gold.fact_sales", 0) + gold_report.fact_rows_in


def run_hourly(cfg: Settings, incoming: str | None, echo: Echo) -> int:
    """`qlake run hourly`: an hour with nothing new returns before the engine starts (the manifests say so);
    otherwise :func:`hourly` on the process's session. Returns the number of rejected files."""
    with phase("check for new work (Delta logs, no engine)"):
        idle = pending.record_if_idle(cfg, incoming)
    if idle:
        echo(idle)
        return 0
    with phase("engine start"):
        session = spark.session(cfg)
    return hourly(session, cfg, incoming, echo)
