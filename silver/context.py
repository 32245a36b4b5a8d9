"""What one silver run shares between its tables, and the bronze lineage columns every silver row keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pyspark.sql import SparkSession

from qlake import ops
from qlake.config import Settings
from qlake.quality import RuleResult
from qlake.quality_gx import BackgroundValidation, Validator
from silver.accounting import Accounting

LINEAGE = ("_source_file", "_source_sha256", "_row_number", "_batch_id", "_ingested_at")
ROW_ID = ["_source_sha256", "_row_number"]  # a bronze row: the delivered file's content hash and the line in it


@dataclass
class SilverContext:
    """What one silver run shares between its tables."""

    spark: SparkSession
    cfg: Settings
    run_id: str
    validator: Validator
    run_date: date
    # GX's validation of the run's batches, on its own thread; finished when the run's results are stored
    validation: BackgroundValidation | None = None
    now: datetime = field(default_factory=ops.utcnow)
    dq_results: list[tuple[str, RuleResult]] = field(default_factory=list)  # (silver.<table>, GX's result)
    # the same rules counted by the compiled predicates (the gate's own counts), per silver.<table>
    rule_counts: list[tuple[str, RuleResult]] = field(default_factory=list)
    accounting: list[Accounting] = field(default_factory=list)
    # noted by silver.accounting.record_run as each table is written, stored together at the run's end
    accounting_rows: list[dict] = field(default_factory=list)
    consumed_markers: list[tuple[str, str, dict[str, int]]] = field(default_factory=list)
    scratch: list[str] = field(default_factory=list)
    # Read once per run by silver.incremental (the bronze manifest and the consumed file hashes, every table's
    # at once): every table is staged before any records what it consumed.
    ingested_files: dict[str, dict[str, int]] | None = None
    consumed: dict[tuple[str, str], set[str]] | None = None

    @property
    def params(self) -> dict:
        return {"run_date": self.run_date}
