"""`qlake run silver`: every table's new rows are staged and flagged first (engine work, while Great
Expectations imports), then gated by the compiled rules and written: dimensions first (transactions check their
agents and branches), then transactions, then what is derived from them. GX validates each gated batch on a
thread of its own meanwhile; its per-rule results go to ops.dq_results and Data Docs to $QLAKE_HOME/dq when the
run's quality is finished (:meth:`SilverReport.finish_quality`: at the end of the run, or after gold in an
hourly run)."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from functools import partial

from pyspark.sql import SparkSession

from bronze import sales_transactions as bronze_transactions
from qlake import ops, scratch, spark as qspark
from qlake.config import Settings
from qlake.profile import phase
from qlake.quality import RuleResult
from qlake.gx_client import BackgroundValidation
from qlake.quality_gx import Validator
from qlake.tables import levels
from silver import backfill, branches, customers, products, sales_agents, sales_transactions
from silver.accounting import Accounting, record_run, store_records
from silver.context import SilverContext
from silver.dimension import finish_dimension, known_keys, stage_dimension

# Written in the order of their declared inputs: the dimensions, then the transactions (they check their agents
# and branches), then what is derived from the transactions (products before customers, as listed).
MODULES = (branches, sales_agents, sales_transactions, products, customers)
LEVELS = levels(module.TABLE for module in MODULES)
_MODULE = {module.TABLE.name: module for module in MODULES}


log = logging.getLogger(__name__)


@dataclass
class SilverReport:
    run_id: str
    accounting: list[Accounting]
    data_docs: str
    ctx: SilverContext = field(repr=False)
    dq_rows: list[dict] | None = None  # set by finish_quality

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

    def finish_quality(self) -> list[dict]:
        """Wait for GX's validation of the run's batches; store its per-rule results (``ops.dq_results``); drop
        the run's scratch batches. Idempotent."""
        if self.dq_rows is None:
            self.dq_rows = _finish_quality(self.ctx)
        return self.dq_rows


def run(spark: SparkSession, cfg: Settings, run_id: str | None = None, validator: Validator | None = None,
        defer_quality: bool = False, group_of: dict[str, int] | None = None,
        held_back: frozenset[str] = frozenset()) -> SilverReport:
    """bronze -> silver for every table's new rows. ``validator``: a GX context shared by the runs of one process
    (it imports GX once). With ``defer_quality`` the caller calls :meth:`SilverReport.finish_quality` itself
    later (an hourly run builds gold meanwhile); a failed run finishes its quality before raising.

    A backfill passes ``group_of`` (each delivered file's group, in delivery order) to process several groups in
    one pass, each row judged as of its group; the run raises :class:`silver.backfill.NotCombinable` before
    writing anything when that could differ from one run per group. ``held_back``: files left for a later run."""
    run_id = run_id or ops.new_run_id("silver")
    validator = validator or Validator(cfg)
    validation = BackgroundValidation(cfg, qspark.remote_address()).start()  # GX imports while the engine stages
    ctx = SilverContext(spark=spark, cfg=cfg, run_id=run_id, validator=validator, validation=validation,
                        run_date=ops.utcnow().date(), group_of=group_of, held_back=held_back)
    report = SilverReport(run_id, ctx.accounting, validator.docs_index, ctx)
    try:
        # Engine work first (nothing written yet), then the gate and writes, level by level.
        with phase("stage + flag (new bronze rows, rules per row)"):
            staged = _stage(ctx)
        written = consumed = None
        for level in LEVELS:
            # A level's tables are independent of each other (their inputs are in the levels before): they are
            # gated and written side by side, their engine round trips overlapping.
            gated = [name for name in level if _reads_bronze(name)]
            derived = [name for name in level if not _reads_bronze(name)]
            if gated:
                with phase(f"gate + write {', '.join(gated)}"):
                    finished = qspark.side_by_side(*[partial(_gate_and_write, ctx, name, staged[name])
                                                     for name in gated])
                if sales_transactions.TABLE.name in gated:
                    accounting, written, consumed = finished[gated.index(sales_transactions.TABLE.name)]
            if derived:
                with phase(f"write {', '.join(derived)}"):
                    qspark.side_by_side(*[partial(_MODULE[name].run, ctx, written) for name in derived])
        if consumed:
            record_run(ctx, sales_transactions.TABLE.name, bronze_transactions.TABLE.name, consumed, accounting)
        validation.close()  # every batch is submitted: Data Docs are rendered while the run stores and goes on
    except BaseException:
        with phase("store accounting + consumed files"), contextlib.suppress(Exception):
            store_records(ctx)  # what was written before the failure is recorded as such
        report.finish_quality()  # a failed run's rule counts are the most useful ones
        raise
    with phase("store accounting + consumed files"):
        store_records(ctx)
    if not defer_quality:
        report.finish_quality()
    return report


