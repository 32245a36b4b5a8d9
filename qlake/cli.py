"""The ``qlake`` command line. It only wires: parse options, call a layer's job, print what happened."""

from __future__ import annotations

import csv
import json
import sys
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from decimal import Decimal

import click
from rich.console import Console
from rich.table import Table

from qlake import profile, services
from qlake.config import settings
from qlake.profile import phase

console = Console()
err_console = Console(stderr=True)


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def print_rows(columns: list[str], rows: list[list], fmt: str = "table", title: str | None = None) -> None:
    if fmt == "json":
        click.echo(json.dumps([{c: _jsonable(v) for c, v in zip(columns, row)} for row in rows], indent=None))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
    else:
        table = Table(title=title, show_lines=False)
        for c in columns:
            table.add_column(c, overflow="fold")
        for row in rows:
            table.add_row(*["NULL" if v is None else str(v) for v in row])
        console.print(table)


@click.group()
@click.version_option(package_name="qlake")
def main() -> None:
    """qlake — Q Company's lakehouse: hourly CSV groups and app events into bronze/silver/gold Delta tables."""
    try:
        settings()  # a wrong setting is reported as such, before any command starts a service
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


# ---- services -----------------------------------------------------------------------------------------------------
@main.group("services")
def services_group() -> None:
    """Start, stop and inspect the local services (Hive metastore, Kafka-protocol broker)."""


@services_group.command("up")
def services_up() -> None:
    """Start every service qlake manages (idempotent)."""
    try:
        for line in services.up(settings()):
            click.echo(line)
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None


@services_group.command("down")
def services_down() -> None:
    """Stop the services qlake started (by PID)."""
    for line in services.down(settings()):
        click.echo(line)


@services_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def services_status(as_json: bool) -> None:
    """Show each service's PID, port and log file."""
    rows = services.status(settings())
    if as_json:
        click.echo(json.dumps(rows))
        return
    print_rows(["service", "pid", "port", "listening", "log"], [list(r.values()) for r in rows])


# ---- data generator -----------------------------------------------------------------------------------------------
@main.command("generate")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False), help="folder for group1..N")
@click.option("--groups", default=3, show_default=True, type=click.IntRange(1))
@click.option("--rows", default=1500, show_default=True, type=click.IntRange(1), help="transactions per group")
@click.option("--seed", default=42, show_default=True, type=int)
@click.option("--start-group", default=1, show_default=True, type=click.IntRange(1))
@click.option("--no-redeliver", is_flag=True, help="do not make the last group a re-delivery of group 1")
def generate_cmd(out_dir: str, groups: int, rows: int, seed: int, start_group: int, no_redeliver: bool) -> None:
    """Write deterministic hourly delivery groups with every kind of dirt the real files have."""
    from qlake.generate import generate

    for folder in generate(out_dir, groups=groups, rows=rows, seed=seed, redeliver=not no_redeliver,
                           start_group=start_group):
        click.echo(str(folder))


# ---- bronze ingestion ---------------------------------------------------------------------------------------------
@main.command("ingest")
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
    from bronze import ingest as bronze_ingest
    from qlake import spark

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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]ingest"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console) as progress:
        task = progress.add_task("files", total=total)

        def on_file(outcome):
            progress.console.print(outcome.line())
            progress.advance(task)

        return run(on_file)


# ---- jobs -------------------------------------------------------------------------------------------------------
def _fail(message: str) -> None:
    raise click.ClickException(message)


def run_silver(session, cfg) -> "object":
    from qlake.quality import DataQualityFailure
    from silver import job as silver_job
    from silver.pipeline import AccountingError

    try:
        report = silver_job.run(session, cfg)
    except (DataQualityFailure, AccountingError) as exc:
        _fail(str(exc))
    for line in report.lines():
        click.echo(line)
    return report


def run_gold(session, cfg) -> "object":
    from gold import job as gold_job

    report = gold_job.run(session, cfg)
    for line in report.lines():
        click.echo(line)
    return report


