"""Is there anything for an hourly run to do? Answered from the Delta logs and manifests alone — no engine.

An hour with nothing new (the scheduler fires, no file arrived) should cost what its data costs: nothing. The
engine, the metastore and Great Expectations start only when one of these holds:

- a delivered file (its path and content hash) is not yet in ``bronze.ingested_files`` / ``bronze.rejected_files``;
- a bronze table was committed after the last successful run that feeds silver (``hourly`` or ``silver``);
- a silver table was committed after the last successful run that feeds gold (``hourly`` or ``gold``).

Every doubt (a table or log this process cannot read, a run that failed, maintenance that rewrote files) counts
as work, so the full run decides; the check can only ever skip an hour that would have written nothing.
"""

from __future__ import annotations

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from bronze import branches as bronze_branches
from bronze import delivery
from bronze import ingested_files, rejected_files
from bronze import sales_agents as bronze_agents
from bronze import sales_transactions as bronze_transactions
from qlake import freshness, ops, runlog, storage
from qlake.config import Settings
from silver import branches, customers, products, sales_agents, sales_transactions

BRONZE = (bronze_branches.TABLE, bronze_agents.TABLE, bronze_transactions.TABLE)
SILVER = (branches.TABLE, sales_agents.TABLE, sales_transactions.TABLE, customers.TABLE, products.TABLE)
FEEDS_SILVER = ("hourly", "silver")
FEEDS_GOLD = ("hourly", "gold")


def work_pending(cfg: Settings, incoming: str | None) -> str | None:
    """Why the hour has work to do, or None when it has none."""
    try:
        if incoming:
            new = _undelivered(cfg, incoming)
            if new:
                return f"new file {new}"
        runs = runlog.last_runs(cfg)
        for tables, feeds in ((BRONZE, FEEDS_SILVER), (SILVER, FEEDS_GOLD)):
            last_ok = max((r["ended_at"] for r in runs if r["job"] in feeds and r["status"] == "succeeded"
                           and r["ended_at"] is not None), default=None)
            if last_ok is None:
                return f"no successful {' or '.join(feeds)} run yet"
            for spec in tables:
                committed = freshness.last_commit_at(cfg, spec)
                if committed is None:
                    return f"{spec.name} has no table yet"
                if committed >= last_ok:
                    return f"{spec.name} changed since the last {' or '.join(feeds)} run"
    except Exception as exc:  # noqa: BLE001 - any doubt means: run the full job, which knows best
        return f"could not tell from the logs ({type(exc).__name__}): running the full job"
    return None


def record_if_idle(cfg: Settings, incoming: str | None) -> str | None:
    """When the hour has nothing to do, log it in ``ops.job_runs`` (through ``deltalake``) and return the line
    to print; otherwise return None and leave everything to the full run (which also takes the job's lock)."""
    with runlog.job_lock(cfg, "hourly") as acquired:
        if not acquired or work_pending(cfg, incoming) is not None:
            return None
        row = runlog.row(runlog.RunRecord(ops.new_run_id("hourly"), "hourly", ops.utcnow()), ops.utcnow())
        location = runlog.JOB_RUNS.location(cfg)
        try:
            schema = pa.schema(DeltaTable(location).schema().to_arrow())
            write_deltalake(location, pa.Table.from_pylist([row], schema=schema), mode="append")
        except Exception:  # noqa: BLE001 - e.g. a storage this deltalake build cannot write: the full run logs it
            return None
        return "hourly: nothing new (no new file, every layer up to date); engine not started"


def _undelivered(cfg: Settings, incoming: str) -> str | None:
    """The first delivered file whose path + content hash neither manifest holds."""
    seen: set[tuple[str, str]] = set()
    for spec in (ingested_files.TABLE, rejected_files.TABLE):
        table = storage.read_delta(spec.location(cfg), columns=["source_path", "sha256"])
        seen |= set(zip(table.column("source_path").to_pylist(), table.column("sha256").to_pylist()))
    for path in delivery.discover([incoming]):
        key = delivery.manifest_key(path, cfg.max_file_bytes)
        if key is not None and key not in seen:
            return str(path)
    return None

