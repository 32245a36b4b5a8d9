"""`qlake run silver|gold|hourly|daily`, `qlake replay`: parse, call the job."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta

import click

from cli.output import err_console, print_rows
from jobs import daily, hourly, replay
from jobs.runs import USER_ERRORS
from qlake import profile
from qlake.config import settings


@contextmanager
def user_errors() -> Iterator[None]:
    """A job's refusal (lock held, a batch that failed its checks) is printed as its message, exit 1."""
    try:
        yield
    except USER_ERRORS as exc:
        raise click.ClickException(str(exc)) from None


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