def run_ingest(session, cfg, paths) -> int:
    from bronze import ingest as bronze_ingest

    report = bronze_ingest.ingest(session, cfg, paths, on_file=lambda o: click.echo(o.line()))
    for warning in report.warnings:
        click.echo(f"WARNING {warning}")
    click.echo(f"bronze: {report.rows_added} rows added; {len(report.rejected)} file(s) rejected")
    return len(report.rejected)


@main.group("run")
def run_group() -> None:
    """Run pipeline jobs (each only on new data; safe to re-run)."""


@run_group.command("silver")
def run_silver_cmd() -> None:
    """bronze → silver: clean, deduplicate, validate (GX), quarantine."""
    from qlake import runlog, spark

    cfg = settings()
    with _pipeline_lock(cfg, "silver"):
        session = spark.session(cfg)
        with runlog.recorded(session, cfg, "silver") as record:
            report = run_silver(session, cfg)
            record.add(report.rows_in, report.rows_out, report.quarantined)


@run_group.command("gold")
def run_gold_cmd() -> None:
    """silver → gold: star schema and marketing aggregates."""
    from qlake import runlog, spark

    cfg = settings()
    with _pipeline_lock(cfg, "gold"):
        session = spark.session(cfg)
        with runlog.recorded(session, cfg, "gold") as record:
            report = run_gold(session, cfg)
            record.add(report.fact_rows_in, report.fact_rows_in)
            record.rows_written["gold.fact_sales"] = report.fact_rows_in


@contextmanager
def _pipeline_lock(cfg, job: str):
    """Silver and gold have one writer at a time: `run hourly`, `run silver`, `run gold` and `replay` share the
    hourly job's lock (the jobs rely on it: e.g. a table created empty by this run has no rows to look up)."""
    from qlake import runlog

    with runlog.job_lock(cfg, "hourly") as acquired:
        if not acquired:
            raise click.ClickException(f"{job}: an hourly run (or another silver/gold/replay run) is in progress; "
                                       "run it again when that ends")
        yield


def hourly(session, cfg, incoming: str | None) -> int:
    """ingest → silver → gold, logged in ops.job_runs; returns the number of rejected files.

    A drop folder holding several pending delivery groups (a backfill after an outage) is processed group by
    group in delivery order, in this one session and one logged run: the same tables as one run per group.
    One run at a time: if another process runs it, this one is recorded as skipped and does nothing.
    """
    from bronze import delivery

    groups = (delivery.delivery_groups(incoming) if incoming else []) or [None]
    from qlake import catalog, runlog
    from silver import job as silver_job

    with runlog.exclusive(session, cfg, "hourly") as acquired:
        if not acquired:
            click.echo("hourly: skipped, the previous run is still in progress")
            return 0
        silver_job.preload()
        with runlog.recorded(session, cfg, "hourly") as record:
            rejected = 0
            for group in groups:
                if group is not None:
                    with phase("ingest"):
                        rejected += run_ingest(session, cfg, group)
                with phase("silver"):
                    silver = run_silver(session, cfg)
                with phase("gold"):
                    gold = run_gold(session, cfg)
                record.rows_written["gold.fact_sales"] = (record.rows_written.get("gold.fact_sales", 0)
                                                          + gold.fact_rows_in)
                record.add(silver.rows_in, silver.rows_out, silver.quarantined)
            with phase("tidy"):
                for line in catalog.tidy(cfg, catalog.lake_tables(session, cfg)):
                    click.echo(f"maintenance: {line}")
            if rejected:
                record.error = f"{rejected} file(s) rejected: see bronze.rejected_files"
        return rejected


