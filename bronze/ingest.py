"""Land delivered CSV files in bronze: landing copy, rows as delivered + lineage, manifest, rejects.

Per file, in order:
1. hash and check the bytes (empty, binary, not UTF-8, unknown name, header, header only) — cheap, no engine;
2. known (path, content) → skipped silently (a re-run); known content at a new path → re-delivery, 0 rows;
3. copy into ``landing/date=YYYY-MM-DD/hour=HH/`` (the raw lake), parse with the engine (all strings),
   reject rows with more fields than the header, append to the bronze table in ONE Delta commit (atomic per
   file), then note the manifest row; the manifest rows of one call are written together at its end (one
   commit per manifest table, not one per file).

A crash between the data commit and the manifest write is healed on the next run: rows of that content hash are
already in the table, so the manifest is completed without appending again. Rejected files are copied to
``quarantine/`` (the delivered file is never deleted: drop folders may be read-only) and recorded with the reason.
"""

from __future__ import annotations

import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable

from pyspark.sql import Column, DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from bronze import ingested_files, rejected_files
from bronze.delivery import (
    FILE_KINDS,
    NotReady,
    RejectedFile,
    Signature,
    check_entry,
    classify,
    discover,
    incomplete_groups,
    inspect_bytes,
    opened,
    temporary_name,
    unread_marker,
    wait_until_settled,
)
from bronze.ingest_report import FileOutcome, IngestReport, new_batch_id
from bronze.raw_files import RawFileKind
from qlake import catalog, ops, storage, table_stats
from qlake.config import Settings

_EXTRA_FIELD = "_qlake_extra_field"  # sentinel column: non-null only when a row has more fields than the header
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")


def read_raw(spark: SparkSession, landing_path: str, kind: RawFileKind) -> DataFrame:
    """Parse a landed file with the engine: every field a string, short rows allowed, `"` escaped by doubling.

    ``multiLine`` reads a file whole, in one engine partition, in file order: `_row_number` is then the record's
    place in that partition (:func:`number_rows`). An engine splits a large file into byte ranges otherwise, and
    Sail 0.7.2 does not keep a range's partition index stable between executions: in writes, the second half of
    a 100,000-row file came as partition 0 in 13 of 20 runs (2026-12-07), so numbering ranges from a separate
    scan numbered every row wrong. Reading whole costs nothing measurable: the scan + write of 550,000 rows
    took 0.44-0.6 s either way.
    """
    schema = T.StructType(
        [T.StructField(c, T.StringType(), True) for c in kind.columns]
        + [T.StructField(_EXTRA_FIELD, T.StringType(), True)]
    )
    return (
        spark.read.option("header", "true")
        .option("escape", '"')
        .option("allow_truncated_rows", "true")  # Sail: offline rows have 20 fields; classic Spark ignores it
        .option("multiLine", "true")
        .option("mode", "PERMISSIVE")
        .schema(schema)
        .csv(landing_path)
    )


def scan(raw: DataFrame, is_bad_row: Column) -> Row:
    """One scan of a parsed file: its ``rows``, its ``bad_rows`` and the engine ``partitions`` it was read in."""
    return (
        raw.select(is_bad_row.alias("_is_bad"), F.spark_partition_id().alias("_partition"))
        .agg(F.count(F.lit(1)).alias("rows"), F.count(F.when(F.col("_is_bad"), F.lit(1))).alias("bad_rows"),
             F.count_distinct("_partition").alias("partitions"))
        .first()
    )


