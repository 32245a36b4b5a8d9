"""`qlake ingest`: land delivered files in bronze (a progress bar on a terminal). Its own module, so `qlake run
hourly` does not import the progress bar."""

from __future__ import annotations

import json
import sys

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from bronze import ingest as bronze_ingest
from cli.output import console
from qlake import spark
from qlake.config import settings


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