@run_group.command("hourly")
@click.option("--incoming", type=click.Path(exists=True), help="ingest new files from this file/folder first")
@click.option("--profile", "show_profile", is_flag=True, help="print where the run's time went, per phase")
def run_hourly_cmd(incoming: str | None, show_profile: bool) -> None:
    """ingest new files → silver → gold → marketing. Exits 1 if a file was rejected (the rest still ran).

    A drop folder with several pending groups (after an outage) is processed group by group, oldest first, in
    one process. An hour with nothing new returns before the engine starts (the manifests say so)."""
    from jobs import pending
    from qlake import spark

    cfg = settings()
    if show_profile:
        profile.start()
    try:
        with phase("check for new work (Delta logs, no engine)"):
            idle = pending.record_if_idle(cfg, incoming)
        if idle:
            click.echo(idle)
            return
        with phase("engine start"):
            session = spark.session(cfg)
        if hourly(session, cfg, incoming):
            sys.exit(1)
    finally:
        if show_profile:
            for line in profile.active().lines():
                err_console.print(line, highlight=False, markup=False)


def daily(session, cfg, business_date: date, retention_hours: int = 168) -> None:
    from gold import b2b_export
    from qlake import catalog, runlog

    with runlog.exclusive(session, cfg, "daily") as acquired:
        if not acquired:
            click.echo("daily: skipped, the previous run is still in progress")
            return
        with runlog.recorded(session, cfg, "daily") as record:
            result = b2b_export.export(session, cfg, business_date)
            click.echo(result.line())
            record.add(rows_out=result.rows)
            record.files_out.append(result.path)
            record.tables_in.extend(b2b_export.SOURCES)
            for table in catalog.all_tables(session):
                stats = catalog.maintain(cfg, table, retention_hours)
                click.echo(" ".join(f"{k}={v}" for k, v in stats.items()))


@run_group.command("daily")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="business date to export (default: yesterday)")
@click.option("--retention-hours", default=168, show_default=True, help="vacuum files older than this")
def run_daily_cmd(day: datetime | None, retention_hours: int) -> None:
    """B2B export for a date + Delta maintenance (compaction and vacuum through deltalake)."""
    from qlake import spark

    cfg = settings()
    business_date = day.date() if day else date.today() - timedelta(days=1)
    daily(spark.session(cfg), cfg, business_date, retention_hours)


@main.command("replay")
@click.option("--from-bronze", "from_bronze", is_flag=True, required=True, help="rebuild silver and gold from bronze")
@click.option("--table", "tables", multiple=True, help="compare only these tables (all are rebuilt)")
def replay_cmd(from_bronze: bool, tables: tuple[str, ...]) -> None:
    """Rebuild silver + gold from bronze and prove the result equals the incremental build (exit 1 if not)."""
    from gold import replay
    from qlake import runlog, spark

    cfg = settings()
    with _pipeline_lock(cfg, "replay"):
        session = spark.session(cfg)
        with runlog.recorded(session, cfg, "replay"):
            diffs = replay.replay(session, cfg, list(tables) or None)
    print_rows(["table", "rows before", "rows after", "only before", "only after", "equal"],
               [[d.table, d.rows_before, d.rows_after, d.only_before, d.only_after, "yes" if d.equal else "NO"]
                for d in diffs], title="replay from bronze vs incremental")
    if not all(d.equal for d in diffs):
        sys.exit(1)


@main.command("schedule")
@click.option("--job", "selected", multiple=True, type=click.Choice(["hourly", "daily"]), help="only these jobs")
def schedule_cmd(selected: tuple[str, ...]) -> None:
    """Run `run hourly` (ingesting QLAKE_INCOMING) and `run daily` on their cron schedules until stopped."""
    import logging

    from qlake import schedule

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    schedule.run_scheduler(settings(), selected=list(selected) or None)


