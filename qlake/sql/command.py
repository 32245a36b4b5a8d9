"""`qlake sql STATEMENT`: what the command line calls (it only parses the options).

A `qlake sql` process is mostly start-up, so this path keeps it short (README "SQL", latency): a catalog
statement starts no engine; the Connect client is imported without pandas (:mod:`qlake.sql.lean`); and once the
rows are printed and flushed the process ends without tearing the embedded engine down (its threads hold
nothing a finished statement needs: a write has committed before its result comes back).
"""

from __future__ import annotations

import os
import sys

from qlake.config import settings


def run(statement: str, fmt: str = "table", limit: int | None = 1000, out_path: str | None = None,
        debug: bool = False, quick_exit: bool | None = None) -> int:
    """Answer one statement on stdout (or ``out_path``); notes and errors on stderr. Returns the exit code.
    With ``quick_exit`` (default: when this process owns its stdout, i.e. it is the `qlake sql` command, not a
    test runner or a notebook that captures it) the process ends here, without the engine's shutdown."""
    if quick_exit is None:
        quick_exit = sys.stdout is sys.__stdout__
    from qlake import sql as qsql

    cfg = settings()

    def engine():
        from qlake.sql import lean

        lean.connect_client()
        from qlake import spark  # heavy (Spark Connect client): only for statements that need the engine

        return spark.session(cfg)

    try:
        result = qsql.run(engine, statement, cfg, limit=limit)
    except qsql.SqlError as exc:
        if debug:
            raise
        for line in exc.lines():
            print(line, file=sys.stderr)
        return _end(1, quick_exit)
    if result.note:
        print(result.note, file=sys.stderr)
    if out_path:
        with open(out_path, "w", newline="", encoding="utf-8") as out:
            qsql.write(result, fmt, out)
    else:
        qsql.write(result, fmt)
    return _end(0, quick_exit)


def _end(code: int, quick_exit: bool) -> int:
    if quick_exit and "pyspark.sql.connect.session" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)  # noqa: SLF001 - the engine's teardown costs 0.1-0.3 s and changes nothing here
    return code