def number_rows(raw: DataFrame, partitions: int) -> DataFrame:
    """Add `_row_number`: the 1-based data record number in the file (header excluded).

    A file is read whole in one partition (:func:`read_raw`), whose records ``monotonically_increasing_id``
    numbers in file order from 0: no sort of the file. A file read in several partitions cannot be numbered so
    (their order is not stable, see :func:`read_raw`): that is refused, not guessed.
    """
    if partitions > 1:
        raise RuntimeError(f"the engine read one file in {partitions} partitions: its row numbers would not "
                           "follow the file (read_raw reads a file whole)")
    return raw.withColumn("_row_number", F.monotonically_increasing_id() + F.lit(1))


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
        # Manifest rows of this call, written by flush() in one commit per table (not one per file): a crash
        # before it loses no data, since a file whose rows are in bronze is found again as "recovered".
        self._pending: dict[str, list[dict]] = {ingested_files.TABLE.name: [], rejected_files.TABLE.name: []}
        self._locations = {spec.name: catalog.ensure_table(spark, spec, cfg)
                           for spec in (*(k.table for k in FILE_KINDS), ingested_files.TABLE, rejected_files.TABLE)}
        # Each bronze table's file statistics (for _committed_rows), read from its Delta log on threads while the
        # manifest is read: 20 ms a table read one after another (2026-12-07).
        # This run's own appends need no statistics: a content it appended is in self.ingested (a duplicate).
        with ThreadPoolExecutor(max_workers=len(FILE_KINDS)) as pool:
            self._file_stats = {k.kind: pool.submit(table_stats.file_stats, k.table, cfg) for k in FILE_KINDS}
            self._load_manifest()

    def _load_manifest(self) -> None:
        rows = self._manifest(ingested_files.TABLE, ["source_path", "sha256", "status", "landing_path"])
        rejected = self._manifest(rejected_files.TABLE, ["source_path", "sha256"])
        self.seen: set[tuple[str, str]] = {(r["source_path"], r["sha256"]) for r in rows}
        self.seen |= {(r["source_path"], r["sha256"]) for r in rejected}
        self.ingested: dict[str, str] = {r["sha256"]: r["landing_path"] for r in rows if r["status"] == "ingested"}

    def _manifest(self, spec, columns: list[str]) -> list[dict]:
        """A manifest's rows, read from its Delta log and files where this process can (no engine request: the
        two took 15-55 ms at the start of a run, 2026-12-07), else through the engine."""
        try:
            return storage.read_delta(self._locations[spec.name], columns=columns).to_pylist()
        except Exception:  # noqa: BLE001 - e.g. a storage scheme this deltalake build lacks: the engine reads it
            return [row.asDict() for row in catalog.read(self.spark, spec).select(*columns).collect()]

    def _committed_rows(self, kind: RawFileKind, sha: str) -> int:
        """Rows of this content already in the bronze table (an interrupted run committed them, then died)."""
        return table_stats.rows_with_value(self.spark, kind.table, self.cfg, "_source_sha256", sha,
                                           actions=self._file_stats[kind.kind].result())

    def ingest_file(self, path: Path, signature: Signature | None = None) -> FileOutcome:
        """One delivery entry. ``signature``: its settled ``lstat`` (None: it changed during the settle window).
        The entry's own path is reported, never a link's target; nothing but a checked regular file is read."""
        source_path = os.path.abspath(path)  # not resolve(): a link must not put its target's name anywhere
        if temporary_name(path.name):
            return FileOutcome(source_path, "waiting", reason="temporary name (still being written?)")
        if signature is None:
            return FileOutcome(source_path, "waiting", reason="size or modification time changed during the "
                                                             "settle window (still being written?)")
        try:
            check_entry(path, os.lstat(path), self.cfg.max_file_bytes)
        except RejectedFile as exc:
            return self._reject_unread(path, source_path, signature, str(exc))
        try:
            with opened(path, signature) as readable:
                return self._ingest_regular(path, readable, source_path, signature.size)
        except NotReady as exc:
            return FileOutcome(source_path, "waiting", reason=f"{exc} (still being written?)")
        except RejectedFile as exc:  # could not be opened as the regular file it was
            return self._reject_unread(path, source_path, signature, str(exc))

    def _ingest_regular(self, path: Path, readable: Path, source_path: str, size: int) -> FileOutcome:
        sha = storage.sha256_file(readable)
        if (source_path, sha) in self.seen:
            return FileOutcome(source_path, "skipped", sha256=sha)
        try:
            kind = classify(path.name)
            inspect_bytes(readable, kind)
        except RejectedFile as exc:
            return self._reject(readable, path, source_path, sha, size, str(exc))

        if sha in self.ingested:
            self._record(kind, path, source_path, sha, size, rows=0, status="duplicate",
                         landing=None, duplicate_of=self.ingested[sha])
            return FileOutcome(source_path, "duplicate", kind.kind, sha256=sha)

        recovered = self._committed_rows(kind, sha)
        if recovered:
            rows = recovered
            landing = catalog.read(self.spark, kind.table).where(F.col("_source_sha256") == sha) \
                .select("_source_file").first()["_source_file"]
            self._record(kind, path, source_path, sha, size, rows=rows, status="ingested", landing=landing)
            return FileOutcome(source_path, "recovered", kind.kind, rows_added=rows, landing_path=landing,
                               sha256=sha)

        ingested_at = self.now()
        landing = self._land(readable, path.name, sha, ingested_at)
        try:
            rows = self._append_rows(kind, landing, sha, ingested_at)
        except RejectedFile as exc:
            return self._reject(readable, path, source_path, sha, size, str(exc))
        self._record(kind, path, source_path, sha, size, rows=rows, status="ingested", landing=landing)
        return FileOutcome(source_path, "ingested", kind.kind, rows_added=rows, landing_path=landing, sha256=sha)

    def _land(self, readable: Path, file_name: str, sha: str, at: datetime) -> str:
        folder = self.cfg.path("landing", f"date={at:%Y-%m-%d}", f"hour={at:%H}")
        name = _SAFE_NAME.sub("_", file_name)  # only the base name, sanitised: nothing escapes the lake
        dest = f"{folder}/{name}"
        if storage.exists(dest):  # same name, other content, same hour: keep both
            stem, dot, ext = name.rpartition(".")
            dest = f"{folder}/{stem}.{sha[:12]}{dot}{ext}"
        storage.copy_into(readable, dest)
        return dest

    def _append_rows(self, kind: RawFileKind, landing: str, sha: str, at: datetime) -> int:
        raw = read_raw(self.spark, landing, kind)
        overlong = raw.where(F.col(_EXTRA_FIELD).isNotNull())
        longest = F.greatest(*[F.coalesce(F.length(F.col(f"`{c}`")), F.lit(0)) for c in kind.columns])
        too_long = longest > F.lit(self.cfg.max_field_chars)
        try:
            # One scan counts the rows and finds both kinds of bad row; telling them apart is only paid for a
            # bad file.
            scanned = scan(raw, F.col(_EXTRA_FIELD).isNotNull() | too_long)
            count, bad_rows = scanned["rows"], scanned["bad_rows"]
        except Exception as exc:  # noqa: BLE001 - the engine's CSV error says which line is malformed
            message = _engine_message(exc)
            counts = re.search(r"line (\d+), expected \d+ got (\d+)", message)
            if counts:  # the engine counts our sentinel column: say it in the delivered file's terms
                raise RejectedFile(
                    f"line {counts[1]} has {counts[2]} fields: more fields than the {len(kind.columns)}-column header"
                ) from None
            raise RejectedFile(f"malformed CSV: {message}") from None
        numbered = number_rows(raw, scanned["partitions"])
        if bad_rows and not overlong.limit(1).count():
            first = [r["_row_number"] for r in numbered.where(too_long).select("_row_number")
                     .orderBy("_row_number").limit(5).collect()]
            raise RejectedFile(
                f"field longer than {self.cfg.max_field_chars} characters (QLAKE_MAX_FIELD_CHARS) "
                f"at data rows {first}"
            )
        if bad_rows:
            where = numbered.where(F.col(_EXTRA_FIELD).isNotNull())
            first = [r["_row_number"] for r in where.select("_row_number").orderBy("_row_number").limit(5).collect()]
            raise RejectedFile(
                f"{where.count()} row(s) have more fields than the {len(kind.columns)}-column header "
                f"(first at data rows {first})"
            )
        rows = with_lineage(numbered, kind, landing_path=landing, sha256=sha, batch_id=self.batch_id,
                            ingested_at=at)
        catalog.append(self.spark, rows, kind.table, self.cfg)
        return count  # every parsed row is appended (counted in the scan above); the landed file does not change

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
        self._pending[ingested_files.TABLE.name].append(row)
        self.seen.add((source_path, sha))
        if status == "ingested":
            self.ingested[sha] = landing or ""

    def _reject_unread(self, path: Path, source_path: str, signature: Signature, reason: str) -> FileOutcome:
        """Reject an entry that must not be read (a link, a pipe, a device, a hard link, too large): nothing of
        it is copied, and its "hash" identifies the entry (path + lstat), not content that was never read."""
        marker = unread_marker(source_path, signature)
        if (source_path, marker) in self.seen:
            return FileOutcome(source_path, "skipped", sha256=marker)
        return self._reject(None, path, source_path, marker, signature.size, reason)

    def _reject(self, readable: Path | None, path: Path, source_path: str, sha: str, size: int,
                reason: str) -> FileOutcome:
        at = self.now()
        dest = ""  # nothing copied for an entry that was not read
        if readable is not None:
            dest = self.cfg.path("quarantine", f"date={at:%Y-%m-%d}", f"{sha[:12]}_{_SAFE_NAME.sub('_', path.name)}")
            storage.copy_into(readable, dest)
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
        self._pending[rejected_files.TABLE.name].append(row)
        self.seen.add((source_path, sha))
        return FileOutcome(source_path, "rejected", reason=reason, sha256=sha)

    def flush(self) -> None:
        """Write the manifest rows of the files handled since the last flush: one commit per manifest table."""
        for spec in (ingested_files.TABLE, rejected_files.TABLE):
            rows, self._pending[spec.name] = self._pending[spec.name], []
            ops.append_rows(self.spark, self.cfg, spec, rows)