@main.command("status")
@click.option("--limit", default=5, show_default=True, help="runs per job")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(limit: int, as_json: bool) -> None:
    """The last runs of every job, with the error of any failure, and each table's freshness.

    Exits 2 when a table is stale (its last commit is older than its declared update interval): a health check.
    """
    from qlake import catalog, freshness, runlog

    cfg = settings()
    _declare_tables()
    try:
        fresh = freshness.check(cfg, catalog.declared_tables().values())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    stale = [f for f in fresh if f.is_stale]
    runs = runlog.last_runs(cfg)
    by_job: dict[str, list[dict]] = {}
    for run in runs:
        by_job.setdefault(run["job"], []).append(run)
    rows = [r for job in sorted(by_job) for r in by_job[job][-limit:]]
    if as_json:
        click.echo(json.dumps({"runs": rows, "freshness": [dict(zip(freshness.COLUMNS, f.row())) for f in fresh],
                               "stale": [f.table for f in stale]}, default=str))
    else:
        from qlake.spark import engine_description

        click.echo(f"engine: {engine_description(cfg)}")  # what this configuration runs the jobs on
        if rows:
            print_rows(["job", "run_id", "started_at", "ended_at", "status", "rows_in", "rows_out", "quarantined",
                        "error"],
                       [[r["job"], r["run_id"], r["started_at"], r["ended_at"], r["status"], r["rows_in"],
                         r["rows_out"], r["rows_quarantined"], r["error"]] for r in rows], title="job runs")
        else:
            click.echo("no job runs recorded yet")
        print_rows(freshness.COLUMNS, [f.row() for f in fresh], title="freshness")
        for f in stale:
            err_console.print(f"STALE {f.table}: last commit {f.row()[3]} ago, expected every {f.row()[1]}")
    if stale:
        sys.exit(2)


def _declare_tables() -> None:
    """Import every table module, so each table's contract (columns, lineage, update interval) is declared."""
    import importlib
    import pkgutil

    for package in ("bronze", "silver", "gold", "streaming"):
        for module in pkgutil.iter_modules(importlib.import_module(package).__path__):
            importlib.import_module(f"{package}.{module.name}")
    importlib.import_module("qlake.runlog")


@main.command("lineage")
@click.argument("target")
@click.option("--key", help="a key value of the table's grain (e.g. a transaction_id): the delivered file and row")
@click.option("--key-column", help="the column --key is matched on (default: the table's first column)")
@click.option("--json", "as_json", is_flag=True)
def lineage_cmd(target: str, key: str | None, key_column: str | None, as_json: bool) -> None:
    """Where TABLE[.COLUMN] comes from, down to the delivered (bronze) columns; with --key, the file and row."""
    from qlake import catalog, lineage

    _declare_tables()
    table = target if target in catalog.declared_tables() else lineage.split_column(target)[0]
    try:
        if key is not None:
            found = lineage.origin(settings(), table, key, key_column)
            if as_json:
                click.echo(json.dumps(found.__dict__, default=str))
                return
            click.echo(f"{found.table}.{found.key_column} = {found.key}")
            click.echo(f"  row lineage kept in {found.traced_through}")
            click.echo(f"  delivered file: {found.file_name} (sha256 {found.sha256})")
            click.echo(f"  landed at:      {found.source_file}")
            click.echo(f"  row number:     {found.row_number} (data row, header excluded)")
            if found.delivered_row:
                click.echo("  as delivered:   " + ", ".join(f"{k}={v}" for k, v in found.delivered_row.items()))
            return
        chains = {target: lineage.chain(target)} if table != target else lineage.table_chains(table)
    except lineage.LineageError as exc:
        raise click.ClickException(str(exc)) from None
    if as_json:
        click.echo(json.dumps({c: [s.__dict__ for s in steps] for c, steps in chains.items()}))
        return
    for steps in chains.values():
        for step in steps:
            note = "" if step.declared else "  (no declared source)"
            click.echo(f"{'  ' * step.depth}{'<- ' if step.depth else ''}{step.column}{note}")


# ---- exports and reports ------------------------------------------------------------------------------------------
@main.group("export")
def export_group() -> None:
    """Files for people outside the lake."""


@export_group.command("b2b")
@click.option("--date", "day", type=click.DateTime(["%Y-%m-%d"]), help="one business date (default: yesterday)")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), help="first date of a range")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), help="last date of a range (inclusive)")
def export_b2b_cmd(day: datetime | None, start: datetime | None, end: datetime | None) -> None:
    """One CSV per business date: sales_agent_name,product_name,total_sold_units (offline sales)."""
    from gold import b2b_export
    from qlake import spark

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


