"""The ``qlake`` command group: which command lives in which module, loaded when it runs."""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys

import click

from cli import runner
from qlake.config import settings

# name -> "module:attribute". A command's module (and what it imports: layers, jobs, GX, pandas...) is loaded
# only when that command runs or help lists it, so a short command like `qlake sql "select 1"` starts fast.
COMMANDS = {
    "services": "cli.services:services_group",
    "serve": "cli.services:serve_cmd",
    "generate": "cli.generate:generate_cmd",
    "ingest": "cli.ingest:ingest_cmd",
    "run": "cli.pipeline:run_group",
    "replay": "cli.pipeline:replay_cmd",
    "schedule": "cli.schedule:schedule_cmd",
    "status": "cli.inspect:status_cmd",
    "lineage": "cli.inspect:lineage_cmd",
    "tables": "cli.inspect:tables_cmd",
    "export": "cli.reports:export_group",
    "dq": "cli.reports:dq_group",
    "report": "cli.reports:report_group",
    "sql": "cli.sql:sql_cmd",
    "produce": "cli.stream:produce",
    "stream": "cli.stream:stream",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are named in :data:`COMMANDS` and imported on first use."""

    def __init__(self, *args, lazy_commands: dict[str, str], **kwargs):
        super().__init__(*args, **kwargs)
        self.lazy_commands = lazy_commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy_commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_commands and cmd_name not in self.commands:
            module_name, attribute = self.lazy_commands[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module_name), attribute), cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS)
@click.version_option(package_name="qlake")
def main() -> None:
    """qlake — Q Company's lakehouse: hourly CSV groups and app events into bronze/silver/gold Delta tables."""
    try:
        settings()  # a wrong setting is reported as such, before any command starts a service
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def run() -> None:
    """A command in this process (the ``qlake`` script's, when the warm runner does not take it: :mod:`cli.launch`),
    then the process ends at once.

    A finished command has committed and closed everything it wrote; what is left is the interpreter tearing
    down what it loaded (the embedded engine's threads, gRPC, Great Expectations, pandas): ~1 s measured after an
    hourly run, paid by every scheduled run. So the output and logs are flushed and the process exits with the
    command's code without that teardown. Code that calls :func:`main` itself (tests) keeps the normal exit.

    The cyclic garbage collector's youngest generation is collected every 50,000 allocations instead of 700: a
    command imports ~0.6 s of modules (pandas, pyspark, pyarrow), whose objects live as long as the process.
    An hourly run's imports took 0.52-0.58 s instead of 0.57-0.65 s (2026-12-07); the older generations keep
    their defaults, so a long-running command (schedule, serve, stream) still collects them as usual.
    """
    gc.set_threshold(50_000, 10, 10)
    code = _command()
    runner.start_for_next(sys.argv[1:])  # a `run` command no warm runner took (none yet): one for the next
    _exit(code)


def run_here() -> None:
    """:func:`run` in this very process: a child of the warm runner (cli.runner) runs its caller's command."""
    gc.set_threshold(50_000, 10, 10)
    _exit(_command())


def _command() -> int:
    try:
        main(prog_name="qlake")
        return 0
    except SystemExit as exc:
        if not isinstance(exc.code, (int, type(None))):
            print(exc.code, file=sys.stderr)
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)


def _exit(code: int) -> None:
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (`qlake ... | head`): nothing left to deliver
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
