"""Time travel as analysts write it, one grammar for every entry point (README "SQL", time travel).

``t VERSION AS OF n`` / ``t TIMESTAMP AS OF '...'`` (also ``FOR SYSTEM_VERSION`` / ``FOR SYSTEM_TIME``), and the
table-option form ``t WITH ('version' = 'n')`` / ``WITH ('timestamp' = '...')``. The embedded engine plans
``AS OF`` itself (:func:`as_of` turns the option form into it); `qlake serve` replaces each reference by a view
of that snapshot (:func:`replace`, :mod:`qlake.serve_sql`). A timestamp without zone is UTC, the sessions' zone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_TABLE = r"(?P<table>(?<![\w.`])`?[A-Za-z_]\w*`?\.`?[A-Za-z_]\w*`?)"
PATTERN = re.compile(
    _TABLE + r"\s+(?:"
    r"(?:FOR\s+SYSTEM_VERSION\s+|VERSION\s+)AS\s+OF\s+'?(?P<version>\d+)'?"
    r"|(?:FOR\s+SYSTEM_TIME\s+|TIMESTAMP\s+)AS\s+OF\s+'(?P<timestamp>[^']*)'"
    r"|WITH\s*\(\s*'(?P<key>version|timestamp)'\s*=\s*'?(?P<value>[^')]*)'?\s*\))",
    re.IGNORECASE)


def _parts(found: re.Match) -> tuple[str, str | None, str | None]:
    table = found["table"].replace("`", "").lower()
    if found["key"]:
        key, value = found["key"].lower(), found["value"].strip()
        return (table, value, None) if key == "version" else (table, None, value)
    return table, found["version"], found["timestamp"]


def mentions(statement: str) -> bool:
    return PATTERN.search(statement) is not None


def as_of(statement: str) -> str:
    """The statement with every snapshot reference spelt ``VERSION AS OF`` / ``TIMESTAMP AS OF``."""
    def spelt(found: re.Match) -> str:
        table, version, timestamp = _parts(found)
        name = found["table"]
        return f"{name} VERSION AS OF {version}" if version is not None else f"{name} TIMESTAMP AS OF '{timestamp}'"

    return PATTERN.sub(spelt, statement)


def replace(statement: str, name_of: Callable[[str, str | None, str | None], str]) -> str:
    """The statement with every snapshot reference replaced by ``name_of(table, version, timestamp)``."""
    return PATTERN.sub(lambda found: name_of(*_parts(found)), statement)