@main.group("dq")
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
    from pyspark.sql import functions as F

    from qlake import catalog, dq_report, ops, spark

    cfg = settings()
    session = spark.session(cfg)
    catalog.ensure_table(session, ops.DQ_RESULTS, cfg)
    results = session.table(ops.DQ_RESULTS.name)
    if not run_id:
        latest = results.agg(F.max_by("run_id", "checked_at").alias("r")).first()["r"]
        if latest is None:
            raise click.ClickException("no data-quality results yet: run `qlake run silver` first")
        run_id = latest
    rows = (
        results.where(F.col("run_id") == run_id)
        .select("table_name", "rule", "action", "evaluated", "failed", "success", "examples")
        .orderBy(F.col("success"), F.col("table_name"), F.col("rule"))
        .collect()
    )
    if not rows:
        raise click.ClickException(f"no results for run {run_id}")
    print_rows(["table", "rule", "action", "evaluated", "failed", "ok", "examples"],
               [[r["table_name"], r["rule"], r["action"], r["evaluated"], r["failed"],
                 "yes" if r["success"] else "NO", r["examples"]] for r in rows], fmt, title=f"DQ run {run_id}")
    files = dq_report.build(session, cfg, last=last)
    if fmt == "table":
        click.echo(f"Data Docs: {dq_report.docs_site(cfg) / 'index.html'}")
        click.echo(f"DQ report: {files.index} ({files.runs} runs)")
        click.echo(f"DQ trend chart: {files.trend_chart}")
    if open_browser:
        import webbrowser

        if not webbrowser.open(files.index.as_uri()):
            click.echo(f"no browser found here: open {files.index.as_uri()}")
    if serve:
        spark.stop()  # serving static files needs no engine
        dq_report.serve(cfg, port, on_ready=click.echo)


@main.group("report")
def report_group() -> None:
    """Reports for people."""


@report_group.command("marketing")
@click.option("--top", default=10, show_default=True, help="rows per report")
@click.option("--no-charts", is_flag=True, help="skip the PNG charts")
def report_marketing_cmd(top: int, no_charts: bool) -> None:
    """Print the marketing aggregates and write a PNG chart per report under $QLAKE_HOME/reports/."""
    from gold import reports
    from qlake import spark

    cfg = settings()
    session = spark.session(cfg)
    for report in reports.marketing(session, top):
        print_rows(report.columns, report.rows, title=report.title)
        if not no_charts:
            click.echo(f"chart: {reports.chart(report, cfg)}")


# ---- HiveServer2 -------------------------------------------------------------------------------------------------
@main.command("serve")
@click.option("--poll", default=5.0, show_default=True, help="seconds between checks for new tables")
def serve_cmd(poll: float) -> None:
    """HiveServer2 endpoint (pyhive, beeline, BI tools) on QLAKE_THRIFT_PORT over every table's current snapshot.

    Runs classic Spark in this process: start it on its own (not from a process using Spark Connect).
    """
    from qlake import serve

    serve.serve(settings(), poll_seconds=poll)


# ---- SQL ----------------------------------------------------------------------------------------------------------
@main.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", default=1000, show_default=True, help="rows to print at most")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), help="write the rows to FILE")
@click.option("--debug", is_flag=True, help="show the engine's full error and traceback")
def sql_cmd(query: str, fmt: str, limit: int, out_path: str | None, debug: bool) -> None:
    """Run Spark SQL against the catalog (bronze, silver, gold, ops); see README "SQL"."""
    from qlake.sql import command

    sys.exit(command.run(query, fmt, limit, out_path, debug))


def _register_streaming() -> None:
    """`qlake produce`, `qlake stream [status]`, `qlake report stream` live in the streaming package."""
    from streaming import cli as streaming_cli

    main.add_command(streaming_cli.produce, "produce")
    main.add_command(streaming_cli.stream, "stream")
    report_group.add_command(streaming_cli.report_stream, "stream")


_register_streaming()


def run() -> None:  # pragma: no cover - console entry point alias
    main()


if __name__ == "__main__":  # pragma: no cover
    main()
