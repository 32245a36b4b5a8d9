"""The drop folder is a trust boundary: what a delivered file must be before one byte of it is read.

Whoever can drop a file must not be able to make qlake read or copy anything else. So, per entry of the
delivery folder, before any open:

- only a **regular file** is read: a symbolic link (to anywhere), a named pipe, a socket or a device is rejected
  by ``lstat`` — its target is never opened, read or copied, and the reason names the delivery path only; a
  file with more than one hard link is rejected too (it may be another file of this machine under a new name);
- the file is then opened with ``O_NOFOLLOW | O_NONBLOCK`` and checked to be the very inode that was inspected,
  and every later read (hash, checks, landing copy) goes through that open descriptor, so swapping the path for
  a link in between changes nothing;
- a file **still being written** is left for the next run, not rejected: a temporary name (``.tmp``, ``.part``,
  ``.crdownload``, ``.partial``, ``.swp``, or a leading ``.``), or a size/modification time that changed during
  the settle window (``QLAKE_SETTLE_SECONDS``) or while it was read. Senders write under a temporary name, then
  rename: a rename is atomic, so the file appears complete;
- the **name** follows one pattern, :data:`NAME_RULE`; anything else (spaces, accents, other kinds) is rejected
  with that rule in the message;
- the **bytes**: at most ``QLAKE_MAX_FILE_BYTES``; UTF-8 with or without a byte-order mark; a UTF-16/UTF-32
  byte-order mark is named as such and the file rejected (re-export as UTF-8); no NUL bytes; a header that is
  the kind's layout and at least one data row. Field lengths (``QLAKE_MAX_FIELD_CHARS``) are checked when the
  engine parses the file.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import os
import re
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from bronze import branches, sales_agents, sales_transactions
from bronze.raw_files import LABEL_CHARS, RawFileKind
from qlake import storage

FILE_KINDS: tuple[RawFileKind, ...] = (branches.KIND, sales_agents.KIND, sales_transactions.KIND)
NAME_RULE = (f"<kind>_<label>.csv with <kind> one of {', '.join(k.kind for k in FILE_KINDS)} and <label> made of "
             "ASCII letters, digits, '_', '-' or '.' (no spaces, accents or other characters; case-insensitive)")
TEMPORARY_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial", ".swp")
# Byte-order marks of encodings qlake does not read; the longer marks first (UTF-32 LE starts like UTF-16 LE).
FOREIGN_BOMS = ((b"\xff\xfe\x00\x00", "UTF-32 LE"), (b"\x00\x00\xfe\xff", "UTF-32 BE"),
                (b"\xff\xfe", "UTF-16 LE"), (b"\xfe\xff", "UTF-16 BE"))


class RejectedFile(Exception):
    """The file cannot be ingested; the message is the reason shown to users and stored in rejected_files."""


class NotReady(Exception):
    """The file is (probably) still being written: left for the next run, not rejected."""


@dataclass(frozen=True)
class Signature:
    """What ``lstat`` says of a delivery entry: enough to see it change or be swapped."""

    mode: int
    size: int
    mtime_ns: int
    inode: tuple[int, int]
    links: int

    @classmethod
    def of(cls, st: os.stat_result) -> "Signature":
        return cls(st.st_mode, st.st_size, st.st_mtime_ns, (st.st_dev, st.st_ino), st.st_nlink)


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Delivery entries to look at: given paths as they are, folders walked without following links, in
    natural name order (hour groups in order). Every non-folder entry is returned — links, pipes and
    temporary files included — so each gets an answer; none is opened here."""
    found: list[Path] = []
    for raw in paths:
        path = Path(os.path.abspath(raw))
        if os.path.isdir(path) and not os.path.islink(path):
            found.extend(sorted(_walk(path), key=natural_key))
        elif os.path.lexists(path):
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")
    return found


def _walk(folder: Path) -> Iterator[Path]:
    for entry in os.scandir(folder):
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        else:
            yield Path(entry.path)


def delivery_groups(path: str | Path) -> list[list[Path]]:
    """The delivery groups pending in a drop folder, oldest first: the files of each folder (an hourly group)
    together, folders in natural name order (group9 before group10; files directly in ``path`` first)."""
    by_folder: dict[Path, list[Path]] = {}
    for file in discover([path]):
        by_folder.setdefault(file.parent, []).append(file)
    return [by_folder[folder] for folder in sorted(by_folder, key=natural_key)]


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


def natural_key(path: Path) -> list:
    """group10 sorts after group9."""
    return [int(tok) if tok.isdigit() else tok for tok in re.split(r"(\d+)", str(path))]


def temporary_name(name: str) -> bool:
    return name.startswith(".") or name.lower().endswith(TEMPORARY_SUFFIXES)


