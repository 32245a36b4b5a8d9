"""File operations on the lake root, local or ``hdfs://`` (through ``pyarrow.fs``), plus content hashing.

Copies are atomic: written under a temporary name, then renamed, so a crash never leaves a half file that looks
complete.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

CHUNK = 8 * 1024 * 1024


def _fs(uri: str) -> tuple[pafs.FileSystem, str]:
    if "://" in uri:
        return pafs.FileSystem.from_uri(uri)
    return pafs.LocalFileSystem(), str(Path(uri).resolve())


def exists(uri: str) -> bool:
    fs, path = _fs(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def remove_dir(uri: str) -> None:
    """Delete a folder and everything in it (nothing if it is not there)."""
    if "://" not in uri:
        shutil.rmtree(uri, ignore_errors=True)
        return
    fs, path = _fs(uri)
    fs.delete_dir_contents(path, missing_dir_ok=True)


# Files qlake writes into the lake (landing, quarantine, exports) are data, never programs, and never writable
# by other users, whatever the umask or the delivered file's own mode bits.
FILE_MODE = 0o640
DIR_MODE = 0o750


def make_dirs(path: str | Path) -> None:
    """Create a local folder and its missing parents, each with :data:`DIR_MODE` (whatever the umask)."""
    missing = []
    folder = Path(path)
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:  # created meanwhile by a concurrent writer
            continue
        os.chmod(folder, DIR_MODE)


def copy_into(local_file: str | Path, dest_uri: str) -> None:
    """Copy a local file to ``dest_uri`` (local or remote) atomically; a local copy gets :data:`FILE_MODE`."""
    fs, dest = _fs(dest_uri)
    parent = dest.rsplit("/", 1)[0]
    if isinstance(fs, pafs.LocalFileSystem):
        make_dirs(parent)
    else:
        fs.create_dir(parent, recursive=True)
    tmp = f"{parent}/.{uuid.uuid4().hex}.tmp"
    with open(local_file, "rb") as src, fs.open_output_stream(tmp) as out:
        while chunk := src.read(CHUNK):
            out.write(chunk)
    if isinstance(fs, pafs.LocalFileSystem):
        os.chmod(tmp, FILE_MODE)
    fs.move(tmp, dest)


def write_text_atomic(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write a local file under a temp name and rename it into place (readers never see half a file)."""
    path = Path(path)
    make_dirs(path.parent)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    with open(tmp, "w", encoding=encoding, newline="") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, FILE_MODE)
    os.replace(tmp, path)


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_delta(table, columns: list[str] | None = None, filter=None) -> pa.Table:
    """Rows of a Delta table (a ``deltalake.DeltaTable`` or its location) as Arrow, read on the calling thread.

    A table of the plain protocol (reader version 1: no deletion vectors, no column mapping) and no partitions is
    its data files as they are: they are read with Parquet alone, cast to the table's schema. ``pyarrow.dataset``
    (for a ``filter``, or any other table) costs 0.18 s to import, which a run's check for new work paid before
    anything else (2026-12-07); reading the run log and the manifest this way takes ~12 ms.

    Arrow's scanner threads outlive a short process and abort it at interpreter exit ("terminate called without
    an active exception", delta-io/delta-rs#2184, apache/arrow#34314): measured 3/20 runs of a bare
    ``to_pyarrow_table()`` and 13/20 with pyarrow imported first, 0/30 with ``use_threads=False``. The tables the
    CLI reads this way are small (run log, manifests, lineage lookups), so one thread costs nothing.
    """
    if not isinstance(table, DeltaTable):
        table = DeltaTable(str(table))
    if filter is None and table.protocol().min_reader_version == 1 and not table.metadata().partition_columns:
        return _read_data_files(table, columns)
    return table.to_pyarrow_dataset().to_table(columns=columns, filter=filter, use_threads=False)


def _read_data_files(table: DeltaTable, columns: list[str] | None) -> pa.Table:
    schema = pa.schema(table.schema().to_arrow())
    if columns is not None:
        schema = pa.schema([schema.field(name) for name in columns])
    parts = []
    for uri in table.file_uris():
        fs, path = _fs(uri)
        with fs.open_input_file(path) as f:
            data = pq.ParquetFile(f)
            present = [name for name in schema.names if name in data.schema_arrow.names]
            part = data.read(columns=present, use_threads=False)
        for name in schema.names:  # a column the table gained after this file was written
            if name not in present:
                part = part.append_column(schema.field(name), pa.nulls(part.num_rows, schema.field(name).type))
        part = part.select(schema.names)
        # Cast only when the file's types differ (the cast imports pyarrow.compute and pandas: 0.15 s).
        parts.append(part if part.schema.equals(schema) else part.cast(schema))
    return pa.concat_tables(parts) if parts else schema.empty_table()


_COMMIT = re.compile(r"^(\d{20})\.json$")


def latest_version(location: str) -> int | None:
    """The table's latest Delta version (None: no table there). On a local lake, the highest commit file in its
    log folder, by the Delta protocol's naming (a commit appears whole or not at all): a listing, where opening
    the table replays its log (~7 ms of CPU a table; a run reads every table's version twice)."""
    if "://" not in location:
        try:
            versions = [int(m.group(1)) for entry in os.scandir(Path(location, "_delta_log"))
                        if (m := _COMMIT.match(entry.name))]
        except FileNotFoundError:
            return None
        return max(versions, default=None)
    try:  # pragma: no cover - cluster storage
        return DeltaTable(location).version()
    except TableNotFoundError:
        return None


def table_state(location: str) -> tuple[str, int] | None:
    """(table id, version): which Delta table is at ``location`` (its id is new when a table is rebuilt there) and
    at which version; None when there is none. Opens the table (its log from the last checkpoint)."""
    try:
        table = DeltaTable(location)
    except TableNotFoundError:
        return None
    return table.metadata().id, table.version()


def file_actions(table) -> pa.Table:
    """The data files of a Delta table (a ``deltalake.DeltaTable`` or its location) with their statistics, from
    its log; raises ``TableNotFoundError`` when there is no table there."""
    if not isinstance(table, DeltaTable):
        table = DeltaTable(str(table))
    return pa.table(table.get_add_actions(flatten=True))  # deltalake hands out an arro3 table


def logged_rows(location: str) -> int | None:
    """Rows in the table's current snapshot, summed from its log's file statistics; None when there is no table
    there, a file has no row count, or this process cannot read the log's storage."""
    try:
        actions = file_actions(location)
    except Exception:  # noqa: BLE001 - e.g. a storage scheme this deltalake build lacks: the caller decides
        return None
    if not actions.num_rows:
        return 0
    counts = actions.column("num_records").to_pylist() if "num_records" in actions.column_names else [None]
    return None if None in counts else sum(counts)


# Commits that rewrite or delete files without changing the rows (compaction, vacuum).
_ROWS_KEPT = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})


def rows_unchanged_between(location: str, version: int, later: int) -> bool:
    """Did every commit after ``version`` up to ``later`` keep the table's rows (compactions, vacuums)?"""
    if later <= version:
        return later == version
    commits = DeltaTable(location).history(limit=later - version + 1)
    kept = {c["version"] for c in commits if version < c["version"] <= later and c.get("operation") in _ROWS_KEPT}
    return kept == set(range(version + 1, later + 1))
