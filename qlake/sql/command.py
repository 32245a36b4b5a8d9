"""`qlake sql STATEMENT`: what the command line calls (it only parses the options).

A `qlake sql` process is mostly start-up, so this path keeps it short (README "SQL", latency): a catalog
statement starts no engine; the Connect client is imported without pandas (:mod:`qlake.sql.lean`); and the
process ends without tearing the embedded engine down (``cli.main.run``, as every command).
"""

from __future__ import annotations

import sys

from qlake.config import settings


def run(statement: str, fmt: str = "table", limit: int | None = 1000, out_path: str | None = None,
        debug: bool = False) -> int:
    """Answer one statement on stdout (or ``out_path``); notes and errors on stderr. Returns the exit code."""
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
        return 1
    if result.note:
        print(result.note, file=sys.stderr)
    if out_path:
        with open(out_path, "w", newline="", encoding="utf-8") as out:
            qsql.write(result, fmt, out)
    else:
        qsql.write(result, fmt)
    return 0