def check_entry(path: Path, st: os.stat_result, max_file_bytes: int) -> None:
    """Reject what is not a plain, single-linked regular file within the size limit (from ``lstat`` alone)."""
    kind = _entry_kind(st.st_mode)
    if kind:
        raise RejectedFile(f"not a regular file: {kind}; only regular files are read (nothing of it was read "
                           "or copied)")
    if st.st_nlink > 1:
        raise RejectedFile(f"hard-linked file ({st.st_nlink} links): deliver a file of its own, not a link to "
                           "another file (nothing of it was read or copied)")
    if st.st_size > max_file_bytes:
        raise RejectedFile(f"file too large: {st.st_size} bytes, over the limit of {max_file_bytes} bytes "
                           "(QLAKE_MAX_FILE_BYTES)")


def _entry_kind(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are never followed)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a file"


def wait_until_settled(entries: list[Path], settle_seconds: float) -> dict[Path, Signature | None]:
    """``lstat`` every entry, wait ``settle_seconds`` once, ``lstat`` again: an entry whose size or time changed
    is still being written (None). One wait per run, however many files, and none when every file was last
    modified longer ago than the window (the usual hour: files delivered minutes before the run)."""
    first = {p: _lstat(p) for p in entries}
    recent = time.time_ns() - int(settle_seconds * 1e9)
    if settle_seconds > 0 and any(s and stat.S_ISREG(s.mode) and s.mtime_ns >= recent for s in first.values()):
        time.sleep(settle_seconds)
    settled: dict[Path, Signature | None] = {}
    for path, before in first.items():
        after = _lstat(path)
        settled[path] = after if before == after else None
    return settled


def _lstat(path: Path) -> Signature | None:
    try:
        return Signature.of(os.lstat(path))
    except FileNotFoundError:
        return None


@contextmanager
def opened(path: Path, expected: Signature):
    """The delivered file opened without following links and checked to be the inode that was inspected; yields
    a path that reads that open file (``/proc/self/fd/N`` on Linux), so the path itself is never read again."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise RejectedFile(f"cannot be opened as a regular file ({exc.strerror})") from None
    try:
        if Signature.of(os.fstat(fd)) != expected:
            raise NotReady("changed between its inspection and its opening")
        proc_path = Path(f"/proc/self/fd/{fd}")
        yield proc_path if proc_path.exists() else path
        if Signature.of(os.fstat(fd)) != expected:
            raise NotReady("changed while it was read")
    finally:
        os.close(fd)


def unread_marker(source_path: str, signature: Signature) -> str:
    """The manifest's "content hash" of an entry rejected unread: its path and inode, never its content."""
    return hashlib.sha256(f"unread:{source_path}:{signature.inode}:{signature.mtime_ns}".encode()).hexdigest()


def manifest_key(path: Path, max_file_bytes: int) -> tuple[str, str] | None:
    """The (source path, content hash) under which the manifests would hold this delivery entry, read with the
    same care as ``bronze.ingest.Ingestor.ingest_file``; None for an entry that would be left for the next
    run."""
    source_path = os.path.abspath(path)
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if temporary_name(path.name):
        return None
    signature = Signature.of(st)
    try:
        check_entry(path, st, max_file_bytes)
        with opened(path, signature) as readable:
            return source_path, storage.sha256_file(readable)
    except RejectedFile:
        return source_path, unread_marker(source_path, signature)
    except NotReady:
        return None


def classify(file_name: str) -> RawFileKind:
    for kind in FILE_KINDS:
        if kind.matches(file_name):
            return kind
    near = next((k for k in FILE_KINDS if file_name.lower().startswith(f"{k.kind}_")), None)
    if near and file_name.lower().endswith(".csv"):
        label = file_name[len(near.kind) + 1:-4]
        bad = sorted({c for c in label if c not in LABEL_CHARS})
        raise RejectedFile(f"unknown file name: its label has characters outside the pattern ({bad!r}); "
                           f"file names must be {NAME_RULE}")
    raise RejectedFile(f"unknown file name: file names must be {NAME_RULE}")


def inspect_bytes(path: Path, kind: RawFileKind) -> None:
    """Reject files that are empty, in another encoding, binary, not UTF-8, header-less or with a header that is
    not ``kind``'s. Streams the file in chunks (bounded memory for multi-GB deliveries)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line_no, head = 0, 1, ""
    with open(path, "rb") as f:
        first = f.read(4)
        if not first:
            raise RejectedFile("empty file (0 bytes)")
        for bom, encoding in FOREIGN_BOMS:
            if first.startswith(bom):
                raise RejectedFile(f"{encoding} text (byte-order mark {bom.hex(' ').upper()}): qlake reads UTF-8 "
                                   "only; re-export the file as UTF-8")
        f.seek(0)
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
