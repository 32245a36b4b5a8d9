"""Row accounting: every bronze row a silver table reads ends inserted, updated, a duplicate or quarantined.

A run stores its accounting in ``ops.row_accounting`` and only then the file hashes it consumed, so a run that
lost or double counted a row (:class:`AccountingError`) is processed again from the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from qlake import ops

if TYPE_CHECKING:  # silver.context imports this module for the Accounting type
    from silver.context import SilverContext


class AccountingError(RuntimeError):
    """Rows in did not equal rows out: something was lost or double counted. Nothing is recorded as consumed."""


@dataclass
class Accounting:
    table: str
    rows_in: int = 0
    inserted: int = 0
    updated: int = 0
    duplicates: int = 0
    conflicting_redeliveries: int = 0
    quarantined: int = 0

    @property
    def balanced(self) -> bool:
        return self.rows_in == self.inserted + self.updated + self.duplicates + self.quarantined

    def check(self) -> None:
        if not self.balanced:
            raise AccountingError(
                f"{self.table}: rows in ({self.rows_in}) != inserted ({self.inserted}) + updated ({self.updated}) "
                f"+ duplicates ({self.duplicates}) + quarantined ({self.quarantined})"
            )

    def line(self) -> str:
        conflicts = f", {self.conflicting_redeliveries} re-delivered with changed content" \
            if self.conflicting_redeliveries else ""
        return (f"{self.table}: {self.rows_in} in = {self.inserted} inserted + {self.updated} updated + "
                f"{self.duplicates} duplicates + {self.quarantined} quarantined{conflicts}")


def record_run(ctx: SilverContext, consumer: str, source: str, markers: dict[str, int], acct: Accounting) -> None:
    """Check the accounting, then note it and the consumed file hashes (only after the data is written); the run
    stores every table's notes at its end in one commit per ops table (:func:`store_records`)."""
    acct.check()
    ctx.accounting.append(acct)
    ctx.accounting_rows.append({
        "run_id": ctx.run_id, "table_name": acct.table, "rows_in": acct.rows_in, "inserted": acct.inserted,
        "updated": acct.updated, "duplicates": acct.duplicates,
        "conflicting_redeliveries": acct.conflicting_redeliveries, "quarantined": acct.quarantined,
        "balanced": acct.balanced, "recorded_at": ctx.now,
    })
    ctx.consumed_markers.append((consumer, source, markers))


def store_records(ctx: SilverContext) -> None:
    """Store the noted accounting, then the consumed hashes: a crash before the second commit only makes the next
    run read those files again, which its MERGEs turn into duplicates (the writes are idempotent)."""
    ops.append_rows(ctx.spark, ctx.cfg, ops.ROW_ACCOUNTING, ctx.accounting_rows)
    ops.record_markers_of(ctx.spark, ctx.cfg, ctx.consumed_markers, ctx.run_id)
    ctx.accounting_rows, ctx.consumed_markers = [], []