def _engine_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def ingest(spark: SparkSession, cfg: Settings, paths: Iterable[str | Path], *,
           on_file: Callable[[FileOutcome], None] | None = None, batch_id: str | None = None) -> IngestReport:
    """Ingest files and folders; never raises for a bad file (it is rejected and reported instead)."""
    ingestor = Ingestor(spark, cfg, batch_id)
    try:
        return _ingest_with(ingestor, discover(paths), on_file)
    finally:
        ingestor.flush()  # what was handled before a failure is recorded as it would have been file by file


def ingest_groups(spark: SparkSession, cfg: Settings, groups: list[list[Path]], *,
                  on_file: Callable[[FileOutcome], None] | None = None,
                  on_group: Callable[[IngestReport], None] | None = None) -> list[IngestReport]:
    """Several delivery groups in delivery order (a backfill), each its own batch (id and delivery times) and
    report (``on_group`` as each ends), with one read of the manifests and one commit to them for all."""
    ingestor = Ingestor(spark, cfg)
    reports: list[IngestReport] = []
    try:
        for group in groups:
            ingestor.batch_id = new_batch_id(ingestor.now())
            reports.append(_ingest_with(ingestor, discover(group), on_file))
            if on_group:
                on_group(reports[-1])
    finally:
        ingestor.flush()
    return reports


