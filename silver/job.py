"""`qlake run silver`: every table's new rows are staged and flagged first (engine work, while Great
Expectations imports), then validated and written: dimensions first (transactions check their agents and
branches), then transactions, then what is derived from them. Per-rule DQ counts go to ops.dq_results, Data
Docs to $QLAKE_HOME/dq."""

from __future__ import annotations

import importlib
import json
import sys
import threading
from dataclasses import dataclass

from pyspark.sql import SparkSession

from bronze import sales_transactions as bronze_transactions
from qlake import catalog, ops
from qlake.config import Settings
from qlake.profile import phase
from qlake.quality import Validator
from qlake.tables import levels
from silver import branches, customers, products, sales_agents, sales_transactions
from silver.accounting import Accounting, record_run
from silver.context import SilverContext
from silver.dimension import finish_dimension, known_keys, stage_dimension

# Written in the order of their declared inputs: the dimensions, then the transactions (they check their agents
# and branches), then what is derived from the transactions (products before customers, as listed).
MODULES = (branches, sales_agents, sales_transactions, products, customers)
LEVELS = levels(module.TABLE for module in MODULES)
_MODULE = {module.TABLE.name: module for module in MODULES}


@dataclass
class SilverReport:
    run_id: str
    accounting: list[Accounting]
    dq_rows: list[dict]
    data_docs: str

    @property
    def rows_in(self) -> int:
        return sum(a.rows_in for a in self.accounting)

    @property
    def quarantined(self) -> int:
        return sum(a.quarantined for a in self.accounting)

    @property
    def rows_out(self) -> int:
        return sum(a.inserted + a.updated for a in self.accounting)

    def lines(self) -> list[str]:
        if not self.accounting or not self.rows_in:
            return ["silver: no new bronze rows"]
        return [a.line() for a in self.accounting if a.rows_in] + [f"data docs: {self.data_docs}"]


def preload() -> None:
    """Import Great Expectations in the background (~2.5 s of imports) while engine work runs; the first
    validation waits for it (Python's import lock). Calling it again while it runs or after is harmless."""
    if "great_expectations" not in sys.modules:
        threading.Thread(target=importlib.import_module, args=("great_expectations",), daemon=True).start()


def run(spark: SparkSession, cfg: Settings, run_id: str | None = None) -> SilverReport:
    run_id = run_id or ops.new_run_id("silver")
    preload()  # Great Expectations imports while the engine stages and flags the batches
    validator = Validator(cfg)
    ctx = SilverContext(spark=spark, cfg=cfg, run_id=run_id, validator=validator, run_date=ops.utcnow().date())
    try:
        # Engine work first (nothing written yet), then validation and writes, level by level.
        with phase("stage + flag (new bronze rows, rules per row)"):
            staged = _stage(ctx)
        written = consumed = None
        for level in LEVELS:
            derived = [name for name in level if not _reads_bronze(name)]
            for name in level:
                if name in derived:
                    continue
                with phase(f"validate (GX) + write {name}"):
                    if name == sales_transactions.TABLE.name:
                        accounting, written, consumed = sales_transactions.finish(ctx, staged[name])
                    else:
                        finish_dimension(ctx, _MODULE[name].DIMENSION, staged[name])
            if derived:
                with phase(f"write {', '.join(derived)}"):
                    for name in derived:
                        _MODULE[name].run(ctx, written)
        if consumed:
            record_run(ctx, sales_transactions.TABLE.name, bronze_transactions.TABLE.name, consumed, accounting)
    finally:
        with phase("store DQ results"):
            dq_rows = _store_dq_results(ctx)  # a failed run's rule counts are the most useful ones
        with phase("Data Docs"):
            docs = validator.publish()
        catalog.drop_scratch(cfg, run_id)
    return SilverReport(run_id, ctx.accounting, dq_rows, docs)


def _stage(ctx: SilverContext) -> dict:
    """Each table's new bronze rows staged and flagged (no write), in level order: the transactions' reference
    checks need the agent and branch ids the dimensions hold after this run."""
    staged: dict = {}
    for name in (name for level in LEVELS for name in level if _reads_bronze(name)):
        module = _MODULE[name]
        if name == sales_transactions.TABLE.name:
            dims = [_MODULE[read].DIMENSION for read in module.TABLE.reads]
            known = {dim.key: known_keys(ctx, dim, staged[dim.spec.name]) for dim in dims}
            staged[name] = sales_transactions.stage(ctx, known["sales_agent_id"], known["branch_id"])
        else:
            staged[name] = stage_dimension(ctx, module.DIMENSION, module.staged)
    return staged


def _reads_bronze(name: str) -> bool:
    """Staged from new bronze rows (validated by its suite), rather than derived from silver rows written now."""
    return any(source.startswith("bronze.") for source in _MODULE[name].TABLE.inputs)


def _store_dq_results(ctx: SilverContext) -> list[dict]:
    rows = [
        {
            "run_id": ctx.run_id,
            "table_name": f"silver.{table}",
            "rule": r.rule,
            "action": r.action,
            "expectation_type": r.expectation_type,
            "column_name": r.column,
            "evaluated": r.evaluated,
            "failed": r.failed,
            "success": r.success,
            "examples": json.dumps(r.examples, default=str),
            "checked_at": ctx.now,
        }
        for table, r in ctx.dq_results
    ]
    ops.append_rows(ctx.spark, ctx.cfg, ops.DQ_RESULTS, rows)
    return rows
