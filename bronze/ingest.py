"""Land delivered CSV files in bronze: landing copy, rows as delivered + lineage, manifest, rejects.

Per file, in order:
1. hash and check the bytes (empty, binary, not UTF-8, unknown name, header, header only) — cheap, no engine;
2. known (path, content) → skipped silently (a re-run); known content at a new path → re-delivery, 0 rows;
3. copy into ``landing/date=YYYY-MM-DD/hour=HH/`` (the raw lake), parse with the engine (all strings),
   reject rows with more fields than the header, append to the bronze table in ONE Delta commit (atomic per
   file), then record the manifest row.

A crash between the data commit and the manifest row is healed on the next run: rows of that content hash are
already in the table, so the manifest is completed without appending again. Rejected files are copied to
``quarantine/`` (the delivered file is never deleted: drop folders may be read-only) and recorded with the reason.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bronze import branches, ingested_files, rejected_files, sales_agents, sales_transactions
from bronze.raw_files import RawFileKind
from qlake import catalog, storage
from qlake.config import Settings

FILE_KINDS: tuple[RawFileKind, ...] = (branches.KIND, sales_agents.KIND, sales_transactions.KIND)
_EXTRA_FIELD = "_qlake_extra_field"  # sentinel column: non-null only when a row has more fields than the header
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


class RejectedFile(Exception):
    """The file cannot be ingested; the message is the reason shown to users and stored in rejected_files."""


@dataclass
class FileOutcome:
    path: str
    status: str  # ingested | duplicate | skipped | rejected | recovered
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


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Files to ingest: given files as they are, folders walked recursively, in name order (hour groups in order)."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.extend(sorted((p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")),
                                key=_natural_key))
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {path}")
    return found


def delivery_groups(path: str | Path) -> list[list[Path]]:
    """The delivery groups pending in a drop folder, oldest first: the files of each folder (an hourly group)
    together, folders in natural name order (group9 before group10; files directly in ``path`` first)."""
    by_folder: dict[Path, list[Path]] = {}
    for file in discover([path]):
        by_folder.setdefault(file.parent, []).append(file)
    return [by_folder[folder] for folder in sorted(by_folder, key=_natural_key)]


def _natural_key(path: Path) -> list:
    """group10 sorts after group9."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(path))]


def incomplete_groups(files: list[Path]) -> list[str]:
    """Warn about a delivery folder that holds some file kinds but not all three (the hourly group is three)."""
    by_folder: dict[Path, set[str]] = {}
    for path in files:
        for kind in FILE_KINDS:
            if kind.matches(path.name):
                by_folder.setdefault(path.parent, set()).add(kind.kind)
    return [
        f"{folder}: no {', '.join(sorted({k.kind for k in FILE_KINDS} - kinds))} file in this delivery; "
        "rows that need it are quarantined by silver until it arrives"
        for folder, kinds in sorted(by_folder.items())
        if kinds != {k.kind for k in FILE_KINDS}
    ]


def classify(file_name: str) -> RawFileKind:
    for kind in FILE_KINDS:
        if kind.matches(file_name):
            return kind
    raise RejectedFile(
        "unknown file name: expected branches_*.csv, sales_agents_*.csv or sales_transactions_*.csv"
    )


def inspect_bytes(path: Path, kind: RawFileKind) -> None:
    """Reject files that are empty, binary, not UTF-8, header-less or with a header that is not ``kind``'s.

    Streams the file in chunks (bounded memory for multi-GB deliveries).
    """
    size = path.stat().st_size
    if size == 0:
        raise RejectedFile("empty file (0 bytes)")
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line_no, head = 0, 1, ""
    with open(path, "rb") as f:
        while chunk := f.read(storage.CHUNK):
            nul = chunk.find(b"\x00")
            if nul >= 0:
                raise RejectedFile(f"binary content: NUL byte at byte offset {offset + nul}")
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start
                line = line_no + chunk[: exc.start].count(b"\n")
                raise RejectedFile(
                    f"not UTF-8: byte 0x{chunk[exc.start]:02x} at byte offset {bad} (line {line})"
                ) from None
            if len(head) < 1 << 16:
                head += text[: (1 << 16) - len(head)]
            line_no += chunk.count(b"\n")
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise RejectedFile(f"not UTF-8: truncated multi-byte character at the end (byte {offset})") from None
    _check_header(head, kind)


