"""`qlake services ...` (the local Hive metastore, broker, Great Expectations worker and warm runner) and
`qlake serve` (HiveServer2)."""

from __future__ import annotations

import json

import click

from cli.output import print_rows
from cli.runner import Runner
from qlake import serve, services
from qlake.config import settings


@click.group("services")
def services_group() -> None:
    """Start, stop and inspect the local services (Hive metastore, Kafka-protocol broker, GX worker, runner)."""


@services_group.command("up")
def services_up() -> None:
    """Start every service qlake manages (idempotent)."""
    try:
        for line in services.up(settings()):
            click.echo(line)
        click.echo(Runner(settings()).up())
    except services.ServiceError as exc:
        raise click.ClickException(str(exc)) from None


@services_group.command("down")
def services_down() -> None:
    """Stop the services qlake started (by PID)."""
    click.echo(Runner(settings()).down())
    for line in services.down(settings()):
        click.echo(line)


@services_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def services_status(as_json: bool) -> None:
    """Show each service's PID, port (the GX worker's and the runner's: a socket) and log file."""
    rows = [*services.status(settings()), Runner(settings()).status()]
    if as_json:
        click.echo(json.dumps(rows))
        return
    print_rows(["service", "pid", "port / socket", "listening", "log"], [list(r.values()) for r in rows])


@click.command("serve")
@click.option("--poll", default=5.0, show_default=True, help="seconds between checks for new tables")
def serve_cmd(poll: float) -> None:
    """HiveServer2 endpoint (pyhive, beeline, BI tools) on QLAKE_THRIFT_PORT over every table's current snapshot.

    Runs classic Spark in this process: start it on its own (not from a process using Spark Connect).
    """
    serve.serve(settings(), poll_seconds=poll)