def _ingest_with(ingestor: Ingestor, files: list[Path], on_file: Callable[[FileOutcome], None] | None
                 ) -> IngestReport:
    settled = wait_until_settled(files, ingestor.cfg.settle_seconds)
    report = IngestReport(ingestor.batch_id, warnings=incomplete_groups(files))
    for path in files:
        outcome = ingestor.ingest_file(path, settled[path])
        report.files.append(outcome)
        if on_file:
            on_file(outcome)
    return report


def watch(spark: SparkSession, cfg: Settings, folder: str | Path, *, interval: float = 30.0,
          settle_seconds: float = 5.0, once: bool = False,
          on_file: Callable[[FileOutcome], None] | None = None,
          should_stop: Callable[[], bool] = lambda: False) -> list[IngestReport]:
    """Poll a drop folder; ingest entries whose ``lstat`` (size, time, inode) has not changed for
    ``settle_seconds``. A file still being written is left for the next poll; known files are skipped by the
    manifest; links, pipes and devices are rejected by :meth:`Ingestor.ingest_file` without being read."""
    reports: list[IngestReport] = []
    seen: dict[Path, Signature] = {}
    while not should_stop():
        ready: list[Path] = []
        now = time.time()
        for path in discover([folder]):
            try:
                signature = Signature.of(os.lstat(path))
            except FileNotFoundError:
                continue
            settled = now - signature.mtime_ns / 1e9 >= settle_seconds and seen.get(path, signature) == signature
            seen[path] = signature
            if settled:
                ready.append(path)
        if ready:
            reports.append(ingest(spark, cfg, ready, on_file=on_file))
        if once:
            break
        time.sleep(interval)
    return reports