def _check_header(head: str, kind: RawFileKind) -> None:
    head = head.lstrip("\ufeff")  # a UTF-8 byte-order mark is harmless; the engine skips the header line
    lines = head.splitlines()
    if not lines or not lines[0].strip():
        raise RejectedFile("no header line (first line is empty)")
    header = next(csv.reader(io.StringIO(lines[0])))
    header = [h.strip() for h in header]
    expected = list(kind.columns)
    if header != expected:
        missing = [c for c in expected if c not in header]
        unexpected = [c for c in header if c not in expected]
        if not missing and not unexpected:
            problem = "columns in a different order"
        else:
            problem = ", ".join(
                part
                for part in (
                    f"missing {missing}" if missing else "",
                    f"unexpected {unexpected}" if unexpected else "",
                )
                if part
            )
        if len(header) == 1 and any(sep in lines[0] for sep in (";", "\t", "|")):
            problem += " (wrong delimiter? fields must be separated by commas)"
        raise RejectedFile(f"header does not match the {kind.kind} layout: {problem}")
    if not any(line.strip() for line in lines[1:]):
        raise RejectedFile("header only: the file has no data rows")


def read_raw(spark: SparkSession, landing_path: str, kind: RawFileKind) -> DataFrame:
    """Parse a landed file with the engine: every field a string, short rows allowed, `"` escaped by doubling."""
    schema = T.StructType(
        [T.StructField(c, T.StringType(), True) for c in kind.columns]
        + [T.StructField(_EXTRA_FIELD, T.StringType(), True)]
    )
    return (
        spark.read.option("header", "true")
        .option("escape", '"')
        .option("allow_truncated_rows", "true")  # Sail: offline rows have 20 fields; classic Spark ignores it
        .option("mode", "PERMISSIVE")
        .schema(schema)
        .csv(landing_path)
    )


def number_rows(raw: DataFrame) -> DataFrame:
    """Add `_row_number`: the 1-based data record number in the file (header excluded).

    The engine reads a file in order, partition by partition, and monotonically_increasing_id() grows with that
    order, so a row_number over it is the record's position in the file.
    """
    file_order = Window.orderBy(F.monotonically_increasing_id()).rowsBetween(
        Window.unboundedPreceding, Window.currentRow
    )
    return raw.withColumn("_row_number", F.row_number().over(file_order).cast("bigint"))


