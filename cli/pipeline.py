"""`qlake ingest`, `qlake run silver|gold|hourly|daily`, `qlake replay`, `qlake schedule`: parse, call the job."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bronze import ingest as bronze_ingest
from cli.output import console, err_console, print_rows
from jobs import daily, hourly, replay
from jobs.runs import USER_ERRORS
from qlake import profile, schedule, spark
from qlake.config import settings


@contextmanager
def user_errors() -> Iterator[None]:
    """A job's refusal (lock held, a batch that failed its checks) is printed as its message, exit 1."""
    try:
        yield
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None


@click.command("ingest")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@click.option("--watch", "watch_dir", type=click.Path(exists=True, file_okay=False),
              help="poll this drop folder and ingest files as they arrive")
@click.option("--interval", default=30.0, show_default=True, help="seconds between polls (--watch)")
@click.option("--once", is_flag=True, help="with --watch: poll once and exit")
@click.option("--json", "as_json", is_flag=True, help="print a JSON report instead of lines")
def ingest_cmd(paths: tuple[str, ...], watch_dir: str | None, interval: float, once: bool, as_json: bool) -> None:
    """Land delivered CSV files (files or group folders) in the bronze tables.

    Exits 1 when a file was rejected (it is in quarantine/ and bronze.rejected_files with its reason).
    """
    if not paths and not watch_dir:
        raise click.UsageError("give files/folders to ingest, or --watch DIR")
    cfg = settings()
    session = spark.session(cfg)
    printer = None if as_json else (lambda outcome: click.echo(outcome.line()))
    if watch_dir:
        reports = bronze_ingest.watch(session, cfg, watch_dir, interval=interval, once=once, on_file=printer)
    else:
        reports = [_with_progress(lambda cb: bronze_ingest.ingest(session, cfg, paths, on_file=cb), printer,
                                  total=len(bronze_ingest.discover(paths)), quiet=as_json)]
    rejected = sum(len(r.rejected) for r in reports)
    for warning in (w for r in reports for w in r.warnings):
        if not as_json:
            click.echo(f"WARNING {warning}")
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in reports], default=str))
    else:
        added = sum(r.rows_added for r in reports)
        click.echo(f"bronze: {added} rows added; {rejected} file(s) rejected")
    if rejected:
        sys.exit(1)


def _with_progress(run, printer, total: int, quiet: bool):
    """Run ``run(on_file)`` with a rich progress bar on a terminal; plain lines otherwise."""
    if quiet or not console.is_terminal or total < 2:
        return run(printer)
    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("files", total=total)

        def on_file(outcome):
            progress.console.print(outcome.line())
            progress.advance(task)

        return run(on_file)


@click.group("run")
def run_group() -> None:
    """Run pipeline jobs (each only on new data; safe to re-run)."""


@run_group.command("silver")
def run_silver_cmd() -> None:
    """bronze → silver: clean, deduplicate, validate (GX), quarantine."""
    with user_errors():
        hourly.run_silver(settings(), click.echo)


@run_group.command("gold")
def run_gold_cmd() -> None:
    """silver → gold: star schema and marketing aggregates."""
    with user_errors():
        hourly.run_gold(settings(), click.echo)


@run_group.command("hourly")
@click.option("--incoming", type=click.Path(exists=True), help="ingest new files from this file/folder first")
@click.option("--profile", "show_profile", is_flag=True, help="print where the run's time went, per phase")
def run_hourly_cmd(incoming: str | None, show_profile: bool) -> None:
    """ingest new files → silver → gold → marketing. Exits 1 if a file was rejected (the rest still ran).

    A drop folder with several pending groups (after an outage) is ingested group by group, oldest first, and
    validated into silver in passes over consecutive groups, in one process. An hour with nothing new returns
    before the engine starts (the manifests say so)."""
    cfg = settings()
    if show_profile:
        profile.start()
    try:
        with user_errors():
            rejected = hourly.run_hourly(cfg, incoming, click.echo)
        if rejected:
            sys.exit(1)
    finally:
        if show_profile:
            for line in profile.active().lines():
                err_console.print(line, highlight=False, markup=False)


@run_group.command("daily")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="business date to export (default: yesterday)")
@click.option("--retention-hours", default=168, show_default=True, help="vacuum files older than this")
def run_daily_cmd(day: datetime | None, retention_hours: int) -> None:
    """B2B export for a date + Delta maintenance (compaction and vacuum through deltalake)."""
    business_date = day.date() if day else date.today() - timedelta(days=1)
    daily.run_daily(settings(), business_date, click.echo, retention_hours)


@click.command("replay")
@click.option("--from-bronze", "from_bronze", is_flag=True, required=True, help="rebuild silver and gold from bronze")
@click.option("--table", "tables", multiple=True, help="compare only these tables (all are rebuilt)")
def replay_cmd(from_bronze: bool, tables: tuple[str, ...]) -> None:
    """Rebuild silver + gold from bronze and prove the result equals the incremental build (exit 1 if not)."""
    with user_errors():
        diffs = replay.run_replay(settings(), list(tables) or None)
    print_rows(["table", "rows before", "rows after", "only before", "only after", "equal"],
               [[d.table, d.rows_before, d.rows_after, d.only_before, d.only_after, "yes" if d.equal else "NO"]
                for d in diffs], title="replay from bronze vs incremental")
    if not all(d.equal for d in diffs):
        sys.exit(1)


@click.command("schedule")
@click.option("--job", "selected", multiple=True, type=click.Choice(["hourly", "daily", "stream-compact"]),
              help="only these jobs")
def schedule_cmd(selected: tuple[str, ...]) -> None:
    """Run `run hourly` (ingesting QLAKE_INCOMING), `run daily` and `stream compact` on their cron schedules until
    stopped."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    schedule.run_scheduler(settings(), selected=list(selected) or None)
