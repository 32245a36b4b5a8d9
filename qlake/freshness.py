"""Freshness: is each table's last Delta commit within the update interval its contract declares?

The last commit time comes from the Delta log (``deltalake``), not from the rows, so it is cheap and needs no
engine: `qlake status` (a scheduler's health check) and the stream monitor read it between runs.
``QLAKE_STALE_AFTER`` overrides a declared interval per table (``gold.fact_sales=3h``; ``*`` patterns allowed).
"""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from qlake.catalog import TableSpec
from qlake.config import Settings

_INTERVAL = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@dataclass(frozen=True)
class Freshness:
    table: str
    expected_every: timedelta
    last_commit_at: datetime | None  # None: the table has no Delta log yet
    checked_at: datetime

    @property
    def age(self) -> timedelta | None:
        return None if self.last_commit_at is None else self.checked_at - self.last_commit_at

    @property
    def is_stale(self) -> bool:
        # A table never written is not late (a lake that runs no stream has no stream tables): it shows as such.
        return self.last_commit_at is not None and self.age > self.expected_every

    def row(self) -> list:
        age = "never written" if self.age is None else _human(self.age)
        return [self.table, _human(self.expected_every),
                self.last_commit_at.isoformat(timespec="seconds") if self.last_commit_at else None, age,
                "STALE" if self.is_stale else ("no data" if self.last_commit_at is None else "fresh")]


def parse_interval(text: str) -> timedelta:
    """``90s``, ``15m``, ``2h``, ``1d`` -> a timedelta."""
    match = _INTERVAL.match(text.strip().lower())
    if not match:
        raise ValueError(f"interval {text!r}: expected a number and s, m, h or d (e.g. 2h)")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def expected_interval(cfg: Settings, spec: TableSpec) -> timedelta | None:
    """The declared interval, or the ``QLAKE_STALE_AFTER`` override (exact name first, then the longest pattern)."""
    overrides = cfg.stale_after
    if spec.name in overrides:
        return parse_interval(overrides[spec.name])
    for pattern in sorted(overrides, key=len, reverse=True):
        if fnmatch.fnmatchcase(spec.name, pattern):
            return parse_interval(overrides[pattern])
    return spec.update_interval


def last_commit_at(cfg: Settings, spec: TableSpec) -> datetime | None:
    try:
        history = DeltaTable(spec.location(cfg)).history(1)
    except TableNotFoundError:
        return None
    if not history:
        return None
    return datetime.fromtimestamp(history[0]["timestamp"] / 1000, tz=timezone.utc)


def check(cfg: Settings, specs, now: datetime | None = None) -> list[Freshness]:
    """Freshness of every spec with an interval (declared or configured), by table name."""
    now = now or datetime.now(timezone.utc)
    out = []
    for spec in sorted(specs, key=lambda s: s.name):
        interval = expected_interval(cfg, spec)
        if interval is not None:
            out.append(Freshness(spec.name, interval, last_commit_at(cfg, spec), now))
    return out


COLUMNS = ["table", "expected every", "last commit (UTC)", "age", "freshness"]


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d{(seconds % 86400) // 3600:02d}h"
