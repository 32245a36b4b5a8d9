"""What one silver run shares between its tables, and the bronze lineage columns every silver row keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F

from qlake import ops
from qlake.config import Settings
from qlake.quality import RuleResult
from qlake.gx_client import BackgroundValidation
from qlake.quality_gx import Validator
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
    # GX's validation of the run's batches, in its worker process; finished when the run's results are stored
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
    # A backfill's silver pass over several delivery groups at once (silver.backfill): each delivered file's
    # group (1, 2, ... in delivery order; a file of no group, left over from an earlier run, counts as group 1).
    group_of: dict[str, int] | None = None
    # Files this run leaves for a later one (the groups of a backfill's later passes).
    held_back: frozenset[str] = frozenset()

    @property
    def params(self) -> dict:
        return {"run_date": self.run_date}

    @property
    def combined(self) -> bool:
        """This run is one pass over several delivery groups, each row judged as of its own group."""
        return bool(self.group_of) and max(self.group_of.values()) > 1

    def delivery_group(self) -> Column:
        """A bronze-derived row's delivery group within this run (1 when the run is one group)."""
        if not self.combined:
            return F.lit(1)
        files: dict[int, list[str]] = {}
        for sha, group in sorted(self.group_of.items()):
            files.setdefault(group, []).append(sha)
        # A CASE over each group's few file hashes: a map literal would be built again for every row (Sail).
        later = sorted((group, shas) for group, shas in files.items() if group > 1)
        source = F.col("_source_sha256")
        case = F.when(source.isin(later[0][1]), F.lit(later[0][0]))
        for group, shas in later[1:]:
            case = case.when(source.isin(shas), F.lit(group))
        return case.otherwise(F.lit(1))
