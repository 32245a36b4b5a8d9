"""What an ingest call reports: one outcome per delivered entry (ingested, duplicate, skipped, rejected, recovered
or waiting) under the call's batch id; `qlake ingest` and `qlake run hourly` print a line per file from it."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path


@dataclass
class FileOutcome:
    path: str
    status: str  # ingested | duplicate | skipped | rejected | recovered | waiting (still being written)
    kind: str | None = None
    rows_added: int = 0
    reason: str | None = None
    landing_path: str | None = None
    sha256: str | None = None

    def line(self) -> str:
        name = Path(self.path).name
        if self.status == "ingested":
            return f"ingested   {name}: {self.rows_added} rows -> bronze.{self.kind}"
        if self.status == "recovered":
            return f"recovered  {name}: {self.rows_added} rows were committed by an interrupted run; manifest completed"
        if self.status == "duplicate":
            return f"duplicate  {name}: same content as an earlier delivery, 0 rows added"
        if self.status == "skipped":
            return f"skipped    {name}: already processed (same path and content)"
        if self.status == "waiting":
            return f"waiting    {name}: {self.reason}; left for the next run"
        return f"REJECTED   {name}: {self.reason}"


@dataclass
class IngestReport:
    batch_id: str
    files: list[FileOutcome] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rejected(self) -> list[FileOutcome]:
        return [f for f in self.files if f.status == "rejected"]

    @property
    def landed(self) -> dict[str, int]:
        """The files whose rows are in bronze now (ingested, or recovered from an interrupted run): hash -> rows."""
        return {f.sha256: f.rows_added for f in self.files if f.status in ("ingested", "recovered")}

    @property
    def rows_added(self) -> int:
        return sum(f.rows_added for f in self.files if f.status == "ingested")

    def as_dict(self) -> dict:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        return {
            "batch_id": self.batch_id,
            "rows_added": self.rows_added,
            "files": counts,
            "warnings": self.warnings,
            "details": [asdict(f) for f in self.files],
        }


def new_batch_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
