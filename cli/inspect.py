"""`qlake status` (job runs, freshness, engine), `qlake lineage` (where a table or column comes from) and
`qlake tables` (every table the registry knows)."""

from __future__ import annotations

import json
import sys

import click

from cli.output import err_console, print_rows
from jobs import tables
from jobs.registry import declared_specs
from qlake import freshness, lineage, runlog
from qlake.config import settings
from qlake.spark import engine_description


@click.command("status")
@click.option("--limit", default=5, show_default=True, help="runs per job")
@click.option("--json", "as_json", is_flag=True)
def status_cmd(limit: int, as_json: bool) -> None:
    """The last runs of every job, with the error of any failure, and each table's freshness.

    Exits 2 when a table is stale (its last commit is older than its declared update interval): a health check.
    """
    cfg = settings()
    declared = declared_specs()
    try:
        fresh = freshness.check(cfg, declared.values())
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


@click.command("tables")
@click.option("--graph", is_flag=True, help="print the table DAG (declared inputs) as Mermaid")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
def tables_cmd(graph: bool, fmt: str) -> None:
    """Every table: layer, grain, inputs, expectations suite, tests, where it is declared and stored."""
    if graph:
        click.echo(tables.mermaid())
    else:
        print_rows(*tables.listing(settings()), fmt=fmt, title="tables")


@click.command("lineage")
@click.argument("target")
@click.option("--key", help="a key value of the table's grain (e.g. a transaction_id): the delivered file and row")
@click.option("--key-column", help="the column --key is matched on (default: the table's first column)")
@click.option("--json", "as_json", is_flag=True)
def lineage_cmd(target: str, key: str | None, key_column: str | None, as_json: bool) -> None:
    """Where TABLE[.COLUMN] comes from, down to the delivered (bronze) columns; with --key, the file and row."""
    table = target if target in declared_specs() else lineage.split_column(target)[0]
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