def with_lineage(numbered: DataFrame, kind: RawFileKind, *, landing_path: str, sha256: str, batch_id: str,
                 ingested_at: datetime) -> DataFrame:
    """The bronze row: the delivered fields as strings, then lineage."""
    return numbered.select(
        *[F.col(f"`{c}`") for c in kind.columns],
        F.lit(landing_path).alias("_source_file"),
        F.lit(sha256).alias("_source_sha256"),
        F.col("_row_number"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(batch_id).alias("_batch_id"),
        F.lit(ingested_at.date()).cast("date").alias("_ingest_date"),
    )


class Ingestor:
    """Ingests files one at a time into bronze; holds the manifest in memory for the run."""

    def __init__(self, spark: SparkSession, cfg: Settings, batch_id: str | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.spark = spark
        self.cfg = cfg
        self.now = now
        self.batch_id = batch_id or new_batch_id(now())
        for spec in (*(k.table for k in FILE_KINDS), ingested_files.TABLE, rejected_files.TABLE):
            catalog.ensure_table(spark, spec, cfg)
        self._load_manifest()

    def _load_manifest(self) -> None:
        rows = self.spark.table(ingested_files.TABLE.name).select(
            "source_path", "sha256", "status", "landing_path"
        ).collect()
        rejected = self.spark.table(rejected_files.TABLE.name).select("source_path", "sha256").collect()
        self.seen: set[tuple[str, str]] = {(r.source_path, r.sha256) for r in rows}
        self.seen |= {(r.source_path, r.sha256) for r in rejected}
        self.ingested: dict[str, str] = {r.sha256: r.landing_path for r in rows if r.status == "ingested"}

    def _committed_rows(self, kind: RawFileKind, sha: str) -> int:
        """Rows of this content already in the bronze table (an interrupted run committed them, then died)."""
        return catalog.rows_with_value(self.spark, kind.table, self.cfg, "_source_sha256", sha)

    def ingest_file(self, path: Path) -> FileOutcome:
        source_path = str(path.resolve())
        sha = storage.sha256_file(path)
        size = path.stat().st_size
        if (source_path, sha) in self.seen:
            return FileOutcome(source_path, "skipped", sha256=sha)
        try:
            kind = classify(path.name)
            inspect_bytes(path, kind)
        except RejectedFile as exc:
            return self._reject(path, source_path, sha, size, str(exc))

        if sha in self.ingested:
            self._record(kind, path, source_path, sha, size, rows=0, status="duplicate",
                         landing=None, duplicate_of=self.ingested[sha])
            return FileOutcome(source_path, "duplicate", kind.kind, sha256=sha)

        recovered = self._committed_rows(kind, sha)
        if recovered:
            rows = recovered
            landing = self.spark.table(kind.table.name).where(F.col("_source_sha256") == sha) \
                .select("_source_file").first()["_source_file"]
            self._record(kind, path, source_path, sha, size, rows=rows, status="ingested", landing=landing)
            return FileOutcome(source_path, "recovered", kind.kind, rows_added=rows, landing_path=landing,
                               sha256=sha)

        ingested_at = self.now()
        landing = self._land(path, sha, ingested_at)
        try:
            rows = self._append_rows(kind, landing, sha, ingested_at)
        except RejectedFile as exc:
            return self._reject(path, source_path, sha, size, str(exc))
        self._record(kind, path, source_path, sha, size, rows=rows, status="ingested", landing=landing)
        return FileOutcome(source_path, "ingested", kind.kind, rows_added=rows, landing_path=landing, sha256=sha)

    def _land(self, path: Path, sha: str, at: datetime) -> str:
        folder = self.cfg.path("landing", f"date={at:%Y-%m-%d}", f"hour={at:%H}")
        name = _SAFE_NAME.sub("_", path.name)  # only the base name, sanitised: nothing escapes the lake
        dest = f"{folder}/{name}"
        if storage.exists(dest):  # same name, other content, same hour: keep both
            stem, dot, ext = name.rpartition(".")
            dest = f"{folder}/{stem}.{sha[:12]}{dot}{ext}"
        storage.copy_into(path, dest)
        return dest

    def _append_rows(self, kind: RawFileKind, landing: str, sha: str, at: datetime) -> int:
        raw = read_raw(self.spark, landing, kind)
        overlong = raw.where(F.col(_EXTRA_FIELD).isNotNull())
        try:
            bad_rows = overlong.limit(1).count()
        except Exception as exc:  # noqa: BLE001 - the engine's CSV error says which line is malformed
            message = _engine_message(exc)
            counts = re.search(r"line (\d+), expected \d+ got (\d+)", message)
            if counts:  # the engine counts our sentinel column: say it in the delivered file's terms
                raise RejectedFile(
                    f"line {counts[1]} has {counts[2]} fields: more fields than the {len(kind.columns)}-column header"
                ) from None
            raise RejectedFile(f"malformed CSV: {message}") from None
        numbered = number_rows(raw)
        if bad_rows:
            where = numbered.where(F.col(_EXTRA_FIELD).isNotNull())
            first = [r["_row_number"] for r in where.select("_row_number").orderBy("_row_number").limit(5).collect()]
            raise RejectedFile(
                f"{where.count()} row(s) have more fields than the {len(kind.columns)}-column header "
                f"(first at data rows {first})"
            )
        rows = with_lineage(numbered, kind, landing_path=landing, sha256=sha, batch_id=self.batch_id,
                            ingested_at=at)
        count = raw.count()  # every parsed row is appended; the landed file does not change
        catalog.append(self.spark, rows, kind.table, self.cfg)
        return count

    def _record(self, kind: RawFileKind, path: Path, source_path: str, sha: str, size: int, *, rows: int,
                status: str, landing: str | None, duplicate_of: str | None = None) -> None:
        row = {
            "sha256": sha,
            "file_name": path.name,
            "file_kind": kind.kind,
            "source_path": source_path,
            "landing_path": landing,
            "size_bytes": size,
            "rows_added": rows if status == "ingested" else 0,
            "status": status,
            "duplicate_of": duplicate_of,
            "batch_id": self.batch_id,
            "ingested_at": self.now(),
        }
        schema = "sha256 string, file_name string, file_kind string, source_path string, landing_path string, " \
                 "size_bytes bigint, rows_added bigint, status string, duplicate_of string, batch_id string, " \
                 "ingested_at timestamp"
        catalog.append(self.spark, self.spark.createDataFrame([row], schema), ingested_files.TABLE, self.cfg)
        self.seen.add((source_path, sha))
        if status == "ingested":
            self.ingested[sha] = landing or ""

    def _reject(self, path: Path, source_path: str, sha: str, size: int, reason: str) -> FileOutcome:
        at = self.now()
        dest = self.cfg.path("quarantine", f"date={at:%Y-%m-%d}", f"{sha[:12]}_{_SAFE_NAME.sub('_', path.name)}")
        storage.copy_into(path, dest)
        row = {
            "sha256": sha,
            "file_name": path.name,
            "source_path": source_path,
            "quarantine_path": dest,
            "size_bytes": size,
            "reason": reason,
            "batch_id": self.batch_id,
            "rejected_at": at,
        }
        schema = "sha256 string, file_name string, source_path string, quarantine_path string, size_bytes bigint, " \
                 "reason string, batch_id string, rejected_at timestamp"
        catalog.append(self.spark, self.spark.createDataFrame([row], schema), rejected_files.TABLE, self.cfg)
        self.seen.add((source_path, sha))
        return FileOutcome(source_path, "rejected", reason=reason, sha256=sha)


def _engine_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def ingest(spark: SparkSession, cfg: Settings, paths: Iterable[str | Path], *,
           on_file: Callable[[FileOutcome], None] | None = None, batch_id: str | None = None) -> IngestReport:
    """Ingest files and folders; never raises for a bad file (it is rejected and reported instead)."""
    files = discover(paths)
    ingestor = Ingestor(spark, cfg, batch_id)
    report = IngestReport(ingestor.batch_id, warnings=incomplete_groups(files))
    for path in files:
        outcome = ingestor.ingest_file(path)
        report.files.append(outcome)
        if on_file:
            on_file(outcome)
    return report


def watch(spark: SparkSession, cfg: Settings, folder: str | Path, *, interval: float = 30.0,
          settle_seconds: float = 5.0, once: bool = False,
          on_file: Callable[[FileOutcome], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> list[IngestReport]:
    """Poll a drop folder; ingest files whose size and mtime have not changed for ``settle_seconds``.

    A file still being written is left for the next poll; known files are skipped by the manifest.
    """
    reports: list[IngestReport] = []
    sizes: dict[Path, tuple[int, float]] = {}
    while not should_stop():
        ready = []
        now = time.time()
        for path in discover([folder]):
            stat = path.stat()
            signature = (stat.st_size, stat.st_mtime)
            settled = now - stat.st_mtime >= settle_seconds and sizes.get(path, signature) == signature
            sizes[path] = signature
            if settled:
                ready.append(path)
        if ready:
            reports.append(ingest(spark, cfg, ready, on_file=on_file))
        if once:
            break
        time.sleep(interval)
    return reports
