"""`qlake sql`: Spark SQL against the catalog, in table, CSV or JSON (see README "SQL")."""

from __future__ import annotations

import sys

import click

from qlake.sql import command


@click.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", default=1000, show_default=True, help="rows to print at most")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), help="write the rows to FILE")
@click.option("--debug", is_flag=True, help="show the engine's full error and traceback")
def sql_cmd(query: str, fmt: str, limit: int, out_path: str | None, debug: bool) -> None:
    """Run Spark SQL against the catalog (bronze, silver, gold, ops); see README "SQL"."""
    sys.exit(command.run(query, fmt, limit, out_path, debug))