def _gate_and_write(ctx: SilverContext, name: str, batch):
    if name == sales_transactions.TABLE.name:
        return sales_transactions.finish(ctx, batch)
    return finish_dimension(ctx, _MODULE[name].DIMENSION, batch)


def _stage(ctx: SilverContext) -> dict:
    """Each table's new bronze rows staged and flagged (no write), level by level, a level's tables side by side:
    the transactions' reference checks need the agent and branch ids the dimensions hold after this run."""
    staged: dict = {}
    for level in LEVELS:
        names = [name for name in level if _reads_bronze(name)]
        staged.update(zip(names, qspark.side_by_side(*[partial(_stage_table, ctx, staged, name) for name in names])))
    return staged


def _stage_table(ctx: SilverContext, staged: dict, name: str):
    module = _MODULE[name]
    if name == sales_transactions.TABLE.name:
        dims = [_MODULE[read].DIMENSION for read in module.TABLE.reads]
        known = dict(zip([dim.key for dim in dims], qspark.side_by_side(
            *[partial(known_keys, ctx, dim, staged[dim.spec.name]) for dim in dims])))
        batch = sales_transactions.stage(ctx, known["sales_agent_id"], known["branch_id"])
    else:
        batch = stage_dimension(ctx, module.DIMENSION, module.staged)
    if ctx.combined and batch.flagged is not None:
        backfill.check_fail_rules(ctx, batch.flagged, name, module.TABLE.suite)
        if name == sales_transactions.TABLE.name:
            backfill.check_keys_in_one_group(ctx, batch.good(), sales_transactions.KEY, name)
    return batch


def _reads_bronze(name: str) -> bool:
    """Staged from new bronze rows (validated by its suite), rather than derived from silver rows written now."""
    return any(source.startswith("bronze.") for source in _MODULE[name].TABLE.inputs)


def _finish_quality(ctx: SilverContext) -> list[dict]:
    try:
        with phase("wait for GX, Data Docs"):
            ctx.dq_results = ctx.validation.finish()
    finally:
        scratch.drop(ctx.cfg, ctx.run_id)
    for line in disagreements(ctx.rule_counts, ctx.dq_results):
        log.warning("data quality: %s", line)
    with phase("store DQ results"):
        return _store_dq_results(ctx)


def disagreements(compiled: list[tuple[str, RuleResult]], gx: list[tuple[str, RuleResult]]) -> list[str]:
    """Rules whose failed rows the compiled predicates and GX counted differently (they are one definition)."""
    gx_failed = {(table, r.rule): r.failed for table, r in gx}
    return [f"{table}.{r.rule}: the gate counted {r.failed} failed rows, Great Expectations "
            f"{gx_failed[(table, r.rule)]}" for table, r in compiled
            if (table, r.rule) in gx_failed and gx_failed[(table, r.rule)] != r.failed]


def _store_dq_results(ctx: SilverContext) -> list[dict]:
    rows = [
        {
            "run_id": ctx.run_id,
            "table_name": table,
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
