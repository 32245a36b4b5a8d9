"""The hourly job and its parts: ingest new files → silver → gold → tidy, logged in ``ops.job_runs``.

`qlake run hourly`, `run silver`, `run gold` and the scheduler run these; they print what happened through the
``echo`` they are given (the command line passes ``click.echo``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from bronze import delivery
from bronze import ingest as bronze_ingest
from gold import job as gold_job
from jobs import pending
from jobs.runs import Echo, exclusive_run, locked_run
from qlake import catalog, gx_client, maintenance, ops, runlog, spark
from qlake.config import Settings
from qlake.profile import phase
from qlake.quality_gx import Validator
from silver import job as silver_job
from silver.backfill import NotCombinable

# A backfill's silver pass takes consecutive groups up to this many delivered rows: its memory stays that of
# a large hour (the 550,000-row group of bench/ stays under 2 GiB).
PASS_ROWS = 250_000


def ingest_paths(session, cfg: Settings, paths, echo: Echo) -> bronze_ingest.IngestReport:
    """Land ``paths`` in bronze, a line per file."""
    report = bronze_ingest.ingest(session, cfg, paths, on_file=lambda outcome: echo(outcome.line()))
    _echo_summary(report, echo)
    return report


def _echo_summary(report: bronze_ingest.IngestReport, echo: Echo) -> None:
    for warning in report.warnings:
        echo(f"WARNING {warning}")
    echo(f"bronze: {report.rows_added} rows added; {len(report.rejected)} file(s) rejected")


def build_silver(session, cfg: Settings, echo: Echo, validator: Validator | None = None,
                 defer_quality: bool = False, **scope) -> silver_job.SilverReport:
    """bronze → silver once (raises DataQualityFailure / AccountingError when a batch may not land). ``scope``:
    the groups of a backfill pass (``group_of``) or the files left for a later run (``held_back``)."""
    report = silver_job.run(session, cfg, validator=validator, defer_quality=defer_quality, **scope)
    for line in report.lines():
        echo(line)
    return report


def build_gold(session, cfg: Settings, echo: Echo) -> gold_job.GoldReport:
    """silver → gold once: the star schema and the marketing aggregates from the new facts."""
    report = gold_job.run(session, cfg)
    for line in report.lines():
        echo(line)
    return report


def backfill_silver(session, cfg: Settings, echo: Echo, validator: Validator,
                    files: list[dict[str, int]]) -> Iterator[silver_job.SilverReport]:
    """Silver for a backfill's groups (``files``: each group's landed file hashes and rows, in delivery order):
    consecutive groups of up to :data:`PASS_ROWS` rows in one pass each, each row judged as of its own group. A
    pass that could end otherwise than one run per group stops before writing (:mod:`silver.backfill`): the
    groups before the one it names become a pass, and the next pass starts with that group. Each run sees only
    its own groups' files (and files left over from earlier runs, as the first group would)."""
    start, limit = 0, len(files)
    while start < len(files):
        end = start + 1
        rows = sum(files[start].values())
        while end < min(len(files), start + limit) and rows + sum(files[end].values()) <= PASS_ROWS:
            rows += sum(files[end].values())
            end += 1
        held_back = frozenset(sha for group in files[end:] for sha in group)
        group_of = {sha: n for n, group in enumerate(files[start:end], start=1) for sha in group}
        try:
            with phase("silver"):
                report = build_silver(session, cfg, echo, validator, defer_quality=True, held_back=held_back,
                                      group_of=group_of if end - start > 1 else None)
        except NotCombinable as why:
            echo(f"silver: group {start + why.group} starts a new pass: {why}")
            limit = max(why.group - 1, 1)  # the groups before it, or that group alone
            continue
        if end - start > 1:
            echo(f"silver: groups {start + 1}-{end} in one pass")
        yield report
        start, limit = end, len(files)


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

    A drop folder holding several pending delivery groups (a backfill after an outage) is processed in delivery
    order, in this one session and one logged run: every group is ingested (its own batch and delivery times),
    then silver takes consecutive groups in one pass, each row judged as of its own group, and starts a new pass
    where one pass could differ from one run per group (:func:`backfill_silver`; a bad hour fails as it would
    alone), and gold is built once at the end from all the new silver rows. Gold reads silver past its watermark
    and upserts by key, so one build over 24 hours of silver gives the tables 24 builds would
    (tests/test_hourly_runs.py and tests/test_backfill.py prove it). Great Expectations validates each silver
    run's batches in its resident process meanwhile (:mod:`qlake.gx_client`); the run waits for it (and stores
    its results) after gold and the tidy, so GX's validations and Data Docs overlap with the writes.
    One run at a time: if another process runs it, this one is recorded as skipped and does nothing.
    """
    groups = (delivery.delivery_groups(incoming) if incoming else []) or [None]
    validator = Validator(cfg)

    def warm_up() -> None:  # what the run will need, on a thread and a process of their own while it starts
        gx_client.start_ahead(cfg)
        catalog.list_ahead(session)

    with exclusive_run(session, cfg, "hourly", echo, on_acquired=warm_up) as record:
        if record is None:
            return 0
        rejected = 0
        silver_runs: list[silver_job.SilverReport] = []
        try:
            if len(groups) == 1:
                if groups[0] is not None:
                    with phase("ingest"):
                        rejected += len(ingest_paths(session, cfg, groups[0], echo).rejected)
                with phase("silver"):
                    runs = [build_silver(session, cfg, echo, validator, defer_quality=True)]
            else:
                with phase("ingest"):
                    reports = bronze_ingest.ingest_groups(session, cfg, groups,
                                                          on_file=lambda outcome: echo(outcome.line()),
                                                          on_group=lambda report: _echo_summary(report, echo))
                rejected += sum(len(report.rejected) for report in reports)
                runs = backfill_silver(session, cfg, echo, validator, [report.landed for report in reports])
            for silver_run in runs:
                silver_runs.append(silver_run)
                record.add(silver_run.rows_in, silver_run.rows_out, silver_run.quarantined)
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
        with phase("tidy"):  # while GX's process finishes the batches' Data Docs
            # Only a table this run wrote can have crossed a threshold (`run daily` tidies every table): those
            # written so far, and the two it writes after this (past runs' files, else one more every hour).
            written = runlog.written_since(session, cfg, record.versions_before).keys() | {
                ops.DQ_RESULTS.name, runlog.JOB_RUNS.name}
            for line in maintenance.tidy(cfg, sorted(written)):
                echo(f"maintenance: {line}")
        with phase("data quality results (GX)"):
            for silver_run in silver_runs:
                silver_run.finish_quality()
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
    gx_client.start_ahead(cfg)  # a worker not yet running starts (and imports GX) while the engine starts
    with phase("engine start"):
        session = spark.session(cfg)
    return hourly(session, cfg, incoming, echo)
