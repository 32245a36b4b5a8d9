"""`qlake export b2b`, `qlake dq report`, `qlake report marketing|stream`: files and pages for people."""

from __future__ import annotations

import webbrowser
from datetime import date, datetime, timedelta

import click

from cli.output import print_rows
from gold import b2b_export, reports
from qlake import dq_report, gx_store, spark
from qlake.config import settings
from cli import stream as stream_commands


@click.group("export")
def export_group() -> None:
    """Files for people outside the lake."""


@export_group.command("b2b")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="one business date (default: yesterday)")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="first date of a range")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="last date of a range (inclusive)")
def export_b2b_cmd(day: datetime | None, start: datetime | None, end: datetime | None) -> None:
    """One CSV per business date: sales_agent_name,product_name,total_sold_units (offline sales)."""
    if (start is None) != (end is None):
        raise click.UsageError("--from and --to go together")
    if day and start:
        raise click.UsageError("use --date or --from/--to, not both")
    cfg = settings()
    session = spark.session(cfg)
    if start:
        days = [start.date() + timedelta(days=i) for i in range((end.date() - start.date()).days + 1)]
    else:
        days = [day.date() if day else date.today() - timedelta(days=1)]
    for business_date in days:
        click.echo(b2b_export.export(session, cfg, business_date).line())


@click.group("dq")
def dq_group() -> None:
    """Data-quality results."""


@dq_group.command("report")
@click.option("--run", "run_id", help="a silver run id (default: the latest run)")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--last", default=20, show_default=True, help="runs in the per-rule trend chart")
@click.option("--open", "open_browser", is_flag=True, help="open the HTML report in a browser")
@click.option("--serve", is_flag=True, help="serve the report and Data Docs on 127.0.0.1 until Ctrl-C")
@click.option("--port", default=8790, show_default=True, help="port for --serve (0: any free port)")
def dq_report_cmd(run_id: str | None, fmt: str, last: int, open_browser: bool, serve: bool, port: int) -> None:
    """Per-rule counts of a run; writes the HTML report (every run, trend chart) beside Data Docs."""
    cfg = settings()
    session = spark.session(cfg)
    try:
        run_id, rows = dq_report.run_results(session, cfg, run_id)
    except dq_report.NoResults as exc:
        raise click.ClickException(str(exc)) from None
    print_rows(["table", "rule", "action", "evaluated", "failed", "ok", "examples"],
               [[r["table_name"], r["rule"], r["action"], r["evaluated"], r["failed"],
                 "yes" if r["success"] else "NO", r["examples"]] for r in rows], fmt, title=f"DQ run {run_id}")
    files = dq_report.build(session, cfg, last=last)
    if fmt == "table":
        click.echo(f"Data Docs: {gx_store.site_dir(cfg) / 'index.html'}")
        click.echo(f"DQ report: {files.index} ({files.runs} runs)")
        click.echo(f"DQ trend chart: {files.trend_chart}")
    if open_browser and not webbrowser.open(files.index.as_uri()):
        click.echo(f"no browser found here: open {files.index.as_uri()}")
    if serve:
        spark.stop()  # serving static files needs no engine
        dq_report.serve(cfg, port, on_ready=click.echo)


@click.group("report")
def report_group() -> None:
    """Reports for people."""


@report_group.command("marketing")
@click.option("--top", default=10, show_default=True, help="rows per report")
@click.option("--no-charts", is_flag=True, help="skip the PNG charts")
def report_marketing_cmd(top: int, no_charts: bool) -> None:
    """Print the marketing aggregates and write a PNG chart per report under $QLAKE_HOME/reports/."""
    cfg = settings()
    session = spark.session(cfg)
    for report in reports.marketing(session, top):
        print_rows(report.columns, report.rows, title=report.title)
        if not no_charts:
            click.echo(f"chart: {reports.chart(report, cfg)}")


report_group.add_command(stream_commands.report_stream, "stream")
