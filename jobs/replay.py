"""`qlake replay --from-bronze`: rebuild silver + gold from bronze under the pipeline lock, logged."""

from __future__ import annotations

from gold import replay as gold_replay
from jobs.runs import locked_run
from qlake.config import Settings


def run_replay(cfg: Settings, tables: list[str] | None = None) -> list[gold_replay.TableDiff]:
    """The rebuilt tables compared with the incremental build (``tables``: compare only these)."""
    with locked_run(cfg, "replay") as (session, _record):
        return gold_replay.replay(session, cfg, tables)
