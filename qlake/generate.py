"""Deterministic generator of hourly delivery groups shaped like the real sample in ``shared/data/raw``.

Each group is a folder ``group{N}/`` with three CRLF files whose headers, field order and quoting match the real
deliveries byte for byte (typos included: ``cusomter_lname``, ``cusomter_email``):

- ``branches_SS_raw_{N}.csv``: group 1 lists branches 1..5, every later group re-lists them and adds one
  (group 2 adds branch 6, ...). ``establish_date`` is zero-padded (``2017-01-15``), class ``A``..``D``.
- ``sales_agents_SS_raw_{N}.csv``: group 1 lists agents 1..10, every later group adds one (group 2 adds
  agent 11). ``hire_date`` is unpadded (``2020-6-3``).
- ``sales_transactions_SS_raw_{N}.csv``: ``rows`` sales, about a third of them online.

Every kind of dirt the real sample files carry (the README's data-quality rules) is produced, so the pipeline is
exercised on all of it at any scale, from values generated here rather than copied from the sample (only the
product catalog is the sample's):

- dates without zero padding (``2022-2-5``), spread over 2022-01-01..2023-12-31;
- agents' ``hire_date`` drifts: from group 2 on, one or two of group 1's agents carry a different hire date;
- emails with junk after the domain (23 variants: ``;`` ``*`` ``$u`` ``)x`` ``[`` ``^`` ``:`` ``%x`` ``#4r``
  ``]x`` ``}4`` ``m``, a trailing space, ...), including a trailing double quote that the csv module writes
  as a quoted field ending in a doubled quote (``"first.last@gmail.com""`` + closing quote), like the sample;
- name drift: a customer id keeps one name/email within a group but gets a fresh one in each group;
- offers are ``True`` or empty, at most one per sale; ``is_online`` is ``yes``/``no``;
- offline rows have 20 fields (no shipping_address field at all), online rows 21 with empty agent/branch;
- shipping addresses ``street/city/state/postal_code`` whose street may contain ``/`` (``421 1/2 Oak Street``),
  whose postal code may have a leading zero (``02143``), and ~1 % of online rows with an EMPTY city: most of
  them use a postal code that appears elsewhere with a city (a cleaner can fill it), some use a postal code
  that never appears with a city (a cleaner must leave it empty);
- product names that are not unique across ids (``Boots`` 9/18, ``Sandals`` 10/19);
- varied payment methods (``Cash``/``Credit Card`` offline, ``Credit Card``/``PayPal``/``Stripe`` online);
- with ``redeliver=True`` and three or more groups, the last group is a byte-identical re-delivery of the first
  (same content, files renamed with the last group's number), exactly as sample group 3 re-delivers group 1.

Determinism: everything comes from ``random.Random`` instances seeded with strings built from ``(seed, what,
group)`` (string seeds are hashed with SHA-512, independent of ``PYTHONHASHSEED``), never from global random or
the clock. A group's content depends only on ``(seed, group number, rows)``, so ``start_group`` can generate
hour 24 alone and get the same bytes as a run that generated groups 1..24. Transaction ids are a keyed bijection
of ``(group, row)`` onto 12 digits, so they are unique across all groups (a re-delivery repeats its original's).

The reference data (catalog, name and city pools, shares) is in :mod:`qlake.generate_reference`, the rows in
:mod:`qlake.generate_rows`; this module writes the files.

Scale: rows are produced lazily and streamed to the csv writer, so memory stays bounded for millions of rows.
"""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import Iterable, Sequence

from qlake.generate_reference import MAX_GROUP, MAX_ROWS
from qlake.generate_rows import agent_rows, branch_rows, transaction_rows

# --- file layout ---------------------------------------------------------------------------------------------

BRANCH_HEADER = ("branch_id", "location", "establish_date", "class")
AGENT_HEADER = ("sales_person_id", "name", "hire_date")
TRANSACTION_HEADER = (
    "transaction_date", "transaction_id", "customer_id", "customer_fname", "cusomter_lname", "cusomter_email",
    "sales_agent_id", "branch_id", "product_id", "product_name", "product_category",
    "offer_1", "offer_2", "offer_3", "offer_4", "offer_5",
    "units", "unit_price", "is_online", "payment_method", "shipping_address",
)  # fmt: skip
LINE_END = "\r\n"


def branch_file(group: int) -> str:
    return f"branches_SS_raw_{group}.csv"


def agent_file(group: int) -> str:
    return f"sales_agents_SS_raw_{group}.csv"


def transaction_file(group: int) -> str:
    return f"sales_transactions_SS_raw_{group}.csv"


# --- files ---------------------------------------------------------------------------------------------------


def _write_csv(path: Path, header: tuple[str, ...], rows: Iterable[Sequence[str]]) -> None:
    """Write a CRLF, minimally quoted CSV (a '"' inside a value is doubled); ``rows`` is consumed lazily."""
    with path.open("w", encoding="utf-8", newline="", buffering=1 << 20) as handle:
        writer = csv.writer(handle, lineterminator=LINE_END, quoting=csv.QUOTE_MINIMAL)
        writer.writerow(header)
        writer.writerows(rows)


def write_group(folder: Path, group: int, rows: int, seed: int) -> Path:
    """Generate one group's three files into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    _write_csv(folder / branch_file(group), BRANCH_HEADER, branch_rows(seed, group))
    _write_csv(folder / agent_file(group), AGENT_HEADER, agent_rows(seed, group))
    _write_csv(folder / transaction_file(group), TRANSACTION_HEADER, transaction_rows(seed, group, rows))
    return folder


def redeliver_group(original: Path, original_group: int, folder: Path, group: int) -> Path:
    """Copy a delivered group byte for byte under the next group's number (an upstream re-delivery)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in (branch_file, agent_file, transaction_file):
        shutil.copyfile(original / name(original_group), folder / name(group))
    return folder


def _check_arguments(groups: int, rows: int, start_group: int) -> None:
    if groups < 0 or rows < 0:
        raise ValueError(f"groups and rows must be >= 0, got groups={groups} rows={rows}")
    if rows > MAX_ROWS:
        raise ValueError(f"rows={rows} exceeds {MAX_ROWS} per group (transaction ids would collide)")
    if start_group < 1 or start_group + groups - 1 > MAX_GROUP:
        raise ValueError(f"group numbers must be within 1..{MAX_GROUP}")


def generate(
    out_dir: str | Path,
    groups: int = 3,
    rows: int = 1500,
    seed: int = 42,
    redeliver: bool = True,
    start_group: int = 1,
) -> list[Path]:
    """Write group folders out_dir/group{N}/ with branches_SS_raw_{N}.csv, sales_agents_SS_raw_{N}.csv,
    sales_transactions_SS_raw_{N}.csv; return the group folder paths in order.

    Groups are numbered ``start_group .. start_group + groups - 1``. With ``redeliver`` and ``groups >= 3`` the
    last one is a byte-identical copy of the first one of this call (group 1 by default), renamed.
    """
    _check_arguments(groups, rows, start_group)
    out = Path(out_dir)
    numbers = list(range(start_group, start_group + groups))
    repeat_first = redeliver and groups >= 3
    folders = []
    for group in numbers:
        folder = out / f"group{group}"
        if repeat_first and group == numbers[-1]:
            redeliver_group(out / f"group{start_group}", start_group, folder, group)
        else:
            write_group(folder, group, rows, seed)
        folders.append(folder)
    return folders
