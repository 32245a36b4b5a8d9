"""`qlake sql`: Spark SQL against the catalog, in table, CSV or JSON (see README "SQL")."""

from __future__ import annotations

import sys

import click

from qlake import sql as qsql
from qlake.config import settings


@click.command("sql")
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@click.option("--limit", default=1000, show_default=True, help="rows to print at most")
@click.option("--out", "out_path", type=click.Path(dir_okay=False, writable=True), help="write the rows to FILE")
@click.option("--debug", is_flag=True, help="show the engine's full error and traceback")
def sql_cmd(query: str, fmt: str, limit: int, out_path: str | None, debug: bool) -> None:
    """Run Spark SQL against the catalog (bronze, silver, gold, ops); see README "SQL"."""
    cfg = settings()

    def engine():
        from qlake import spark  # heavy (Spark Connect client): only for statements that need the engine

        return spark.session(cfg)

    try:
        result = qsql.run(engine, query, cfg, limit=limit)
    except qsql.SqlError as exc:
        if debug:
            raise
        for line in exc.lines():
            click.echo(line, err=True)
        sys.exit(1)
    if result.note:
        click.echo(result.note, err=True)
    if out_path:
        with open(out_path, "w", newline="", encoding="utf-8") as out:
            qsql.write(result, fmt, out)
    else:
        qsql.write(result, fmt)
